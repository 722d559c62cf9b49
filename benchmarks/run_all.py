"""The whole benchmark suite in one command: `benchmarks/RESULTS.md` and `benchmarks/RESULTS.json`.

Runs every benchmark (each writes its own `results/<name>.json` and `.md`), then gathers them with
the machine, the library versions and the date. Benchmarks that need `../shared/data` are skipped
with the reason when it is absent. `--only-collect` rebuilds RESULTS.md from the results already
there (each section keeps the date and the command that produced it).

Run: python -m benchmarks.run_all [--sizes 10000 100000 1000000] [--only-collect]
(`make bench` runs it with the default sizes, 10k and 100k, both profiles: several hours on 2 cores.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime

from benchmarks.common import RESULTS, ROOT, machine_info

SHARED = ROOT.parent / "shared" / "data"
# (name of results/<name>.json, module, arguments, needs ../shared/data)
SUITE = [
    ("scale", "benchmarks.bench_scale", ["--profiles", "default", "fast"], False),
    ("floor", "benchmarks.bench_floor", [], False),  # needs scale's 10k copy
    ("stages", "benchmarks.bench_stages", ["--times", "10"], False),  # needs scale's 100k copy
    ("memory", "benchmarks.bench_memory", ["--rows", "1000000"], False),
    ("classify", "benchmarks.bench_classify", [], True),
    ("expert", "benchmarks.bench_expert", [], True),
    ("embed", "benchmarks.bench_embed", [], True),
    ("topics", "benchmarks.bench_topics", [], True),
    ("cli", "benchmarks.bench_cli", [], True),
    ("ingest", "benchmarks.bench_ingest", ["--rows", "1000000"], False),
    ("alerts", "benchmarks.bench_alerts", [], False),
    ("report", "benchmarks.bench_report", ["--rows", "100000"], False),
]


def run_suite(sizes: list[int] | None) -> dict[str, str]:
    """Run each benchmark in its own process; what happened to each."""
    status = {}
    for name, module, args, needs_shared in SUITE:
        if needs_shared and not SHARED.exists():
            status[name] = f"skipped: {SHARED} is absent"
            continue
        if name == "scale" and sizes:
            args = [*args, "--sizes", *map(str, sizes)]
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT)
        status[name] = f"exit {run.returncode} after {time.perf_counter() - t0:.0f} s"
        print(f"== {name}: {status[name]}", flush=True)
    return status


def collect(status: dict[str, str]) -> None:
    machine = machine_info()
    results, sections = {}, []
    for name, *_ in SUITE:
        json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
        if not json_path.exists():
            sections += [f"## {name}", "", f"No results yet ({status.get(name, 'not run')}).", ""]
            continue
        results[name] = json.loads(json_path.read_text())
        body = md_path.read_text().strip().splitlines()
        if body and body[0].startswith("# "):
            body[0] = "#" + body[0]  # each benchmark's title becomes a section
        sections += [*body, ""]
    date = datetime.now().isoformat(timespec="seconds")
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    header = [
        "# voix benchmark results",
        "",
        f"Gathered {date} by `python -m benchmarks.run_all` on: {machine['cpu']}, {machine['cpus']} CPUs, "
        f"{machine['memory_gb']} GB RAM, GPU: {machine['gpu'] or 'none'}; Python {machine['python']}; {versions}.",
        "",
        "Each section below is one benchmark's own output, with the date and the command that produced it",
        "(`benchmarks/results/<name>.md` and `.json`). This run: "
        + ("; ".join(f"{k} {v}" for k, v in status.items()) if status else "gathered existing results only")
        + ".",
        "",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(header + sections) + "\n")
    (ROOT / "benchmarks" / "RESULTS.json").write_text(
        json.dumps(
            {"date": date, "machine": machine, "status": status, "results": results}, indent=2, ensure_ascii=False
        )
        + "\n"
    )
    print(f"wrote {ROOT / 'benchmarks' / 'RESULTS.md'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", help="sizes of the scale benchmark (default 10000 100000)")
    parser.add_argument("--only-collect", action="store_true", help="gather the existing results, run nothing")
    args = parser.parse_args(argv)
    status = {} if args.only_collect else run_suite(args.sizes)
    collect(status)


if __name__ == "__main__":
    main()

"""Benchmark: the stages from `consolidate` on, at a multiple of a finished scale run (a million verbatims
in minutes of setup, not hours of upstream stages).

`bench_scale` at 1M would take ~3.5 h on 2 cores, most of it in ingest, nlp and embed. This takes a
copy that `bench_scale` finished (default `benchmarks/out/scale_100000`) and builds
`benchmarks/out/stages_<N>x/`, whose stage inputs are that copy's inputs N times over:
`data/interim/verbatims.parquet`, `sentences.parquet`, `lemmas.parquet` and the ingested sources
with their ids (and external ids, near-duplicate links) made unique per copy (`shifted`), and
`embeddings.npy` tiled. Then it runs each stage's command from `dvc.yaml` (the current tree's
`pipeline/`, `params.yaml` and `dvc.yaml`, the copy's trained models) in pipeline order and records
wall time and the peak RSS and PSS of the process tree, as `bench_scale` does.

What it does not measure: the texts repeat N times, so `embed` encodes each distinct text once (a
tenth of what real data of that size would cost at N=10; its matrix is still N times the rows), the
sentence-vector cache of `score` hits for every sentence (no encoding), topic quality means nothing here, and `consolidate` flags ~90 %
of the rows as near-duplicates (real data has ~25 %: more pairs to check here, not fewer). It
measures the memory and the time of the machinery that grows with the number of rows.

Run: python -m benchmarks.bench_stages [--times 10] [--stages score kpis ...] [--source DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from benchmarks.bench_scale import OUT
from benchmarks.common import RESULTS, ROOT, machine_info, run_measured, write_results

STAGES = ["score", "kpis", "topics", "alerts", "irritants", "themes", "effort", "ideas", "report"]
# upstream stages that can be measured too (`--stages consolidate nlp embed train`): consolidate writes
# beside the replicated table (its sort by date would misalign the tiled vectors), nlp rewrites the same
# rows; embed starts from an empty cache of its own (each distinct text encoded once: the texts repeat
# N times) and writes its matrix beside the tiled one; train writes its models beside the copy's
UPSTREAM = ["consolidate", "nlp", "embed", "train"]
REDIRECT = {
    "consolidate": {
        " data/interim/verbatims.parquet": " bench/consolidated.parquet",
        " data/restricted/verbatims_raw.parquet": " bench/consolidated_raw.parquet",
        " data/interim/quarantine.csv": " bench/quarantine.csv",
        " metrics/ingest.json": " bench/ingest.json",
    },
    "embed": {
        " data/interim/embeddings.npy": " bench/embeddings.npy",
        " data/interim/embeddings.json": " bench/embeddings.json",
        " data/interim/embedding_cache": " bench/embedding_cache",
        " models/embedder": " bench/embedder",
    },
    "train": {
        " models/classifiers": " bench/classifiers",
        " metrics/train.json": " bench/train.json",
        " metrics/confusion": " bench/confusion",
    },
}
FRESH = {"embed": ["bench/embedding_cache", "bench/embedder"]}  # removed before the stage runs
REPLICATED = ["data/interim/verbatims.parquet", "data/interim/sentences.parquet", "data/interim/lemmas.parquet"]
REPLICATED_DIRS = ["data/interim/sources", "data/restricted/sources"]  # every source's ingested rows
ID_COLUMNS = ["id", "external_id", "near_duplicate_of"]  # customer ids keep their validated format
SKIP = ("data/raw", "data/restricted/verbatims_raw.parquet", "data/interim/embedding_cache", ".dvc", ".git")


HEX = "0123456789abcdef"


def shifted(value: str | None, k: int) -> str | None:
    """The id of copy `k`: its last hex digit turned k steps (`v_…3` → `v_…5` for k = 2), so it
    keeps the format the schema validates; other ids get a `~k` suffix."""
    if value is None:
        return None
    if value and value[-1] in HEX:
        return value[:-1] + HEX[(HEX.index(value[-1]) + k) % 16]
    return f"{value}~{k}"


def replicate_parquet(source: Path, dest: Path, times: int) -> int:
    """`source` `times` over (at most 16), one row group per copy; copy k > 0 has ids of its own."""
    if times > 16:
        raise SystemExit("at most 16 copies (ids differ by their last hex digit)")
    table = pq.read_table(source)
    with pq.ParquetWriter(dest, table.schema) as writer:
        for k in range(times):
            copy = table
            if k:
                for name in ID_COLUMNS:
                    kind = copy.schema.field(name).type if name in copy.column_names else pa.null()
                    if pa.types.is_string(kind) or pa.types.is_large_string(kind):  # not all-null columns
                        i = copy.column_names.index(name)
                        values = [shifted(v, k) for v in copy.column(i).to_pylist()]
                        copy = copy.set_column(i, copy.field(i), pa.array(values, type=kind))
            writer.write_table(copy)
    return table.num_rows * times


def replicate_vectors(source: Path, dest: Path, times: int) -> tuple[int, int]:
    vectors = np.load(source, mmap_mode="r")
    out = np.lib.format.open_memmap(
        dest, mode="w+", dtype=vectors.dtype, shape=(len(vectors) * times, vectors.shape[1])
    )
    for k in range(times):
        out[k * len(vectors) : (k + 1) * len(vectors)] = vectors
    out.flush()
    return out.shape


def refresh_code(project: Path, source: Path) -> None:
    """The code and settings measured: this tree's, with the sources of the copy (its export)."""
    for rel in ("pipeline", "dvc.yaml"):
        if (project / rel).is_dir():
            shutil.rmtree(project / rel)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, project / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / rel, project / rel)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    copied = yaml.safe_load((source / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["sources"] = copied["ingest"]["sources"]
    (project / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def build_copy(source: Path, times: int) -> Path:
    project = OUT / f"stages_{times}x"
    if project.exists():
        shutil.rmtree(project)
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(str(rel) == s or str(rel).startswith(s + "/") for s in SKIP) or rel.parts[0] == "pipeline":
            continue
        replicated = str(rel) in REPLICATED or str(rel.parent) in REPLICATED_DIRS or rel.name == "embeddings.npy"
        if path.is_file() and not replicated:
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, project / rel)
    refresh_code(project, source)
    for rel in REPLICATED:
        replicate_parquet(source / rel, project / rel, times)
    replicate_vectors(source / "data/interim/embeddings.npy", project / "data/interim/embeddings.npy", times)
    replicate_sources(project, source, times)
    return project


def replicate_sources(project: Path, source: Path, times: int) -> None:
    """The ingested sources (consolidate's inputs), those not replicated yet."""
    for rel in REPLICATED_DIRS:
        (project / rel).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / rel).glob("*.parquet")):
            if not (project / rel / path.name).exists():
                replicate_parquet(path, project / rel / path.name, times)
    (project / "bench").mkdir(exist_ok=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--stages", nargs="+", default=UPSTREAM + STAGES, choices=UPSTREAM + STAGES)
    parser.add_argument("--source", type=Path, default=OUT / "scale_100000")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite results/stages.md from its JSON")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the replicated copy already built (refresh only the code)"
    )
    args = parser.parse_args(argv)
    if args.markdown_only:
        report = json.loads((RESULTS / "stages.json").read_text())
        write_results("stages", report, markdown(report))
        return report
    if not (args.source / "data/processed/verbatims.parquet").exists():
        raise SystemExit(f"{args.source} is not a finished scale run: python -m benchmarks.bench_scale first")
    project = OUT / f"stages_{args.times}x"
    if args.reuse and (project / "data/interim/embeddings.npy").exists():
        refresh_code(project, args.source)
        replicate_sources(project, args.source, args.times)
    else:
        project = build_copy(args.source, args.times)
    n = pq.ParquetFile(project / "data/interim/verbatims.parquet").metadata.num_rows
    stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    date = datetime.now().isoformat(timespec="seconds")
    command = (
        f"python -m benchmarks.bench_stages --times {args.times}"
        + (f" --stages {' '.join(args.stages)}" if args.stages != UPSTREAM + STAGES else "")
        + (" --reuse" if args.reuse else "")
    )
    results = []
    for stage in args.stages:
        shell = stages[stage]["cmd"]
        for old, new in REDIRECT.get(stage, {}).items():
            shell = shell.replace(old, new)
        for rel in FRESH.get(stage, []):
            shutil.rmtree(project / rel, ignore_errors=True)
        result = run_measured(shell, project, env, stage)
        result["verbatims_per_s"] = round(n / result["seconds"], 1) if result["seconds"] else None
        result["date"], result["command"] = date, command
        print(
            f"  {n:>9,} {stage:<12} {result['seconds']:>8.1f} s {result['peak_rss_mb']:>7,} MB RSS"
            f" {result['peak_pss_mb']:>7,} MB PSS",
            flush=True,
        )
        results.append(result)
    # the stages this run did not redo keep their earlier figures, each with its date and command
    # and the figures they replace stay in `replaced` (what a fix changed)
    previous = RESULTS / "stages.json"
    replaced: list[dict] = []
    if previous.exists():
        earlier = json.loads(previous.read_text())
        if earlier.get("n_verbatims") == n:
            done = {r["stage"] for r in results}
            stamped = [{"date": earlier.get("date"), "command": earlier.get("command"), **r} for r in earlier["stages"]]
            results += [r for r in stamped if r["stage"] not in done]
            replaced = [r for r in stamped if r["stage"] in done] + earlier.get("replaced", [])
    order = UPSTREAM + STAGES
    results.sort(key=lambda r: order.index(r["stage"]) if r["stage"] in order else len(order))
    report = {
        "benchmark": "stages",
        "date": date,
        "command": command,
        "machine": machine_info(),
        "source": str(args.source.relative_to(ROOT)) if args.source.is_relative_to(ROOT) else str(args.source),
        "times": args.times,
        "n_verbatims": n,
        "stages": results,
        "replaced": replaced,
    }
    write_results("stages", report, markdown(report))
    return report


def markdown(report: dict) -> list[str]:
    results, replaced = report["stages"], report.get("replaced", [])
    lines = [
        f"## Stages one by one, at {report['n_verbatims']:,} verbatims ({report['date']})",
        "",
        f"The inputs of `{report['source']}` {report['times']} times over (ids made unique; texts repeat, so the "
        "sentence-vector cache always hits and topic quality is not measured). Each stage alone, its command "
        "from dvc.yaml; peak memory of its process tree.",
        "",
        "| stage | seconds | verbatims/s | peak RSS MB | peak PSS MB | measured by |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['stage']} | {r['seconds']} | {r['verbatims_per_s']:,} | {r['peak_rss_mb']:,} | "
            f"{r['peak_pss_mb']:,} | `{r['command']}`, {r['date']} |"
            for r in results
        ),
        "",
    ]
    if replaced:
        lines += [
            "Earlier figures of re-measured stages (the code changed in between):",
            "",
            "| stage | seconds | peak RSS MB | peak PSS MB | measured by |",
            "|---|---|---|---|---|",
            *(
                f"| {r['stage']} | {r['seconds']} | {r['peak_rss_mb']:,} | {r['peak_pss_mb']:,} | "
                f"`{r['command']}`, {r['date']} |"
                for r in replaced
            ),
            "",
        ]
    return lines


if __name__ == "__main__":
    main()

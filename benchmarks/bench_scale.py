"""Benchmark: the whole pipeline at scale, stage by stage (verbatims/s and peak memory).

For each size N (default 10k and 100k; add 1000000 for the million run) it builds a copy of the
project in `benchmarks/out/scale_<N>/` whose sources are the bundled sample (so training uses the
same gold labels) plus one CSV export of N verbatims resampled from the sample's texts and
perturbed (sentence order, numbers, agencies, typos, two reviews mixed: no exact copies), then runs
every stage with `dvc repro --single-item <stage>` in pipeline order. For each stage it records the
wall time and the peak resident memory of the stage's whole process tree (the DVC process, the
stage and its worker processes): RSS sampled every 0.1 s, which counts the pages forked workers
share with their parent once per process, and PSS every 0.5 s, which splits them (what the tree
really holds). End to end = the sum of the stages.

Run: python -m benchmarks.bench_scale [--sizes 10000 100000 1000000] [--engine local|dask]
     [--profiles default fast]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from benchmarks.bench_ingest import AGENCIES, perturb, sample_texts
from benchmarks.common import ENGLISH_EXPERT, RESULTS, ROOT, machine_info, run_measured, write_results

OUT = ROOT / "benchmarks" / "out"
COPY = ("pipeline", "params.yaml", "dvc.yaml", "pyproject.toml", ".dvc/config", ".dvcignore", "data/actions.csv")
SEGMENTS = ["Particulier", "Particulier", "Particulier", "Premium", "Professionnel", "Patrimonial"]
# Parameter sets compared (dotted params.yaml keys): `default` is params.yaml as shipped; `fast` is
# the profile the README recommends for very large corpora (static word vectors distilled from USE,
# no English expert), whose quality cost `benchmarks/bench_embed.py` measures; `expert` turns the
# English expert on (`benchmarks/bench_expert.py` measures what it is worth).
PROFILES: dict[str, dict[str, object]] = {
    "default": {},
    "fast": {"embed.backend": "static", "embed.experts": {}},
    # the English expert turned on (off by default since its cost was measured: results/expert.md)
    "expert": {"embed.experts": {"en": ENGLISH_EXPERT}},
}


def scored_pool() -> list[tuple[str, object, object, object]]:
    """(text, stars, NPS, CES) of the sample's reviews and survey answers: a perturbed copy keeps
    its original's scores, so that the weak tone labels drawn from stars and NPS stay truthful."""
    import pandas as pd

    raw = ROOT / "data/raw"
    frames = [
        pd.read_csv(raw / "reviews/avis_plateformes.csv", sep=";", encoding="utf-8-sig", dtype=str).rename(
            columns={"commentaire": "text", "note": "rating"}
        ),
        pd.read_csv(raw / "reviews/trustpilot_export.csv", encoding="cp1252", dtype=str).rename(
            columns={"Review Content": "text", "Review Stars": "rating"}
        ),
        pd.read_json(raw / "reviews/app_stores.jsonl", lines=True, dtype=False).rename(
            columns={"content": "text", "score": "rating"}
        ),
        pd.read_csv(raw / "surveys/nps_relationnel_2025.csv", dtype=str).rename(
            columns={"verbatim": "text", "nps_score": "nps", "ces_score": "ces"}
        ),
    ]
    pool = []
    for frame in frames:
        for column in ("rating", "nps", "ces"):
            if column not in frame:
                frame[column] = ""
        frame = frame.dropna(subset=["text"])
        for text, rating, nps, ces in frame[["text", "rating", "nps", "ces"]].itertuples(index=False):
            if str(text).strip():
                pool.append((str(text), *("" if pd.isna(v) else str(v).split(".")[0] for v in (rating, nps, ces))))
    return pool


def build_export(path: Path, rows: int, seed: int = 0) -> None:
    """A survey-and-review export of `rows` perturbed verbatims with their originals' scores."""
    rng = random.Random(seed)
    pool = sample_texts()
    scored = scored_pool()
    start = datetime(2025, 1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "date", "rating", "nps", "ces", "segment", "agency", "text"])
        for i in range(rows):
            date = start + timedelta(minutes=rng.randrange(0, 660 * 24 * 60))
            text, rating, nps, ces = rng.choice(scored)
            writer.writerow(
                [
                    f"S-{i:07d}",
                    date.strftime("%Y-%m-%d %H:%M"),
                    rating,
                    nps,
                    ces,
                    rng.choice(SEGMENTS),
                    rng.choice(AGENCIES),
                    perturb(text, rng, pool),
                ]
            )


def set_param(params: dict, dotted: str, value: object) -> None:
    *path, last = dotted.split(".")
    for key in path:
        params = params.setdefault(key, {})
    params[last] = value


def build_project(n: int, engine: str, profile: str = "default") -> Path:
    """A copy of the project with the sample's sources, its labels and an N-row export."""
    suffix = "".join(f"_{part}" for part in (engine, profile) if part not in ("local", "default"))
    project = OUT / f"scale_{n}{suffix}"
    if project.exists():
        shutil.rmtree(project)
    for rel in (*COPY, "data/raw", "data/labels"):
        src, dest = ROOT / rel, project / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "to_review.csv"))
        else:
            shutil.copy2(src, dest)
    export = OUT / f"export_{n}.csv"
    if not export.exists():
        build_export(export, n)
    (project / "data/raw/scale").mkdir(parents=True)
    os.link(export, project / "data/raw/scale/export.csv")
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["sources"]["export"] = {
        "path": "data/raw/scale/export.csv",
        "format": "csv",
        "encoding": "utf-8",
        "delimiter": ",",
        "source_type": "spontaneous",
        "channel": "enquête",
        "columns": {
            "external_id": "id",
            "date": "date",
            "rating": "rating",
            "nps": "nps",
            "ces": "ces",
            "segment": "segment",
            "agency": "agency",
            "text": "text",
        },
    }
    params["engine"]["name"] = engine
    for key, value in PROFILES[profile].items():
        set_param(params, key, value)
    (project / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def run_stage(project: Path, stage: str, env: dict) -> dict:
    """Run one stage under DVC; wall time and the peak RSS and PSS of its process tree."""
    dvc = str(Path(sys.executable).parent / "dvc")
    return run_measured([dvc, "repro", "--single-item", stage], project, env, stage)


def stages_of(project: Path, env: dict) -> list[str]:
    dvc = str(Path(sys.executable).parent / "dvc")
    listing = subprocess.run(
        [dvc, "stage", "list", "--name-only"], cwd=project, env=env, capture_output=True, text=True, check=True
    )
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def run_size(n: int, engine: str, profile: str = "default") -> dict:
    project = build_project(n, engine, profile)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    results = []
    for stage in stages_of(project, env):
        result = run_stage(project, stage, env)
        print(
            f"  {n:>9,} {stage:<28} {result['seconds']:>8.1f} s {result['peak_rss_mb']:>7,} MB RSS"
            f" {result['peak_pss_mb']:>7,} MB PSS",
            flush=True,
        )
        results.append(result)
    import pandas as pd

    scored = pd.read_parquet(project / "data/processed/verbatims.parquet", columns=["id", "near_duplicate_of"])
    train = json.loads((project / "metrics/train.json").read_text())
    topics = json.loads((project / "metrics/topics.json").read_text())
    total_seconds = sum(r["seconds"] for r in results)
    for r in results:
        r["verbatims_per_s"] = round(len(scored) / r["seconds"], 1) if r["seconds"] else None
    return {
        "n_export": n,
        "n_verbatims": len(scored),
        "engine": engine,
        "profile": profile,
        "profile_params": PROFILES[profile],
        "seconds": round(total_seconds, 1),
        "verbatims_per_s": round(len(scored) / total_seconds, 1),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "peak_pss_mb": max(r["peak_pss_mb"] for r in results),
        # the perturbed copies must not collapse into duplicates, and training must stay sound
        "near_duplicate_share": round(float(scored["near_duplicate_of"].notna().mean()), 3),
        "tone_heldout_accuracy": train.get("tone", {}).get("accuracy"),
        "topics": {k: v for k, v in topics.items() if not isinstance(v, dict | list)},
        "stages": results,
    }


def run_key(run: dict) -> tuple:
    return run["n_export"], run["engine"], run.get("profile", "default")


def keep_earlier(report: dict, previous: dict | None) -> dict:
    """Add the runs of an earlier results file that this one did not redo (other sizes or
    profiles), each with its own date and command, so that RESULTS.md keeps every figure."""
    if not previous:
        return report
    done = {run_key(r) for r in report["runs"]}
    earlier = [
        {"date": previous.get("date"), "command": previous.get("command"), **r}
        for r in previous.get("runs", [])
        if run_key(r) not in done
    ]
    return {**report, "runs": report["runs"] + earlier}


def markdown(report: dict) -> list[str]:
    lines = [
        f"## Scale: the whole pipeline, stage by stage ({report['date']})",
        "",
        f"`{report['command']}`",
        "",
    ]
    for run in report["runs"]:
        lines += [
            f"### {run['n_verbatims']:,} verbatims (engine {run['engine']}, profile {run.get('profile', 'default')}"
            + (f": {run['profile_params']}" if run.get("profile_params") else "")
            + ")",
            "",
        ]
        if run.get("date") and run.get("date") != report["date"]:
            lines += [f"Earlier run, kept: {run['date']}, `{run['command']}`.", ""]
        lines += [
            f"End to end: **{run['seconds']:,} s**, **{run['verbatims_per_s']:,} verbatims/s**, "
            f"peak memory **{run['peak_rss_mb']:,} MB** (largest stage, whole process tree"
            + (f"; PSS {run['peak_pss_mb']:,} MB" if "peak_pss_mb" in run else "")
            + "). "
            f"Near-duplicates flagged: {run['near_duplicate_share']:.1%}; tone accuracy on the held-out "
            f"gold rows: {run['tone_heldout_accuracy']}; topics: {run['topics']}.",
            "",
            "| stage | seconds | verbatims/s | peak RSS MB | peak PSS MB |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {s['stage']} | {s['seconds']} | {s['verbatims_per_s']:,} | {s['peak_rss_mb']:,} | "
            + (f"{s['peak_pss_mb']:,} |" if "peak_pss_mb" in s else "not measured |")
            for s in run["stages"]
        ]
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engine", default="local", choices=["local", "dask"])
    parser.add_argument("--profiles", nargs="+", default=["default"], choices=list(PROFILES))
    args = parser.parse_args(argv)
    report = {
        "benchmark": "scale",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_scale --sizes "
        + " ".join(map(str, args.sizes))
        + ("" if args.engine == "local" else f" --engine {args.engine}")
        + ("" if args.profiles == ["default"] else " --profiles " + " ".join(args.profiles)),
        "machine": machine_info(),
        "runs": [],
    }
    previous_file = RESULTS / "scale.json"
    previous = json.loads(previous_file.read_text()) if previous_file.exists() else None
    for n in args.sizes:
        for profile in args.profiles:
            report["runs"].append(run_size(n, args.engine, profile))
            merged = keep_earlier(report, previous)
            write_results("scale", merged, markdown(merged))  # after each run: a later failure keeps it
    return report


if __name__ == "__main__":
    main()

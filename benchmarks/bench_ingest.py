"""Benchmark: ingest throughput (rows/s) and peak memory on a large CSV export.

Builds an N-row review export (default 100,000) by resampling the bundled sample's texts and
perturbing them (sentence order, numbers, dates, agencies, typos, mixing two reviews), so that
rows are not exact copies; then runs the ingest stage itself (`python -m pipeline.ingest`, which
streams the file and writes its Parquet chunk by chunk) in a fresh process, with the pipeline's
own settings (rules + spaCy NER) and with NER off, and records its wall time and the peak RSS and
PSS of its process tree (the NER sub-processes included). Writes `benchmarks/results/ingest.json`
and `.md`.

Run: python -m benchmarks.bench_ingest [--rows 100000] [--skip-ner]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.common import ROOT, machine_info, run_measured, write_results
from pipeline.params import load_params

OUT = ROOT / "benchmarks" / "out"
AGENCIES = [
    "Lyon Part-Dieu",
    "Bordeaux Chartrons",
    "Lille Centre",
    "Nantes Commerce",
    "Marseille Prado",
    "Paris Bastille",
]


def sample_texts() -> list[str]:
    """Every text of the bundled review and survey files (already plain text)."""
    frames = [
        pd.read_csv(ROOT / "data/raw/reviews/avis_plateformes.csv", sep=";", encoding="utf-8-sig", dtype=str)[
            "commentaire"
        ],
        pd.read_csv(ROOT / "data/raw/reviews/trustpilot_export.csv", encoding="cp1252", dtype=str)["Review Content"],
        pd.read_csv(ROOT / "data/raw/surveys/nps_relationnel_2025.csv", dtype=str)["verbatim"],
        pd.read_json(ROOT / "data/raw/reviews/app_stores.jsonl", lines=True)["content"],
    ]
    return [t for t in pd.concat(frames).dropna().astype(str) if t.strip()]


def perturb(text: str, rng: random.Random, pool: list[str]) -> str:
    """A new, plausible verbatim from a real one: reorder, renumber, mix, misspell."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    if len(sentences) > 2 and rng.random() < 0.5:
        rng.shuffle(sentences)
    if rng.random() < 0.3:
        sentences.append(rng.choice(re.split(r"(?<=[.!?])\s+", rng.choice(pool))))
    out = " ".join(sentences)
    out = re.sub(r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(-3, 3))), out)
    for agency in AGENCIES:
        if agency in out:
            out = out.replace(agency, rng.choice(AGENCIES))
    if rng.random() < 0.2 and len(out) > 10:
        i = rng.randrange(len(out) - 1)
        out = out[:i] + out[i + 1] + out[i] + out[i + 2 :]
    return out


def build_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    pool = sample_texts()
    start = datetime(2025, 6, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["id_avis", "date", "note", "commentaire", "agence"])
        for i in range(rows):
            date = start + timedelta(minutes=rng.randrange(0, 520 * 24 * 60))
            writer.writerow(
                [
                    f"B-{i:07d}",
                    date.strftime("%d/%m/%Y %H:%M"),
                    rng.randint(1, 5),
                    perturb(rng.choice(pool), rng, pool),
                    rng.choice(AGENCIES),
                ]
            )


CONFIG = {
    "format": "csv",
    "source_type": "spontaneous",
    "channel": "site d'avis",
    "date_format": "%d/%m/%Y %H:%M",
    "columns": {"external_id": "id_avis", "date": "date", "rating": "note", "text": "commentaire", "agency": "agence"},
}


def run(path: Path, params: dict, label: str, ner: bool) -> dict:
    """The ingest stage on `path`, alone in a fresh process, in a folder of its own."""
    work = OUT / "ingest_bench" / ("ner" if ner else "rules")
    work.mkdir(parents=True, exist_ok=True)
    params = json.loads(json.dumps(params))
    if not ner:
        params["ingest"]["pii"]["kinds"] = [k for k in params["ingest"]["pii"]["kinds"] if k != "person"]
    params["ingest"]["sources"] = {"bench": {**CONFIG, "path": str(path)}}
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False))
    outputs = ["verbatims.parquet", "raw.parquet", "quarantine.csv", "metrics.json"]
    command = [sys.executable, "-m", "pipeline.ingest", "bench", str(path), *outputs]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    measured = run_measured(command, work, env, label)
    m = json.loads((work / "metrics.json").read_text())
    kept = pd.read_parquet(work / "verbatims.parquet", columns=["id"])
    assert len(kept) == m["kept"], "the Parquet holds every kept row"
    return {
        "variant": label,
        "rows": m["read"],
        "kept": m["kept"],
        "seconds": measured["seconds"],
        "rows_per_s": round(m["read"] / measured["seconds"], 1),
        "peak_rss_mb": measured["peak_rss_mb"],
        "peak_pss_mb": measured["peak_pss_mb"],
        "reconciles": m["reconciles"],
        "pii_redacted": m["pii_redacted"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-ner", action="store_true", help="only the rules-only variant")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    path = OUT / f"reviews_{args.rows}.csv"
    if not path.exists():
        build_csv(path, args.rows)
    results = [run(path, params, "rules only (NER off)", ner=False)]
    if not args.skip_ner:
        results.append(run(path, params, "pipeline default (rules + spaCy NER)", ner=True))
    command = f"python -m benchmarks.bench_ingest --rows {args.rows}" + (" --skip-ner" if args.skip_ner else "")
    report = {
        "benchmark": "ingest",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "chunk_rows": params["engine"]["chunk_rows"],
        "results": results,
    }
    lines = [
        f"# Ingest benchmark ({report['date']})",
        "",
        f"`{command}`: the ingest stage (`python -m pipeline.ingest`) alone in a fresh process on a CSV",
        f"of {args.rows:,} rows ({report['file_mb']} MB), read as a stream and written "
        f"{report['chunk_rows']:,} rows at a time; peak memory of its process tree (NER sub-processes included).",
        "",
        "| variant | rows | kept | seconds | rows/s | peak RSS MB | peak PSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['variant']} | {r['rows']:,} | {r['kept']:,} | {r['seconds']} | {r['rows_per_s']:,} | "
        f"{r['peak_rss_mb']:,} | {r['peak_pss_mb']:,} |"
        for r in results
    ]
    write_results("ingest", report, lines)


if __name__ == "__main__":
    main()

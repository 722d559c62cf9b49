"""Benchmark: ingest throughput (rows/s) and peak memory on a large CSV export.

Builds an N-row review export (default 100,000) by resampling the bundled sample's texts and
perturbing them (sentence order, numbers, dates, agencies, typos, mixing two reviews), so that
rows are not exact copies; then times `ingest_source` with the pipeline's own settings (rules +
spaCy NER) and with NER off, and writes `benchmarks/results/ingest.json` and `.md`.

Run: python -m benchmarks.bench_ingest [--rows 100000] [--skip-ner]
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import re
import resource
import time
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, write_results
from pipeline.ingest import build_redactor, ingest_source
from pipeline.normalize import LanguageDetector
from pipeline.params import load_params
from pipeline.pii import Redactor

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


def run(path: Path, params: dict, redactor: Redactor, label: str) -> dict:
    config = {
        "path": str(path),
        "format": "csv",
        "source_type": "spontaneous",
        "channel": "site d'avis",
        "date_format": "%d/%m/%Y %H:%M",
        "columns": {
            "external_id": "id_avis",
            "date": "date",
            "rating": "note",
            "text": "commentaire",
            "agency": "agence",
        },
    }
    detector = LanguageDetector(params["base"]["languages"], params["base"]["language"])
    t0 = time.perf_counter()
    result = ingest_source("bench", config, params, path, redactor, detector)
    seconds = time.perf_counter() - t0
    m = result.metrics
    return {
        "variant": label,
        "rows": m["read"],
        "kept": m["kept"],
        "seconds": round(seconds, 1),
        "rows_per_s": round(m["read"] / seconds, 1),
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
    pii = params["ingest"]["pii"]
    results = [
        run(
            path,
            params,
            Redactor([k for k in pii["kinds"] if k != "person"], None, pii["allow_list"], pii["customer_id_patterns"]),
            "rules only (NER off)",
        )
    ]
    if not args.skip_ner:
        results.append(run(path, params, build_redactor(params["ingest"]), "pipeline default (rules + spaCy NER)"))
    report = {
        "benchmark": "ingest",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.bench_ingest --rows {args.rows}",
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "results": results,
    }
    lines = [
        f"# Ingest benchmark ({report['date']})",
        "",
        f"`{report['command']}` on {report['machine']}",
        f"CSV of {args.rows:,} rows ({report['file_mb']} MB); peak RSS {report['peak_rss_mb']:.0f} MB",
        "",
        "| variant | rows | seconds | rows/s |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['variant']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_s']} |" for r in results]
    write_results("ingest", report, lines)


if __name__ == "__main__":
    main()

"""Benchmark: the `voix train` / `voix predict` commands, as a user runs them, on Banking77.

Splits `../shared/data/banking77/train.csv` (seeded, stratified 80/20) into `benchmarks/out/
banking77_train.csv` and `benchmarks/out/banking77_other.csv`, then runs

    voix train --labels benchmarks/out/banking77_train.csv --target category --model-dir benchmarks/out/banking77
    voix predict benchmarks/out/banking77_other.csv benchmarks/out/banking77_predicted.csv --model-dir benchmarks/out/banking77

and scores the predictions of the other file against its categories (never seen in training).
If the pipeline has run (`models/classifiers`), it also times `voix predict` with the pipeline's
models on the French Allociné reviews (all the score columns, spaCy sentences included).
Results: `benchmarks/results/cli.{json,md}` with both commands' wall time.

Run: python -m benchmarks.bench_cli [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from benchmarks.common import ROOT, write_results

OUT = ROOT / "benchmarks" / "out"


def run(args: list[str]) -> tuple[float, str]:
    voix = Path(sys.executable).parent / "voix"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    done = subprocess.run([str(voix), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t0, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    source = args.shared / "banking77" / "train.csv"
    if not source.exists():
        raise SystemExit(f"{source} not found: this benchmark needs the shared evaluation data")
    OUT.mkdir(parents=True, exist_ok=True)
    data = pd.read_csv(source)
    train, other = train_test_split(data, test_size=0.2, random_state=7, stratify=data["category"])
    train.to_csv(OUT / "banking77_train.csv", index=False)
    other.to_csv(OUT / "banking77_other.csv", index=False)
    model_dir = OUT / "banking77"
    train_s, train_line = run(
        ["train", "--labels", str(OUT / "banking77_train.csv"), "--target", "category", "--model-dir", str(model_dir)]
    )
    predict_s, _ = run(
        [
            "predict",
            str(OUT / "banking77_other.csv"),
            str(OUT / "banking77_predicted.csv"),
            "--model-dir",
            str(model_dir),
        ]
    )
    predicted = pd.read_csv(OUT / "banking77_predicted.csv")
    french = None
    if (ROOT / "models" / "classifiers" / "manifest.json").exists():
        # the pipeline's own models (tone, routing...) on French reviews written by others
        reviews = pd.read_csv(
            args.shared / "allocine-tv-fr" / "train.tsv", sep="\t", header=None, names=["y", "text"], quoting=3
        )
        reviews[["text"]].drop_duplicates().to_csv(OUT / "allocine_texts.csv", index=False)
        fr_s, _ = run(["predict", str(OUT / "allocine_texts.csv"), str(OUT / "allocine_scored.parquet")])
        scored = pd.read_parquet(OUT / "allocine_scored.parquet")
        french = {"rows": len(scored), "seconds": round(fr_s, 1), "rows_per_s": round(len(scored) / fr_s, 1)}
    report = {
        "benchmark": "cli",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_cli",
        "machine": {"cpus": os.cpu_count()},
        "train_rows": len(train),
        "other_rows": len(other),
        "voix_train_output": train_line,
        "voix_train_seconds": round(train_s, 1),
        "voix_predict_seconds": round(predict_s, 1),
        "predict_rows_per_s_including_start": round(len(other) / predict_s, 1),
        "other_file_accuracy": round(float(accuracy_score(predicted["category"], predicted["prediction"])), 4),
        "other_file_macro_f1": round(
            float(f1_score(predicted["category"], predicted["prediction"], average="macro")), 4
        ),
        "needs_review_share": round(float(predicted["needs_review"].mean()), 4),
        "pipeline_models_on_french_reviews": french,
    }
    lines = [
        f"# voix train / predict on Banking77 ({report['date']})",
        "",
        f"`{report['command']}` ({report['machine']['cpus']} cores)",
        "",
        f"- `voix train` on {len(train)} rows: {report['voix_train_seconds']} s; it printed: `{train_line}`",
        f"- `voix predict` on the other file ({len(other)} rows, never trained on): {report['voix_predict_seconds']} s "
        f"including start-up ({report['predict_rows_per_s_including_start']} rows/s)",
        f"- accuracy on the other file: **{report['other_file_accuracy']}**, macro-F1 {report['other_file_macro_f1']}; "
        f"flagged needs_review: {report['needs_review_share']:.1%}",
    ]
    if french:
        lines.append(
            f"- `voix predict` with the pipeline's models (`models/classifiers`: tone with sentence-level mitigé, "
            f"qualification, routing, draft replies) on {french['rows']} French Allociné reviews: {french['seconds']} s "
            f"including start-up ({french['rows_per_s']} rows/s)"
        )
    write_results("cli", report, lines)


if __name__ == "__main__":
    main()

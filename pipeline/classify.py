"""The learnable part of voix: a text classifier on words and sentence vectors.

`TextClassifier` is a scikit-learn estimator: TF-IDF on words (1-2 grams) and on characters
within words (2-5 grams: robust to typos, SMS style and inflection) and, when given, the
sentence vectors of the `embed` stage (scaled by `embedding_weight`), stacked and fed to a
linear model. The TF-IDF blocks count hashed terms (`HashedTfidf`): hashing needs no vocabulary,
so the texts scored by the eight models of a run are tokenised and hashed once, not eight times,
and a saved model holds an array of kept columns instead of a dictionary of terms. Its input is a DataFrame with a `text` column and the vector columns `emb_0...`
(`features()` builds it), so it composes with scikit-learn tools and is saved with skops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, hstack
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

EMB_PREFIX = "emb_"
MODEL_PARAMS = (
    "model",
    "C",
    "embedding_weight",
    "weight_grid",
    "class_weight",
    "ngram_max",
    "min_df",
    "char_ngram_max",
)


def model_params(config: dict[str, Any]) -> dict[str, Any]:
    """The `TextClassifier` arguments found in a `train` section of params.yaml."""
    params = {k: config[k] for k in MODEL_PARAMS if k in config}
    if "weight_grid" in params:
        params["weight_grid"] = tuple(float(w) for w in params["weight_grid"])
    return params


def features(texts: list[str] | pd.Series, vectors: np.ndarray | None = None) -> pd.DataFrame:
    """The classifier's input: texts, plus their sentence vectors as `emb_<i>` columns."""
    frame = pd.DataFrame({"text": list(texts)})
    if vectors is not None and len(vectors):
        emb = pd.DataFrame(
            np.asarray(vectors, dtype=np.float32), columns=[f"{EMB_PREFIX}{i}" for i in range(vectors.shape[1])]
        )
        frame = pd.concat([frame, emb], axis=1)
    return frame


_HASHED: dict[tuple, Any] = {}  # the last texts' hashed counts, per analyzer (see `hashed_counts`)


def hashed_counts(texts: list[str], analyzer: str, ngram_range: tuple[int, int], n_features: int):
    """Term counts of `texts` in `n_features` hashed columns (CSR, float32).

    The result of the last list of texts is kept per analyzer: the models of one scoring run
    share it (tokenising into character n-grams is most of a linear model's predict time).
    """
    from sklearn.feature_extraction.text import HashingVectorizer

    config = (analyzer, tuple(ngram_range), int(n_features))
    key = tuple(texts)
    hit = _HASHED.get(config)
    if hit is not None and hit[0] == key:
        return hit[1]
    counts = HashingVectorizer(
        analyzer=analyzer,
        ngram_range=tuple(ngram_range),
        n_features=int(n_features),
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform(key)
    _HASHED[config] = (key, counts)
    return counts


class HashedTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF (sublinear tf, smooth idf, L2 rows) on hashed word or character n-grams.

    Same weighting as scikit-learn's `TfidfVectorizer(sublinear_tf=True)`; the vocabulary is the
    hashed columns seen in at least `min_df` training texts (`columns_`), so unseen terms are
    ignored at predict time just as a vocabulary would. With 2**22 columns, collisions between
    the terms of a few thousand labelled texts are rare.
    """

    def __init__(
        self, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1, n_features: int = 2**22
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.n_features = n_features

    def _counts(self, texts: list[str]):
        return hashed_counts(texts, self.analyzer, self.ngram_range, self.n_features)

    def fit(self, texts: list[str], y: Any = None) -> HashedTfidf:  # noqa: ARG002 - scikit-learn's signature
        counts = self._counts(texts)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.columns_ = np.flatnonzero(df >= max(1, int(self.min_df))).astype(np.int32)
        n = counts.shape[0]
        self.idf_ = (np.log((1 + n) / (1 + df[self.columns_])) + 1).astype(np.float32)
        return self

    def transform(self, texts: list[str]):
        check_is_fitted(self, "columns_")
        matrix = self._counts(texts)[:, self.columns_].tocsr()  # a copy: the shared counts stay intact
        np.log(matrix.data, out=matrix.data)
        matrix.data += 1.0
        matrix = matrix.multiply(self.idf_).tocsr()
        return normalize(matrix, copy=False).astype(np.float32)


class TextClassifier(ClassifierMixin, BaseEstimator):
    """TF-IDF words and characters + sentence vectors -> linear SVM (or logistic regression).

    Args:
        model: "svc" (LinearSVC, probabilities calibrated by Platt scaling on 3 folds) or "logreg".
        C: inverse regularisation strength.
        embedding_weight: scale of the sentence vectors against the TF-IDF block (0 = words only),
            or "auto": chosen among `weight_grid` by a 3-fold cross-validation on the training
            data only (sentence vectors help much on short intents, little on long reviews).
        weight_grid: the candidate weights of "auto".
        lexicon: a word list of `pipeline/resources/` (e.g. "emotion_lexicon") whose per-label word
            shares are added as features: a prior the model can lean on where labels are few.
        lexicon_weight: the scale of those features.
        ngram_max: longest word n-gram.
        min_df: minimal document frequency of a word n-gram.
        char_ngram_max: longest character n-gram (0 = no character features).
        class_weight: None or "balanced" (rare classes count more).
        seed: random state of the linear model.
    """

    def __init__(
        self,
        model: str = "svc",
        C: float = 0.5,
        embedding_weight: float | str = "auto",
        weight_grid: tuple[float, ...] = (0.5, 1.0, 2.0),
        ngram_max: int = 2,
        min_df: int = 1,
        char_ngram_max: int = 5,
        class_weight: str | None = None,
        seed: int = 42,
        lexicon: str | None = None,
        lexicon_weight: float = 1.0,
    ) -> None:
        self.model = model
        self.C = C
        self.embedding_weight = embedding_weight
        self.weight_grid = weight_grid
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.char_ngram_max = char_ngram_max
        self.class_weight = class_weight
        self.seed = seed
        self.lexicon = lexicon
        self.lexicon_weight = lexicon_weight

    def _matrix(self, X: pd.DataFrame, fit: bool = False):
        texts = X["text"].fillna("").astype(str).tolist()
        blocks = [b.fit(texts).transform(texts) if fit else b.transform(texts) for b in self.vectorizer_]
        words = hstack(blocks).tocsr() if len(blocks) > 1 else blocks[0]
        emb_cols = [c for c in X.columns if str(c).startswith(EMB_PREFIX)]
        if fit:
            self.n_embedding_ = len(emb_cols)
        if self.n_embedding_ and (fit or self.weight_):
            if len(emb_cols) != self.n_embedding_:
                raise ValueError(f"expected {self.n_embedding_} embedding columns, got {len(emb_cols)}")
            dense = X[emb_cols].to_numpy(dtype=np.float32)
            return words, dense
        return words, None

    def _stack(self, words, dense, weight: float):
        if dense is None or not weight:
            return words
        return hstack([words, csr_matrix(dense * weight)]).tocsr()

    def _with_lexicon(self, matrix, X: pd.DataFrame):
        if not getattr(self, "lexicon_", None):
            return matrix
        from pipeline.emotions import lexicon_scores

        texts = X["text"].fillna("").astype(str).tolist()
        scores = lexicon_scores(texts, self.lexicon_, self.lexicon_labels_) * self.lexicon_weight
        return hstack([matrix, csr_matrix(scores)]).tocsr()

    def _choose_weight(self, words, dense, y: np.ndarray) -> float:
        """The embedding weight of the grid with the best 3-fold accuracy on the training data."""
        from sklearn.model_selection import StratifiedKFold

        if dense is None:
            return 0.0
        if self.embedding_weight != "auto":
            return float(self.embedding_weight)
        counts = pd.Series(y).value_counts()
        if len(y) < 30 or counts.min() < 3:
            return float(self.weight_grid[len(self.weight_grid) // 2])
        folds = list(StratifiedKFold(3, shuffle=True, random_state=self.seed).split(np.zeros(len(y)), y))
        scores = {}
        for weight in self.weight_grid:
            matrix = self._stack(words, dense, weight)
            correct = 0
            for train, test in folds:
                svc = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)
                correct += int((svc.fit(matrix[train], y[train]).predict(matrix[test]) == y[test]).sum())
            scores[float(weight)] = correct / len(y)
        self.weight_scores_ = [[w, round(v, 4)] for w, v in scores.items()]
        return max(scores, key=lambda w: (scores[w], -abs(w - 1.0)))

    def fit(self, X: pd.DataFrame, y: Any) -> TextClassifier:
        """Learn the vocabulary and the linear model from labelled texts."""
        self.vectorizer_ = [HashedTfidf("word", (1, self.ngram_max), self.min_df)]
        if self.char_ngram_max:
            self.vectorizer_.append(HashedTfidf("char_wb", (2, self.char_ngram_max), 2))
        words, dense = self._matrix(X, fit=True)
        y = np.asarray(y)
        self.weight_ = self._choose_weight(words, dense, y)
        if self.lexicon:
            from pipeline.emotions import load_lexicon

            self.lexicon_ = dict(load_lexicon(self.lexicon))
            self.lexicon_labels_ = sorted(set(self.lexicon_.values()))
        matrix = self._with_lexicon(self._stack(words, dense, self.weight_), X)
        if self.model == "svc":
            svc = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)
            smallest = int(pd.Series(y).value_counts().min())
            # calibrated probabilities make `needs_review` thresholds meaningful; a class with fewer
            # than 3 examples cannot be cross-validated, then the softmax of the margins is used
            self.estimator_ = (
                CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False) if smallest >= 3 else svc
            )
        elif self.model == "logreg":
            self.estimator_ = LogisticRegression(
                C=self.C, class_weight=self.class_weight, max_iter=3000, random_state=self.seed
            )
        else:
            raise ValueError(f"unknown model {self.model!r}: use 'svc' or 'logreg'")
        self.estimator_.fit(matrix, y)
        self.classes_ = self.estimator_.classes_
        return self

    def transform_features(self, X: pd.DataFrame):
        """The model's input matrix for X (TF-IDF blocks and weighted vectors)."""
        check_is_fitted(self, "estimator_")
        return self._with_lexicon(self._stack(*self._matrix(X), self.weight_), X)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        matrix = self.transform_features(X)
        if hasattr(self.estimator_, "decision_function"):
            return self.estimator_.decision_function(matrix)
        return self.estimator_.predict_proba(matrix)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (calibrated, or a softmax of the SVM margins), rows sum to 1."""
        if len(X) == 0:  # an empty chunk (scikit-learn refuses 0 samples)
            check_is_fitted(self, "estimator_")
            return np.empty((0, len(self.classes_)))
        matrix = self.transform_features(X)
        if hasattr(self.estimator_, "predict_proba"):
            return self.estimator_.predict_proba(matrix)
        scores = self.estimator_.decision_function(matrix)
        if scores.ndim == 1:  # binary: margin of the positive class
            scores = np.column_stack([-scores, scores])
        scores = scores * 3.0  # margins of a linear SVM are small: sharpen before the softmax
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.estimator_.predict(self.transform_features(X))


class AnchorClassifier(ClassifierMixin, BaseEstimator):
    """For a target with no labels yet: cosine similarity of sentence vectors to a few anchors.

    Each class is the (normalised) mean vector of its anchor sentences, written in params.yaml
    (`train.anchors`); a text gets the class it is closest to, probabilities by a softmax of the
    similarities over `temperature`. Works from the first run; labels replace it when they exist.
    """

    def __init__(self, temperature: float = 0.05) -> None:
        self.temperature = temperature

    def _vectors(self, X: pd.DataFrame) -> np.ndarray:
        cols = [c for c in X.columns if str(c).startswith(EMB_PREFIX)]
        if not cols:
            raise ValueError("AnchorClassifier needs sentence vectors (emb_ columns)")
        vectors = X[cols].to_numpy(dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def fit(self, X: pd.DataFrame, y: Any) -> AnchorClassifier:
        vectors, y = self._vectors(X), np.asarray(y)
        self.classes_ = np.array(sorted(set(y.tolist())))
        centroids = np.vstack([vectors[y == c].mean(axis=0) for c in self.classes_])
        self.centroids_ = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        self.n_embedding_ = vectors.shape[1]
        self.weight_ = 1.0
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "centroids_")
        scores = self._vectors(X) @ self.centroids_.T / self.temperature
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def save_model(model: TextClassifier, path: Path) -> None:
    """Save with skops (no raw pickle)."""
    import zipfile

    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    # skops writes the vocabulary as JSON: deflate divides the file size by ~20
    sio.dump(model, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def load_model(path: Path) -> TextClassifier:
    """Load a skops file, trusting only the types voix and scikit-learn write."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    allowed = [t for t in untrusted if t.startswith(("pipeline.classify.", "sklearn.", "numpy.", "scipy."))]
    unknown = sorted(set(untrusted) - set(allowed))
    if unknown:
        raise ValueError(f"{path}: refusing to load unknown types {unknown}")
    return sio.load(path, trusted=allowed)

"""The classifier, label files and weak labels."""

import numpy as np
import pandas as pd
import pytest

from pipeline.classify import HashedTfidf, TextClassifier, features, load_model, save_model
from pipeline.labels import join_labels, read_label_files, weak_tone_labels

POS = [
    "conseillère au top, merci",
    "très satisfait de mon agence",
    "appli rapide et claire, bravo",
    "service impeccable, je recommande",
    "super accueil à l'agence",
    "merci pour le geste commercial",
]
NEG = [
    "frais scandaleux, je pars",
    "appli en panne depuis 3 jours",
    "injoignable, honteux",
    "très déçu par le conseiller",
    "virement bloqué, personne ne répond",
    "arnaque sur les frais",
]


def _data(with_vectors: bool):
    texts = (POS + NEG) * 2
    y = (["positif"] * len(POS) + ["négatif"] * len(NEG)) * 2
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32) if with_vectors else None
    return features(texts, vectors), y


@pytest.mark.parametrize("model", ["svc", "logreg"])
@pytest.mark.parametrize("with_vectors", [True, False])
def test_learns_from_data_and_generalises(model, with_vectors):
    X, y = _data(with_vectors)
    clf = TextClassifier(model=model, C=1.0).fit(X, y)
    unseen = features(
        ["frais honteux, je pars", "merci, service impeccable"], np.zeros((2, 8), np.float32) if with_vectors else None
    )
    assert list(clf.predict(unseen)) == ["négatif", "positif"]
    proba = clf.predict_proba(unseen)
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1)


def test_deterministic_and_skops_roundtrip(tmp_path):
    X, y = _data(True)
    a = TextClassifier().fit(X, y)
    b = TextClassifier().fit(X, y)
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X))
    save_model(a, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops")
    np.testing.assert_allclose(loaded.decision_function(X), a.decision_function(X))


@pytest.mark.parametrize(("analyzer", "ngrams", "min_df"), [("word", (1, 2), 1), ("char_wb", (2, 5), 2)])
def test_hashed_tfidf_weighs_like_scikit_learn_tfidf(analyzer, ngrams, min_df):
    """Same rows as TfidfVectorizer(sublinear_tf=True), up to the order of the columns; unseen
    terms ignored; the counts shared between models are not altered by a transform."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    train, other = POS + NEG + ["frais frais frais, honteux"], ["frais inconnus zzz", "merci !"]
    reference = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, min_df=min_df, sublinear_tf=True).fit(train)
    hashed = HashedTfidf(analyzer, ngrams, min_df).fit(train)
    assert len(hashed.columns_) == len(reference.vocabulary_)
    for texts in (train, other, train):  # `train` again: from the shared counts
        a, b = reference.transform(texts).toarray(), hashed.transform(texts).toarray()
        np.testing.assert_allclose(np.sort(a, axis=1), np.sort(b, axis=1), atol=1e-6)
        np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-6)


def test_wrong_embedding_width_is_an_error():
    X, y = _data(True)
    clf = TextClassifier().fit(X, y)
    with pytest.raises(ValueError, match="expected 8 embedding columns"):
        clf.predict(features(["x"], np.zeros((1, 4), np.float32)))


def test_label_files_join_by_id_and_standalone_text(tmp_path):
    (tmp_path / "gold.csv").write_text("external_id,tone\n<a1>,positif\nb2,négatif\nzz,neutre\nc3,\n", encoding="utf-8")
    (tmp_path / "extra.csv").write_text("text,tone\nnouvel exemple,négatif\n", encoding="utf-8")
    (tmp_path / "to_review.csv").write_text("external_id,tone\na1,négatif\n", encoding="utf-8")
    verbatims = pd.DataFrame({"external_id": ["a1", "b2", "c3"], "text": ["t1", "t2", "t3"]})
    labels = read_label_files(tmp_path)
    assert set(labels["label_file"]) == {"gold.csv", "extra.csv"}  # the review queue is not read
    joined = join_labels(verbatims, labels, "tone")
    assert sorted(zip(joined["row"], joined["tone"], strict=True)) == [(-1, "négatif"), (0, "positif"), (1, "négatif")]


def test_weak_tone_labels_from_stars_and_nps():
    frame = pd.DataFrame(
        {"rating": [1, 3, 5, None, None], "nps": [None, None, None, 2, 8], "has_text": [True, True, True, True, False]}
    )
    config = {"rating": {"négatif": [1, 2], "positif": [4, 5]}, "nps": {"négatif": [0, 4], "positif": [9, 10]}}
    assert weak_tone_labels(frame, config).tolist() == ["négatif", "", "positif", "négatif", ""]


def test_auto_embedding_weight_is_chosen_by_cross_validation_on_training_rows():
    rng = np.random.default_rng(0)
    # the words are noise; only the vectors carry the label: the widest weight must win
    y = np.array(["a", "b"] * 30)
    texts = [f"mot{rng.integers(1000)} autre{rng.integers(1000)}" for _ in y]
    vectors = rng.normal(size=(len(y), 8)).astype(np.float32) * 0.05
    vectors[:, 0] += np.where(y == "a", 0.5, -0.5)
    model = TextClassifier(embedding_weight="auto", weight_grid=(0.1, 3.0)).fit(features(texts, vectors), y)
    assert model.weight_ == 3.0
    assert dict((w, s) for w, s in model.weight_scores_)[3.0] > 0.9
    fixed = TextClassifier(embedding_weight=0.5).fit(features(texts, vectors), y)
    assert fixed.weight_ == 0.5 and not hasattr(fixed, "weight_scores_")


def test_anchor_classifier_needs_no_labels_but_vectors(tmp_path):
    from pipeline.classify import AnchorClassifier

    anchors = np.array([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]], np.float32)
    model = AnchorClassifier().fit(features(["a", "b", "c"], anchors), ["pos", "neg", "pos"])
    proba = model.predict_proba(features(["x", "y"], np.array([[0.8, 0.2, 0.1], [0.1, 0.9, 0.3]], np.float32)))
    assert model.classes_.tolist() == ["neg", "pos"]
    assert proba.argmax(axis=1).tolist() == [1, 0] and np.allclose(proba.sum(axis=1), 1)
    save_model(model, tmp_path / "anchor.skops")
    assert load_model(tmp_path / "anchor.skops").predict(features(["x"], np.array([[1, 0, 0]], np.float32)))[0] == "pos"
    with pytest.raises(ValueError):
        model.predict(features(["no vectors"]))

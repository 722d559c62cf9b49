"""Topics: clusters found, mapped to named themes by their seed words, saved and reused; small-N mode."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from pipeline.topics import assign_topics, keyword_scores, run_topics, save_model, small_n_topics

THEMES = {
    "frais": ["frais", "cotisation", "tarif"],
    "application": ["appli", "connexion", "bug"],
    "conseiller": ["conseiller", "rendez-vous"],
}
WORDS = {
    0: "frais cotisation tarif hausse prélèvement euro scandaleux",
    1: "appli connexion bug écran planter identifiant code",
    2: "conseiller rendez-vous écoute disponible aimable agence",
    3: "livraison colis transporteur retard suivi",  # a subject no theme names
}


def _corpus(per_group: int = 70, dim: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(WORDS), dim)) * 3
    truth, docs, vectors = [], [], []
    for group, words in WORDS.items():
        vocab = words.split()
        for _ in range(per_group):
            truth.append(group)
            docs.append(" ".join(rng.choice(vocab, size=5)))
            vectors.append(centers[group] + rng.normal(size=dim) * 0.3)
    ids = [f"v{i}" for i in range(len(docs))]
    table = pd.DataFrame(
        {
            "id": ids,
            "text": docs,
            "has_text": True,
            "tone": "négatif",
            "tone_score": -0.5,
            "date": pd.Timestamp("2026-01-01"),
            "channel": "email",
        }
    )
    return table, np.array(vectors, np.float32), pd.DataFrame({"id": ids, "lemmas": docs}), np.array(truth), centers


@pytest.mark.parametrize("clusterer", ["hdbscan", "kmeans"])
def test_topics_are_found_and_mapped_to_named_themes(clusterer):
    table, vectors, lemmas, truth, _ = _corpus()
    config = {"themes": THEMES, "clusterer": clusterer, "n_topics": 4, "min_topic_size": 10, "small_n": 100}
    _, assigned, topics, metrics = run_topics(table, vectors, lemmas, config, None)
    assert adjusted_rand_score(truth, assigned["topic"]) > 0.9
    assert metrics["n_topics"] == 4 and metrics["mode"].endswith(clusterer)
    by_theme = dict(zip(topics["theme"].fillna("-"), topics["size"], strict=True))
    assert by_theme == {"frais": 70, "application": 70, "conseiller": 70, "-": 70}
    candidate = topics[topics["is_candidate"]].iloc[0]
    assert candidate["label"].startswith("candidate: ") and "livraison" in candidate["keywords"]
    assert (assigned.groupby("topic")["theme"].nunique(dropna=False) == 1).all()
    _, again, _, _ = run_topics(table, vectors, lemmas, config, None)  # seeded: the same topics twice
    pd.testing.assert_frame_equal(assigned, again)


def test_large_corpus_fits_on_a_sample_and_assigns_the_rest():
    """Above max_fit_docs the model sees a seeded sample; every other verbatim joins its nearest
    topic, so the topics are those of a full fit. min_topic_share scales the smallest topic."""
    table, vectors, lemmas, truth, _ = _corpus(per_group=150)
    config = {"themes": THEMES, "min_topic_size": 5, "min_topic_share": 0.1, "max_fit_docs": 200, "small_n": 100}
    _, assigned, topics, metrics = run_topics(table, vectors, lemmas, config, None)
    assert metrics["fitted_on"] == 200 and metrics["min_topic_size"] == 20  # 10% of the 200 fitted
    assert len(assigned) == 600 and metrics["n_topics"] == 4 and metrics["outlier_share"] == 0
    assert adjusted_rand_score(truth, assigned["topic"]) > 0.9
    assert topics["size"].sum() == 600
    _, again, _, _ = run_topics(table, vectors, lemmas, config, None)
    pd.testing.assert_frame_equal(assigned, again)


def test_saved_model_assigns_new_verbatims(tmp_path):
    table, vectors, lemmas, truth, centers = _corpus()
    model, assigned, _, _ = run_topics(
        table, vectors, lemmas, {"clusterer": "kmeans", "n_topics": 4, "small_n": 100}, None
    )

    class Centers:
        name, dim = "centers", centers.shape[1]

        def encode(self, texts):
            return np.array([centers[int(t)] for t in texts], np.float32)

    save_model(model, tmp_path / "topics", Centers())
    assert (tmp_path / "topics" / "topics.json").exists()
    assert not list((tmp_path / "topics").glob("*.pkl")) and list((tmp_path / "topics").glob("*.safetensors"))
    expected = [int(assigned.loc[truth == g, "topic"].mode()[0]) for g in (2, 0)]
    assert assign_topics(["2", "0"], [WORDS[2], WORDS[0]], tmp_path / "topics", Centers()) == expected


def test_small_n_mode_uses_named_themes_without_clustering():
    table, vectors, lemmas, truth, _ = _corpus(per_group=5)  # 20 verbatims: nothing to cluster
    _, assigned, topics, metrics = run_topics(table.head(17), vectors[:17], lemmas, {"themes": THEMES}, None)
    assert metrics["mode"].startswith("small-N")
    assert set(assigned["theme"].dropna()) == {"frais", "application", "conseiller"}
    assert assigned.loc[truth[:17] == 3, "theme"].isna().all()  # no theme's words: left unassigned
    _, three, _, metrics3 = run_topics(table.head(3), vectors[:3], lemmas, {"themes": THEMES}, None)
    assert metrics3["mode"].startswith("small-N") and three["theme"].tolist() == ["frais"] * 3


def test_keyword_matching_uses_word_stems_and_multi_word_seeds():
    scores = keyword_scores(
        [("plantage appli", 0.5), ("tenue compte", 0.3)], {"app": ["appli"], "frais": ["tenue de compte"]}
    )
    assert scores == {"app": 0.5, "frais": 0.3}
    assert small_n_topics(["rien à voir"], np.zeros((1, 2)), {"a": ["appli"]}, None, 0.3).tolist() == [-1]


def test_gpu_path_uses_cuml_only_when_installed_with_a_device(monkeypatch):
    """cuML's UMAP/PCA/HDBSCAN are chosen when RAPIDS and a CUDA device are there; otherwise, or
    with `gpu: off`, the CPU libraries. (Fake cuML/cupy modules: this machine has no GPU.)"""
    import sys
    import types

    from pipeline.topics import make_clusterer, make_reducer

    class Recorded:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    devices = {"count": 1}
    cupy = types.SimpleNamespace(
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: devices["count"]))
    )
    cuml = types.SimpleNamespace(
        cluster=types.SimpleNamespace(HDBSCAN=type("HDBSCAN", (Recorded,), {})),
        manifold=types.SimpleNamespace(UMAP=type("UMAP", (Recorded,), {})),
        decomposition=types.SimpleNamespace(PCA=type("PCA", (Recorded,), {})),
    )
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cuml", cuml)
    config = {"min_topic_size": 12, "reducer": "umap"}
    assert isinstance(make_clusterer(config, 1000, 0), cuml.cluster.HDBSCAN)
    assert make_clusterer(config, 1000, 0).kwargs["min_cluster_size"] == 12
    assert isinstance(make_reducer(config, 1000, 0), cuml.manifold.UMAP)
    assert isinstance(make_reducer({"reducer": "pca"}, 1000, 0), cuml.decomposition.PCA)
    assert type(make_clusterer({**config, "gpu": False}, 1000, 0)).__module__.startswith("hdbscan")
    devices["count"] = 0
    assert type(make_clusterer(config, 1000, 0)).__module__.startswith("hdbscan")
    assert type(make_reducer({"reducer": "pca"}, 1000, 0)).__module__.startswith("sklearn")

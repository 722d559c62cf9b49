"""The train stage's core: held-out evaluation, weak labels, standalone labelled texts."""

import numpy as np
import pandas as pd

from pipeline.train import split_gold, train_target

POS = [
    "conseillère au top",
    "très satisfait",
    "appli rapide, bravo",
    "service impeccable",
    "super accueil",
    "merci beaucoup",
]
NEG = ["frais scandaleux", "appli en panne", "injoignable, honteux", "très déçu", "virement bloqué", "arnaque totale"]


class FakeEmbedder:
    name = "fake"

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += texts
        return np.ones((len(texts), 4), np.float32)


def _table():
    texts = POS + NEG
    return pd.DataFrame(
        {
            "id": [f"v_{i:016x}" for i in range(len(texts))],
            "external_id": [f"e{i}" for i in range(len(texts))],
            "text": texts,
            "subject": None,
            "rating": [5.0] * 6 + [1.0] * 6,
            "has_text": True,
        }
    )


def test_held_out_rows_are_never_trained_on_and_standalone_texts_are_embedded():
    table = _table()
    vectors = np.random.default_rng(0).normal(size=(len(table), 4)).astype(np.float32)
    labels = pd.DataFrame(
        {
            "external_id": list(table["external_id"]) + ["", ""],
            "text": [""] * len(table) + ["frais abusifs encore", "agence formidable"],
            "tone": ["positif"] * 6 + ["négatif"] * 6 + ["négatif", "positif"],
            "label_file": "gold.csv",
        }
    )
    held_out = split_gold(table["id"], pd.Series(["positif"] * 6 + ["négatif"] * 6), 0.34, seed=1)
    embedder = FakeEmbedder()
    model, metrics, confusion = train_target("tone", table, vectors, labels, held_out, {"C": 1.0}, None, embedder)
    assert metrics["n_test"] == len(held_out) == len(confusion)
    assert metrics["n_train"] == len(table) - len(held_out) + 2
    assert sorted(set(embedder.seen)) == ["agence formidable", "frais abusifs encore"]
    assert set(model.classes_) == {"positif", "négatif"}


def _weak_setup():
    """Rows 0-7 labelled (row 0 and 6 held out), stars on every row."""
    table = _table()
    labels = pd.DataFrame(
        {
            "external_id": list(table["external_id"][:8]),
            "tone": ["positif"] * 6 + ["négatif"] * 2,
            "label_file": "gold.csv",
        }
    )
    weak = pd.Series(["positif"] * 6 + ["négatif"] * 6)
    return table, np.zeros((len(table), 4), np.float32), labels, weak, {table["id"][0], table["id"][6]}


def test_weak_labels_add_rows_outside_gold_and_held_out():
    table, vectors, labels, weak, held_out = _weak_setup()
    _, metrics, _ = train_target("tone", table, vectors, labels, held_out, {"C": 1.0}, weak)
    # gold rows 0-7 minus held-out row 0 (row 6 is gold and held out too), plus weak rows 8-11
    assert metrics["n_weak"] == 4
    assert metrics["n_train"] == 8 - 2 + 4


def test_weak_labels_are_capped_to_a_seeded_sample():
    table, vectors, labels, weak, held_out = _weak_setup()
    _, metrics, _ = train_target("tone", table, vectors, labels, held_out, {"C": 1.0, "max_weak_labels": 2}, weak)
    assert metrics["n_weak"] == 2  # 4 weak rows were eligible
    assert metrics["n_train"] == 8 - 2 + 2


def test_targets_trained_in_parallel_processes_give_the_models_of_one_process(tmp_path):
    """train.n_process: 2 fits targets side by side in forked processes: same metrics, same predictions."""
    import json

    import yaml

    from pipeline.classify import load_model
    from pipeline.train import main

    table = _table()
    table = pd.concat([table, table.assign(text=table["text"] + " !", external_id=table["external_id"] + "b")])
    table["id"] = [f"v_{i:016x}" for i in range(len(table))]
    table.to_parquet(tmp_path / "verbatims.parquet")
    np.save(tmp_path / "embeddings.npy", np.random.default_rng(0).normal(size=(len(table), 4)).astype(np.float32))
    (tmp_path / "labels").mkdir()
    pd.DataFrame(
        {
            "external_id": table["external_id"],
            "tone": (["positif"] * 6 + ["négatif"] * 6) * 2,
            "qualification": (["compliment"] * 6 + ["réclamation", "incident"] * 3) * 2,
        }
    ).to_csv(tmp_path / "labels" / "gold.csv", index=False)
    runs = {}
    for n_process in (1, 2):
        params = tmp_path / f"params{n_process}.yaml"
        train = {"targets": ["tone", "qualification"], "n_process": n_process, "min_labels": 4, "embedding_weight": 1.0}
        params.write_text(yaml.safe_dump({"train": train}))
        out = tmp_path / f"run{n_process}"
        main(
            tmp_path / "verbatims.parquet",
            tmp_path / "embeddings.npy",
            tmp_path / "labels",
            out / "models",
            out / "train.json",
            out / "confusion",
            params,
        )
        runs[n_process] = out
    assert json.loads((runs[1] / "train.json").read_text()) == json.loads((runs[2] / "train.json").read_text())
    from pipeline.classify import features

    X = features(["appli en panne encore", "merci pour tout"], np.zeros((2, 4), np.float32))
    for target in ("tone", "qualification"):
        one, two = (load_model(runs[n] / "models" / f"{target}.skops") for n in (1, 2))
        np.testing.assert_array_equal(one.predict_proba(X), two.predict_proba(X))

"""The Dask engine gives the same outputs as the local engine.

A local `dask.distributed` cluster of 2 worker processes runs the per-verbatim stages (ingest
redaction, nlp, embed, score) in small chunks; every output is compared with the local engine's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines():
    pytest.importorskip("distributed", reason="the Dask engine needs dask.distributed (in requirements.lock)")
    from pipeline.engine import Engine, EngineConfig

    local = Engine(EngineConfig(name="local"))
    dask = Engine(EngineConfig(name="dask", n_workers=2, chunk_rows=37))  # several chunks per worker
    assert len(dask.client.scheduler_info()["workers"]) == 2
    yield local, dask
    dask.close()


@pytest.fixture(scope="module")
def ingested(engines, params):
    """The bundled review export ingested with both engines (rules + spaCy NER redaction)."""
    from pipeline.ingest import build_redactor, ingest_source
    from pipeline.normalize import LanguageDetector

    local, dask = engines
    config = params["ingest"]["sources"]["avis_plateformes"]
    path = ROOT / config["path"]
    detector = LanguageDetector(params["base"]["languages"], params["base"]["language"])
    results = [
        ingest_source("avis_plateformes", config, params, path, build_redactor(params["ingest"]), detector, engine=e)
        for e in (local, dask)
    ]
    return results


def test_ingest_is_identical_on_dask(ingested):
    local, dask = ingested
    assert len(local.verbatims) > 100
    pd.testing.assert_frame_equal(local.verbatims, dask.verbatims)
    assert local.metrics == dask.metrics
    assert local.verbatims["pii_found"].str.contains("person").any()  # the NER ran on the workers too


def test_nlp_embed_and_score_are_identical_on_dask(engines, ingested, params, tmp_path):
    from pipeline.classify import TextClassifier, features
    from pipeline.embed import VectorFile, embed_texts, engine_encoder, make_embedder
    from pipeline.nlp import run_analysis
    from pipeline.score import score_files, score_table

    local, dask = engines
    table = ingested[0].verbatims
    nlp_config = dict(params["nlp"])
    sentences_l, lemmas_l = run_analysis(table, nlp_config, local)
    sentences_d, lemmas_d = run_analysis(table, nlp_config, dask)
    pd.testing.assert_frame_equal(sentences_l, sentences_d)
    pd.testing.assert_frame_equal(lemmas_l, lemmas_d)

    embed_config = {"backend": "use", "threads": 1}
    embedder = make_embedder(embed_config)
    texts = table["text"].tolist()
    vectors_l = embed_texts(texts, embedder)
    vectors_d = embed_texts(texts, embedder, encode=engine_encoder(dask, embed_config))
    np.testing.assert_allclose(vectors_l, vectors_d, atol=1e-6)

    gold = pd.read_csv(ROOT / "data/labels/gold_avis_plateformes.csv", dtype=str).dropna(subset=["tone"])
    train = table.merge(gold[["external_id", "tone"]], on="external_id")
    rows = table.reset_index(drop=True).index[table["external_id"].isin(train["external_id"])]
    tone = TextClassifier(embedding_weight=1.0).fit(
        features(train["text"].tolist(), vectors_l[rows]), train["tone"].tolist()
    )
    scored_l, sent_l = score_table(
        table, vectors_l, {"tone": tone}, embedder, params["score"], sentences_l, None, local, embed_config
    )
    scored_d, sent_d = score_table(
        table, vectors_l, {"tone": tone}, embedder, params["score"], sentences_l, None, dask, embed_config
    )
    assert scored_l["tone"].nunique() >= 2
    pd.testing.assert_frame_equal(scored_l, scored_d)
    pd.testing.assert_frame_equal(sent_l, sent_d)

    # the stage itself, file to file, chunk by chunk on the workers
    table.to_parquet(tmp_path / "verbatims.parquet", index=False)
    sentences_l.to_parquet(tmp_path / "sentences.parquet", index=False)
    np.save(tmp_path / "embeddings.npy", vectors_l)
    score_files(
        tmp_path / "verbatims.parquet",
        VectorFile(tmp_path / "embeddings.npy"),
        tmp_path / "sentences.parquet",
        {"tone": tone},
        embedder,
        params["score"],
        tmp_path / "scored.parquet",
        tmp_path / "scored_sentences.parquet",
        set(),
        None,
        dask,
        embed_config,
    )
    scored_l.to_parquet(tmp_path / "scored_local.parquet", index=False)  # the same dtypes as read back
    sent_l.to_parquet(tmp_path / "sentences_local.parquet", index=False)
    for streamed, local in (("scored", "scored_local"), ("scored_sentences", "sentences_local")):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / f"{streamed}.parquet"), pd.read_parquet(tmp_path / f"{local}.parquet")
        )

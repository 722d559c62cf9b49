"""The nlp stage: sentences with offsets, lemmas, stop words, French and English."""

import pandas as pd
import pytest

from pipeline.nlp import Analyzer, NlpConfig, analyse_table


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(NlpConfig(extra_stop_words=["bonjour"], not_stop_words=["attendre"]))


def _table(texts, langs, subjects=None):
    return pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(len(texts))],
            "text": texts,
            "subject": subjects or [None] * len(texts),
            "lang": langs,
            "has_text": [bool(t) for t in texts],
        }
    )


def test_french_sentences_keep_offsets_and_ignore_wrapped_lines(analyzer):
    text = (
        "Bonjour,\n\nLe conseiller est top mais les frais\nsont scandaleux. J'ai attendu trois semaines !"
        "\n\nCordialement"
    )
    sentences, lemmas = analyse_table(_table([text], ["fr"]), analyzer)
    got = sentences["sentence"].tolist()
    assert "Le conseiller est top mais les frais\nsont scandaleux." in got  # one sentence over the wrap
    assert "J'ai attendu trois semaines !" in got
    assert got[0] == "Bonjour," and got[-1] == "Cordialement"  # blank lines are boundaries
    for row in sentences.itertuples():
        assert text[row.start : row.end] == row.sentence
    words = lemmas.loc[0, "lemmas"].split()
    assert {"conseiller", "frais", "scandaleux", "semaine", "attendre"} <= set(words)
    assert "bonjour" not in words and "le" not in words  # stop words (and the extra ones) are out


def test_english_texts_get_sentences_and_lemmas(analyzer):
    sentences, lemmas = analyse_table(_table(["The fees were charged twice. My cards are blocked!"], ["en"]), analyzer)
    assert sentences["sentence"].tolist() == ["The fees were charged twice.", "My cards are blocked!"]
    assert {"fee", "charge", "card", "block"} <= set(lemmas.loc[0, "lemmas"].split())


def test_placeholders_subjects_and_score_only_rows(analyzer):
    table = _table(
        ["[PERSON] m'a rappelé au [PHONE], très aimable.", ""],
        ["fr", "fr"],
        subjects=["RE: Carte bloquée", None],
    )
    sentences, lemmas = analyse_table(table, analyzer)
    assert len(lemmas) == 1 and set(sentences["id"]) == {"v0"}  # a row without text has no lemmas
    words = lemmas.loc[0, "lemmas"].split()
    assert "person" not in words and "phone" not in words
    assert words[:2] == ["carte", "bloqué"] or words[0] == "carte"  # the subject comes first


def test_the_stage_writes_chunk_by_chunk_what_the_whole_table_gives(tmp_path):
    import yaml

    from pipeline.engine import Engine
    from pipeline.nlp import main, run_analysis

    table = _table(
        ["Le conseiller est top. Les frais sont scandaleux.", "", "The app keeps crashing. Fix it!", "Très bien."],
        ["fr", "fr", "en", "fr"],
    )
    table.to_parquet(tmp_path / "verbatims.parquet", index=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"engine": {"chunk_rows": 2}, "nlp": {}}))
    main(tmp_path / "verbatims.parquet", tmp_path / "s.parquet", tmp_path / "l.parquet", tmp_path / "params.yaml")
    sentences, lemmas = run_analysis(table, {}, Engine())
    sentences.to_parquet(tmp_path / "s_whole.parquet", index=False)  # compared as written
    lemmas.to_parquet(tmp_path / "l_whole.parquet", index=False)
    for chunked, whole in (("s", "s_whole"), ("l", "l_whole")):
        expected = pd.read_parquet(tmp_path / f"{whole}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{chunked}.parquet"), expected)
    assert set(expected["id"]) == {"v0", "v2", "v3"}  # the empty text has no lemma row, in either

"""The score stage's rules: mixed tone from sentences, priority x segment, repeat complainers, queue."""

import pandas as pd

from pipeline.score import cross_priority, draft_reply, repeat_complainers, review_queue, score_files, score_table


def _tone_model_and_table():
    from pipeline.classify import TextClassifier, features

    pos = ["le conseiller est top", "accueil parfait", "service rapide et aimable", "très satisfait", "bravo"]
    neg = ["les frais sont scandaleux", "appli en panne", "service honteux", "très déçu", "frais abusifs"]
    tone = TextClassifier(model="logreg", C=20, char_ngram_max=0).fit(
        features((pos + neg) * 3), ["positif"] * 5 * 3 + ["négatif"] * 5 * 3
    )
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "text": [
                "Le conseiller est top. Mais les frais sont scandaleux.",
                "Bonjour. Appli en panne, service honteux.",
                "Accueil parfait, très satisfait.",
            ],
            "subject": None,
            "lang": "fr",
            "has_text": True,
            "customer_id": None,
            "segment": None,
            "date": pd.NaT,
        }
    )
    return tone, table


def test_a_verbatim_with_a_surely_positive_and_a_surely_negative_sentence_is_mitige():
    tone, table = _tone_model_and_table()
    scored, sentences = score_table(table, None, {"tone": tone}, None, {"mixed_threshold": 0.6})
    assert scored["tone"].tolist() == ["mitigé", "négatif", "positif"]
    assert "Bonjour." not in sentences["sentence"].tolist()  # under sentence_min_words: no tone
    assert set(sentences.loc[sentences["id"] == "a", "tone"]) == {"positif", "négatif"}


def test_scoring_chunk_by_chunk_gives_the_same_rows_as_the_whole_table():
    from pipeline.engine import Engine, EngineConfig
    from pipeline.nlp import Analyzer, analyse_table

    tone, table = _tone_model_and_table()
    sentences, _ = analyse_table(table, Analyzer())
    whole = score_table(table, None, {"tone": tone}, None, {}, sentences)
    chunked = score_table(table, None, {"tone": tone}, None, {}, sentences, engine=Engine(EngineConfig(chunk_rows=2)))
    pd.testing.assert_frame_equal(whole[0], chunked[0])
    pd.testing.assert_frame_equal(whole[1], chunked[1])
    assert set(chunked[1]["id"]) == {"a", "b", "c"}  # the chunks cut between verbatims 2 and 3


def _tone_qualification_and_longer_table():
    """A tone and a qualification model, and 5 verbatims of one customer: two complaints that
    fall in different chunks of 2 rows (the second is a repeat), and a verbatim without text."""
    from pipeline.classify import TextClassifier, features

    tone, table = _tone_model_and_table()
    pos = ["le conseiller est top", "accueil parfait", "service rapide et aimable", "très satisfait", "bravo"]
    neg = ["les frais sont scandaleux", "appli en panne", "service honteux", "très déçu", "frais abusifs"]
    qualification = TextClassifier(model="logreg", C=20, char_ngram_max=0).fit(
        features((pos + neg) * 3), ["compliment"] * 15 + ["réclamation"] * 15
    )
    more = pd.DataFrame(
        {
            "id": ["d", "e"],
            "text": ["Frais abusifs, très déçu. Appli en panne encore.", None],
            "subject": None,
            "lang": "fr",
            "has_text": [True, False],
            "customer_id": None,
            "segment": None,
            "date": pd.NaT,
        }
    )
    table = pd.concat([table, more], ignore_index=True)
    table["external_id"] = ["x" + i for i in table["id"]]
    table["customer_id"] = "cust_1"
    table["date"] = pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"])
    return {"tone": tone, "qualification": qualification}, table


def test_scoring_from_file_to_file_chunk_by_chunk_gives_the_whole_tables_rows(tmp_path):
    from pipeline.engine import Engine, EngineConfig
    from pipeline.nlp import Analyzer, analyse_table

    models, table = _tone_qualification_and_longer_table()
    sentences, _ = analyse_table(table, Analyzer())
    config = {"queue_size": 3}
    whole, whole_sentences = score_table(table, None, models, None, config, sentences)
    assert whole["repeat_complainer"].tolist() == [False, False, False, True, False]

    table.to_parquet(tmp_path / "verbatims.parquet", index=False)
    sentences.sample(frac=1, random_state=0).to_parquet(tmp_path / "sentences.parquet", index=False)  # any order
    queue, counts = score_files(
        tmp_path / "verbatims.parquet",
        None,
        tmp_path / "sentences.parquet",
        models,
        None,
        config,
        tmp_path / "out/scored.parquet",
        tmp_path / "out/sentences.parquet",
        {"xa"},
        engine=Engine(EngineConfig(chunk_rows=2)),
    )
    scored = pd.read_parquet(tmp_path / "out/scored.parquet")
    pd.testing.assert_frame_equal(scored, whole.reset_index(drop=True))  # the repeat crosses chunks
    scored_sentences = pd.read_parquet(tmp_path / "out/sentences.parquet")
    key = ["id", "sentence_index"]
    pd.testing.assert_frame_equal(
        scored_sentences.sort_values(key, ignore_index=True), whole_sentences.sort_values(key, ignore_index=True)
    )
    pd.testing.assert_frame_equal(
        queue.reset_index(drop=True),
        review_queue(whole, pd.DataFrame({"external_id": ["xa"]}), list(models), 3).reset_index(drop=True),
    )
    assert "xa" not in queue["external_id"].tolist() and len(queue) == 3
    assert counts["verbatims"] == 5 and counts["repeat_complainer"] == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scored.parquet", "sentences.parquet"]


def test_scoring_an_empty_file_writes_every_column(tmp_path):
    from pipeline.engine import Engine, EngineConfig
    from pipeline.nlp import Analyzer, analyse_table

    models, table = _tone_qualification_and_longer_table()
    sentences, _ = analyse_table(table, Analyzer())
    table.iloc[:0].to_parquet(tmp_path / "verbatims.parquet", index=False)
    sentences.to_parquet(tmp_path / "sentences.parquet", index=False)  # of no kept verbatim: dropped
    _, counts = score_files(
        tmp_path / "verbatims.parquet",
        None,
        tmp_path / "sentences.parquet",
        models,
        None,
        {},
        tmp_path / "scored.parquet",
        tmp_path / "sentences_out.parquet",
        set(),
        engine=Engine(EngineConfig(chunk_rows=2)),
    )
    scored = pd.read_parquet(tmp_path / "scored.parquet")
    assert len(scored) == 0 and counts["sentences"] == 0
    assert {"tone", "qualification", "needs_review", "churn_risk", "repeat_complainer"} <= set(scored.columns)
    assert len(pd.read_parquet(tmp_path / "sentences_out.parquet")) == 0


def test_priority_is_raised_for_important_segments_only_from_moyen():
    escalate = {"Premium": 1, "Patrimonial": 1}
    assert cross_priority("fort", "Premium", escalate) == "critique"
    assert cross_priority("moyen", "Patrimonial", escalate) == "fort"
    assert cross_priority("minime", "Premium", escalate) == "minime"
    assert cross_priority("fort", "Particulier", escalate) == "fort"
    assert cross_priority("critique", "Premium", escalate) == "critique"


def test_repeat_complainer_flags_the_second_complaint_of_a_customer():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "customer_id": ["cust_1", "cust_1", "cust_1", None],
            "date": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01", "2026-03-01"]),
            "qualification": ["réclamation", "compliment", "incident", "réclamation"],
        }
    )
    assert repeat_complainers(table, ["réclamation", "incident"]).tolist() == [False, False, True, False]


def test_review_queue_takes_the_least_confident_unlabelled_rows():
    scored = pd.DataFrame(
        {
            "external_id": ["x1", "x2", "x3", "x4"],
            "text": ["a", "b", "c", ""],
            "has_text": [True, True, True, False],
            "tone": ["positif", "négatif", "neutre", None],
            "tone_confidence": [0.9, 0.4, 0.6, None],
        }
    )
    labels = pd.DataFrame({"external_id": ["x2"]})
    queue = review_queue(scored, labels, ["tone"], 5)
    assert queue["external_id"].tolist() == ["x3", "x1"]
    assert queue["tone"].tolist() == ["", ""] and queue["suggested_tone"].tolist() == ["neutre", "positif"]


def test_draft_reply_in_the_customer_language():
    templates = {
        "fr": {"réclamation": "Transmis au {service}.", "default": "Merci."},
        "en": {"default": "Passed to {service}."},
    }
    row = pd.Series({"lang": "en", "qualification": "réclamation", "service": "Service Qualité"})
    assert draft_reply(row, templates) == "Passed to Service Qualité."
    assert (
        draft_reply(pd.Series({"lang": "fr", "qualification": "réclamation", "service": "Service Gestion"}), templates)
        == "Transmis au Service Gestion."
    )

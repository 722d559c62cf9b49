"""The score stage's rules: mixed tone from sentences, priority x segment, repeat complainers, queue."""

import pandas as pd

from pipeline.score import cross_priority, draft_reply, repeat_complainers, review_queue, score_table


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

"""The score stage's rules: sentences, mixed tone, priority x segment, repeat complainers, queue."""

import pandas as pd

from pipeline.score import cross_priority, draft_reply, repeat_complainers, review_queue, split_sentences


def test_sentences_ignore_wrapped_lines_and_greetings():
    text = (
        "Bonjour,\n\nLe conseiller est top mais les frais\nsont scandaleux. Je reste quand même client !\nCordialement"
    )
    assert split_sentences(text) == [
        "Le conseiller est top mais les frais sont scandaleux.",
        "Je reste quand même client !",
    ]


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

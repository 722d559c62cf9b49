"""Near-duplicate detection."""

from pipeline.dedup import near_duplicates

REVIEW = "Je clôture mon compte après 12 ans : frais en hausse, conseiller injoignable, appli en panne."


def test_reposted_review_with_one_word_changed_is_flagged():
    texts = [
        REVIEW,
        "Tout autre chose, très satisfait de mon agence de Rennes et de ma conseillère.",
        REVIEW.replace("clôture", "ferme"),
    ]
    assert near_duplicates(texts, threshold=0.8) == [None, None, 0]


def test_short_identical_answers_are_not_duplicates():
    assert near_duplicates(["RAS", "RAS", "Très bien"], min_chars=40) == [None, None, None]


def test_groups_point_to_their_first_member_and_distinct_texts_stay_apart():
    texts = [
        REVIEW,
        REVIEW + " !",
        REVIEW + " !!",
        "Un texte complètement différent sur le crédit immobilier et le notaire.",
    ]
    result = near_duplicates(texts, threshold=0.8)
    assert result[:3] == [None, 0, 0]
    assert result[3] is None


def test_deterministic():
    texts = [REVIEW + str(i % 3) for i in range(30)]
    assert near_duplicates(texts) == near_duplicates(texts)

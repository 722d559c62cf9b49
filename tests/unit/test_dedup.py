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


def test_minhash_signatures_are_the_textbook_formula():
    import numpy as np

    from pipeline.dedup import _PRIME, _shingle_matrix, minhash_signatures

    matrix = _shingle_matrix([REVIEW, "", "Tout autre chose, très satisfait de mon agence."], 5)
    rng = np.random.default_rng(7)
    a = rng.integers(1, 2**31 - 1, size=8, dtype=np.uint64)
    b = rng.integers(0, 2**31 - 1, size=8, dtype=np.uint64)
    expected = np.full((3, 8), np.iinfo(np.uint64).max, dtype=np.uint64)
    for row in (0, 2):
        columns = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].astype(np.uint64)
        expected[row] = ((columns[:, None] * a + b) % _PRIME).min(axis=0)
    assert (minhash_signatures(matrix, 8, seed=7) == expected).all()

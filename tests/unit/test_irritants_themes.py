"""Irritants (aspects and categories) and the ranked themes / irritants tables."""

import pandas as pd
import pytest

from pipeline.irritants import categorise, extract_aspects, extract_aspects_from_files, french_aspects
from pipeline.nlp import Analyzer, NlpConfig, analyse_table
from pipeline.themes import build_reports, rank

CATEGORIES = {
    "attente": ["attendre", "attente", "délai", "semaine"],
    "prix et frais": ["frais", "tarif", "cotisation"],
    "e-services": ["appli", "application", "planter", "connexion"],
}


@pytest.fixture(scope="module")
def analysed():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "text": [
                "Les frais de tenue de compte sont scandaleux.",
                "Le délai de remboursement est beaucoup trop long, trois semaines d'attente.",
                "Mon conseiller est vraiment formidable.",
            ],
            "subject": None,
            "lang": "fr",
            "has_text": True,
        }
    )
    sentences, _ = analyse_table(table, Analyzer(NlpConfig()))
    return table, sentences


def test_noun_phrases_are_the_aspects(analysed):
    _, sentences = analysed
    found = [french_aspects(list(r.tokens), list(r.lemmas), list(r.pos)) for r in sentences.itertuples()]
    assert ("frais de tenue de compte", "frais de tenue de compte") in found[0]
    assert any(written.startswith("délai de remboursement") for written, _ in found[1])
    assert any(key == "conseiller" for _, key in found[2])


def test_categories_by_seed_words():
    assert categorise(["le", "délai", "être", "long"], CATEGORIES) == "attente"
    assert categorise(["appli", "planter", "encore"], CATEGORIES) == "e-services"
    assert categorise(["bonjour"], CATEGORIES) == "autre"


def _judged(sentences):
    """The score stage's tones of the three sentences: two surely negative, one surely positive."""
    return pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "sentence_index": [0, 0, 0],
            "sentence": sentences["sentence"],
            "tone": ["négatif", "négatif", "positif"],
            "tone_confidence": [0.9, 0.9, 0.95],
        }
    )


def test_aspects_take_the_sentence_tone_category_and_journey_stage(analysed):
    table, sentences = analysed
    scored_sentences = _judged(sentences)
    scored = table.assign(
        journey_stage=["facturation / paiement", "réclamation / SAV", "usage / aide"], date=pd.Timestamp("2026-01-01")
    )
    aspects = extract_aspects(sentences, scored_sentences, scored, {"categories": CATEGORIES})
    fees = aspects[aspects["id"] == "a"].iloc[0]
    assert (fees["polarity"], fees["category"], fees["journey_stage"]) == (
        "irritant",
        "prix et frais",
        "facturation / paiement",
    )
    assert set(aspects.loc[aspects["id"] == "b", "category"]) == {"attente"}
    praise = aspects[aspects["id"] == "c"].iloc[0]
    assert praise["polarity"] == "enthousiasmant" and pd.isna(praise["category"])


def test_aspects_from_files_batch_by_batch_are_those_of_the_whole_tables(analysed, tmp_path):
    table, sentences = analysed
    scored_sentences = _judged(sentences)
    scored = table.assign(
        journey_stage=["facturation / paiement", None, "usage / aide"], date=pd.Timestamp("2026-01-01")
    )
    config = {"categories": CATEGORIES}
    extract_aspects(sentences, scored_sentences, scored, config).to_parquet(tmp_path / "whole.parquet", index=False)
    sentences.iloc[::-1].to_parquet(tmp_path / "nlp.parquet", index=False)  # another order than the judged ones
    scored_sentences.to_parquet(tmp_path / "scored_sentences.parquet", index=False)
    scored.to_parquet(tmp_path / "scored.parquet", index=False)
    batched = extract_aspects_from_files(
        tmp_path / "nlp.parquet", tmp_path / "scored_sentences.parquet", tmp_path / "scored.parquet", config, 1
    )
    whole = pd.read_parquet(tmp_path / "whole.parquet")
    assert batched["id"].tolist()[0] == "a" and len(whole) >= 3
    batched.to_parquet(tmp_path / "batched.parquet", index=False)  # compared as the stage writes them
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "batched.parquet"), whole)


def _table():
    # 10 verbatims: 6 about fees (5 negative, 2 of them NPS detractors), 4 about the advisor (positive)
    dates = pd.date_range("2026-01-01", periods=10, freq="20D")
    return pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(10)],
            "text": [f"texte {i} assez long pour une citation" for i in range(10)],
            "has_text": True,
            "date": dates,
            "tone": ["négatif"] * 5 + ["neutre"] + ["positif"] * 4,
            "tone_score": [-0.8] * 5 + [0.0] + [0.9] * 4,
            "nps": [2, 5, None, 8, None, None, 10, 9, None, None],
            "journey_stage": ["facturation / paiement"] * 6 + ["usage / aide"] * 4,
        }
    )


def test_rank_volume_impact_pareto_and_nps_points_lost():
    table = _table()
    membership = pd.DataFrame({"id": table["id"], "theme": ["frais"] * 6 + ["conseiller"] * 4})
    ranked = rank(table, membership, "theme", {"trend_months": 3})
    fees = ranked.iloc[0]
    assert fees["theme"] == "frais" and fees["rank"] == 1
    assert (fees["volume"], fees["impact"], fees["impact_pct"], fees["pareto_cum_pct"]) == (6, 5, 100.0, 100.0)
    assert fees["nps_points_lost"] == pytest.approx(100 * 2 / 5)  # 2 detractors among 5 NPS answers
    assert fees["journey_stage"] == "facturation / paiement"
    assert ranked.iloc[1]["quadrant"] in {"point fort à préserver", "secondaire"}
    assert fees["quadrant"] == "zone d'urgence"


def test_build_reports_quotes_are_real_verbatims():
    table = _table()
    topics = pd.DataFrame(
        {"id": table["id"], "topic_label": ["frais"] * 6 + ["conseiller"] * 4, "theme": ["frais"] * 6 + [None] * 4}
    )
    aspects = pd.DataFrame(
        {
            "id": ["v0", "v1"],
            "sentence_index": 0,
            "sentence": ["Les frais sont scandaleux, vraiment.", "Encore des frais cachés sur mon compte."],
            "polarity": "irritant",
            "confidence": [0.9, 0.8],
            "aspect": "frais",
            "aspect_key": "frais",
            "category": "prix et frais",
            "journey_stage": "facturation / paiement",
            "date": table["date"].iloc[:2].to_numpy(),
            "lang": "fr",
        }
    )
    reports = build_reports(table, topics, aspects, {"quotes": 2})
    assert set(reports["themes"]["theme"]) == {"frais", "conseiller"}  # an unnamed topic keeps its label
    irritant = reports["irritants"].iloc[0]
    assert irritant["irritant"] == "prix et frais" and irritant["quote_ids"] == "v0 v1"
    assert irritant["quotes"].startswith("Les frais sont scandaleux")
    assert list(reports["journey"]["kind"]) == ["irritants"]

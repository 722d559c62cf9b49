"""Emotions (lexicon prior, baseline, intensity), effort signals, ideas."""

import numpy as np
import pandas as pd
import pytest

from pipeline.classify import TextClassifier, features
from pipeline.effort import effort_metrics, effort_scores, signals_of
from pipeline.emotions import intensity, lexicon_predict, lexicon_scores, load_lexicon
from pipeline.ideas import group_ideas, idea_sentences, rank_ideas


def test_intensity_rises_with_capitals_punctuation_and_intensifiers():
    loud = intensity("TRÈS DÉÇU !!!", "tristesse", 0.7)
    mild = intensity("un peu déçu", "tristesse", 0.7)
    plain = intensity("Je suis déçu.", "tristesse", 0.7)
    assert loud > plain > mild
    assert intensity("C'est le pire service que j'ai vu 😡😡", "colère", 0.7) > intensity(
        "Service décevant.", "colère", 0.7
    )
    assert intensity("Rien à signaler", "calme", 0.9) == 0.0
    assert intensity("[PERSON] a appelé", "joie", 0.7) == intensity(
        "Il a appelé", "joie", 0.7
    )  # placeholders are not shouting


def test_lexicon_baseline_and_scores():
    assert lexicon_predict(
        ["Je suis très inquiet, fraude sur ma carte", "Merci, parfait", "Le courrier est arrivé"]
    ) == [
        "peur",
        "joie",
        "calme",
    ]
    scores = lexicon_scores(["scandaleux et inadmissible", "rien"], load_lexicon(), ["colère", "joie"])
    assert scores[0, 0] == pytest.approx(2 / 3) and scores[1].sum() == 0


def test_the_lexicon_prior_helps_a_model_with_few_labels():
    texts = ["je suis furieux", "quel scandale", "très content", "merci beaucoup"] * 3
    y = ["colère", "colère", "joie", "joie"] * 3
    unseen = features(["c'est inadmissible", "je suis ravi"])
    with_prior = TextClassifier(model="logreg", C=10, char_ngram_max=0, lexicon="emotion_lexicon", lexicon_weight=3.0)
    assert list(with_prior.fit(features(texts), y).predict(unseen)) == ["colère", "joie"]


def test_effort_signals_score_and_ces_correlation():
    signals = {
        "attente": {"words": ["attendre", "attente"], "phrases": ["toujours en attente"]},
        "paperasse": {"words": ["justificatif", "formulaire"]},
    }
    assert signals_of("J'attends encore", "attendre encore", signals) == ["attente"]
    table = pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(12)],
            "text": ["Toujours en attente, 3 fois que je renvoie le formulaire"] * 4 + ["Très bien"] * 8,
            "has_text": True,
            "journey_stage": ["réclamation / SAV"] * 4 + ["usage / aide"] * 8,
            "ces": [5, 5, 4, 5, 1, 2, 1, 1, 2, 1, 2, 1],
        }
    )
    lemmas = pd.DataFrame({"id": table["id"], "lemmas": ["attente renvoyer formulaire"] * 4 + ["bien"] * 8})
    effort = effort_scores(table, lemmas, {"signals": signals, "repeat_bonus": 1})
    assert effort["effort_score"].tolist()[:2] == [3.0, 3.0] and effort["effort_score"].iloc[-1] == 0
    metrics = effort_metrics(table, effort)
    assert (
        metrics["ces_spearman"]["rho"] > 0.8 and metrics["by_journey_stage"]["réclamation / SAV"]["mean_effort"] == 3.0
    )
    # computed a few verbatims at a time (memory at a million): the same scores and signals
    pd.testing.assert_frame_equal(
        effort_scores(table, lemmas, {"signals": signals, "repeat_bonus": 1}, chunk=5), effort
    )
    calm = table.iloc[4:]  # no signal anywhere, in any chunk: integer zeros, as before
    unsignalled = effort_scores(calm, lemmas, {"signals": signals}, chunk=3)
    pd.testing.assert_frame_equal(unsignalled, effort_scores(calm, lemmas, {"signals": signals}))
    assert unsignalled["effort_score"].dtype == "int64"


def test_ideas_are_suggestion_sentences_grouped_and_ranked():
    scored = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "text": ["x", "y", "z", "w"],
            "has_text": True,
            "qualification": ["suggestion", "suggestion", "suggestion", "réclamation"],
            "modality": None,
            "tone": ["neutre", "négatif", "neutre", "négatif"],
            "tone_score": [0.0, -0.5, 0.1, -0.9],
            "customer_id": ["c1", "c2", "c1", "c3"],
        }
    )
    sentences = pd.DataFrame(
        {
            "id": ["a", "a", "b", "c", "d"],
            "sentence": [
                "Bonjour à toute l'équipe.",
                "Il faudrait un mode sombre dans l'appli.",
                "Ce serait bien d'avoir le mode sombre !",
                "Pourquoi ne pas ouvrir le samedi ?",
                "Il faudrait me rembourser.",
            ],
        }
    )
    picked = idea_sentences(scored, sentences)
    assert picked.set_index("id").loc["a", "sentence"] == "Il faudrait un mode sombre dans l'appli."
    assert "d" not in set(picked["id"])  # a complaint is no suggestion
    vectors = np.array([[1.0, 0.1], [0.95, 0.2], [0.0, 1.0]], np.float32)
    labels = group_ideas(vectors, 0.3)
    assert labels[0] == labels[1] != labels[2]
    topics = pd.DataFrame(
        {"id": ["a", "b", "c", "d"], "topic_label": ["application"] * 2 + ["agence"] * 2, "theme": None}
    )
    themes = pd.DataFrame({"theme": ["application", "agence"], "impact": [30, 5]})
    ideas = rank_ideas(picked, labels, vectors, scored, topics, themes)
    top = ideas.iloc[0]
    assert top["customers"] == 2 and top["theme"] == "application" and "mode sombre" in top["idea"]
    assert ideas["rank"].tolist() == [1, 2] and top["priority_score"] > ideas.iloc[1]["priority_score"]


def test_many_suggestions_are_grouped_from_a_sample_like_the_exact_clustering():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(3)
    directions = np.eye(8, dtype=np.float32)[:6]  # 6 ideas, far apart
    truth = rng.integers(0, 6, size=400)
    vectors = directions[truth] + rng.normal(scale=0.05, size=(400, 8)).astype(np.float32)
    exact = group_ideas(vectors, 0.3)
    sampled = group_ideas(vectors, 0.3, max_exact=50, seed=1)  # 50 clustered, 350 join their idea
    assert adjusted_rand_score(truth, exact) == 1.0
    assert adjusted_rand_score(truth, sampled) == 1.0
    lonely = np.vstack([vectors, np.eye(8, dtype=np.float32)[7:]])  # unlike every sampled idea
    labels = group_ideas(lonely, 0.3, max_exact=50, seed=1)
    assert (labels == labels[-1]).sum() == 1 and (labels >= 0).all()

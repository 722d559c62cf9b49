"""PII detection and redaction: each kind, its validators, and what must not be redacted."""

import pytest

from pipeline.engine import map_forked
from pipeline.pii import Redactor, pseudonymize


@pytest.mark.parametrize(
    ("text", "secret", "placeholder"),
    [
        ("écrivez-moi à jean.dupont+banque@gmail.com svp", "jean.dupont+banque@gmail.com", "[EMAIL]"),
        ("mon IBAN FR76 3000 6000 0112 3456 7890 189 merci", "FR76 3000 6000 0112 3456 7890 189", "[IBAN]"),
        ("IBAN: FR7630006000011234567890189.", "FR7630006000011234567890189", "[IBAN]"),
        ("carte 4970 1012 3456 7893 débitée", "4970 1012 3456 7893", "[CARD]"),
        ("carte 4556-1271-4768-2810 bloquée", "4556-1271-4768-2810", "[CARD]"),
        ("n° sécu 1 85 05 78 006 084 36 pour le dossier", "1 85 05 78 006 084 36", "[NIR]"),
        ("appelez le 06 12 34 56 78 ou 06.12.34.56.78", "06 12 34 56 78", "[PHONE]"),
        ("rappel au +33 6 12 34 56 78 demain", "+33 6 12 34 56 78", "[PHONE]"),
        ("from London +44 7700 900123", "+44 7700 900123", "[PHONE]"),
        ("mon numéro client est le 31 07 55 02.", "31 07 55 02", "[CUSTOMER_ID]"),
        ("n° client : 48213377 depuis 10 ans", "48213377", "[CUSTOMER_ID]"),
        ("réf C0482133 en objet", "C0482133", "[CUSTOMER_ID]"),
        ("j'habite 12 rue des Lilas, 69003 Lyon depuis mars", "12 rue des Lilas", "[ADDRESS]"),
        ("send it to 221B Baker Street, London please", "221B Baker Street", "[ADDRESS]"),
        ("Mme Garnier a été parfaite", "Garnier", "[PERSON]"),
        ("mon conseiller Julien Perrin ne répond pas", "Julien Perrin", "[PERSON]"),
        ("je m'appelle Hélène Vasseur et je suis cliente", "Hélène Vasseur", "[PERSON]"),
        ("Merci à Karim pour son aide", "Karim", "[PERSON]"),
    ],
)
def test_each_kind_is_redacted(rules_redactor, text, secret, placeholder):
    redacted, counts = rules_redactor.redact(text)
    assert secret not in redacted
    assert placeholder in redacted
    assert sum(counts.values()) >= 1


def test_invalid_checksums_are_not_cards(rules_redactor):
    redacted, counts = rules_redactor.redact("montant 1234 5678 9012 3456 débité")
    assert "card" not in counts  # fails Luhn: may still be redacted as a long number, never as a card


@pytest.mark.parametrize(
    "text",
    [
        "Carte perdue un samedi soir, bloquée en 10 secondes depuis l'appli.",
        "Bonne appli mais pourquoi il faut aller en agence ?",
        "Merci de répondre ici ou par mail.",
        "Les frais passent de 2 € à 4,50 € le 01/10/2025, soit 30 € par an.",
        "Banque Aurore et Aurore Mobile, franchement nuls depuis la 5.0.",
        "J'ai signé ailleurs hier, adieu.",
        "IMPOSSIBLE DE JOINDRE QUELQU'UN !!!",
        "Rendez-vous pris le 12 mars à l'agence de Lyon Part-Dieu.",
    ],
)
def test_ordinary_text_is_not_redacted(redactor, text):
    redacted, counts = redactor.redact(text)
    assert redacted == text, counts


def test_ner_finds_a_name_without_rule_context(redactor):
    redacted, counts = redactor.redact("Hier j'ai eu Sébastien Roy au téléphone, très aimable.")
    assert "Sébastien" not in redacted and "Roy" not in redacted
    assert counts["person"] == 1


def test_allow_more_protects_agency_names(rules_redactor):
    red = Redactor(rules_redactor.kinds, None, ["Aurore"], first_names=rules_redactor.first_names)
    assert "Florence" not in red.redact("la conseillère Florence Centre est top")[0]
    red.allow_more(["Florence Centre"])
    assert red.redact("la conseillère Florence Centre est top")[0] == "la conseillère Florence Centre est top"


def test_pseudonymize_is_stable_salted_and_normalised():
    a = pseudonymize(" Helene.Vasseur@Example.org ", "s1")
    assert a == pseudonymize("helene.vasseur@example.org", "s1")
    assert a != pseudonymize("helene.vasseur@example.org", "s2")
    assert a.startswith("cust_") and len(a) == 21
    assert pseudonymize(None, "s1") is None and pseudonymize("  ", "s1") is None


def test_ner_runs_only_where_it_can_add_a_name(redactor):
    # no capitalised pair and no first name: spaCy's PER entities could not pass the filter
    assert not redactor.ner_can_help("Encore des frais, c'est scandaleux. Agence fermée le samedi.")
    assert redactor.ner_can_help("J'ai vu Mme Garnier Dupuis hier.")  # two capitalised words
    assert redactor.ner_can_help("merci à julien et à Sophie")  # a known first name
    assert redactor.ner_can_help("Dossier suivi par l'équipe de Jean de La Fontaine")


def test_batched_redaction_equals_redacting_each_text_with_ner(redactor):
    texts = [
        "Bonjour, je suis Camille Martin et mon conseiller Paul Durand ne répond pas.",
        "Frais abusifs, appli en panne depuis lundi.",
        "Accueil au top à l'agence Part-Dieu, Mme Garnier très gentille",
        "Signé : Jean-Pierre Lefèvre, client depuis 20 ans",
        "",
    ]
    batched = [text for text, _ in redactor.redact_many(texts)]
    one_by_one = [redactor.redact(text)[0] for text in texts]  # NER on every text
    assert batched == one_by_one
    assert "Camille" not in batched[0] and "Durand" not in batched[0]


def test_redaction_with_ner_on_processes_equals_redaction_in_process(redactor):
    texts = [
        "Bonjour, je suis Camille Martin et mon conseiller Paul Durand ne répond pas.",
        "Accueil au top à l'agence Part-Dieu, Mme Garnier très gentille",
        "Signé : Jean-Pierre Lefèvre, client depuis 20 ans",
        "Frais abusifs, appli en panne depuis lundi.",
    ] * 3
    in_process = redactor.redact_many(texts, batch_size=2)
    assert redactor.redact_many(texts, batch_size=2, n_process=2) == in_process


def test_map_forked_keeps_the_order():
    assert map_forked(str.upper, ["a", "b", "c"], n_process=2) == ["A", "B", "C"]
    assert map_forked(str.upper, ["a", "b"], n_process=1) == ["A", "B"]

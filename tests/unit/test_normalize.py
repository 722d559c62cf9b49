"""Normalisation and language identification."""

import unicodedata

from pipeline.normalize import html_to_text, looks_like_html, normalize_text


def test_nfc_entities_invisible_and_whitespace():
    decomposed = unicodedata.normalize("NFD", "Très déçu")
    text = normalize_text(f"  {decomposed}\u200b &amp; frais\u00a0\u00a0cachés\r\n\r\n\r\n\r\nFin  ")
    assert text == "Très déçu & frais cachés\n\nFin"
    assert unicodedata.is_normalized("NFC", text)


def test_none_and_empty():
    assert normalize_text(None) == ""
    assert normalize_text("   \n\t ") == ""


def test_html_detection_and_conversion_drops_scripts():
    markup = "<p>Bonjour,<br>mon virement</p><script>alert(1)</script><style>p{}</style><div>Merci</div>"
    assert looks_like_html(markup)
    text = normalize_text(html_to_text(markup))
    assert "alert" not in text and "p{}" not in text
    assert text.split("\n") == ["Bonjour,", "mon virement", "", "Merci"]


def test_plain_text_with_angle_brackets_is_not_html():
    assert not looks_like_html("note < 3 et frais > 10 €")


def test_language_detection(detector):
    assert detector.detect("Impossible de me connecter à l'application depuis la mise à jour") == "fr"
    assert detector.detect("The app has been down for two days and nobody answers the phone") == "en"


def test_short_text_falls_back_to_declared_then_default(detector):
    assert detector.detect("ok", declared="EN") == "en"
    assert detector.detect("ok") == "fr"
    assert detector.detect("RAS", declared="de") == "fr"  # undeclared language: default

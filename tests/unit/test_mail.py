"""Email parsing: bodies, quoted history, signatures, attachments, automatic messages."""

from email.message import EmailMessage

from pipeline.readers import Reject
from pipeline.readers.mail import parse_email, strip_quoted, strip_signature


def _message(body: str, subtype: str = "plain", charset: str = "utf-8", **headers) -> bytes:
    msg = EmailMessage()
    msg["From"] = headers.get("sender", "Hélène Vasseur <helene.vasseur@example.org>")
    msg["To"] = "service.client@banque-aurore.fr"
    msg["Subject"] = headers.get("subject", "Réclamation frais")
    msg["Date"] = "Tue, 14 Oct 2025 09:12:00 +0200"
    msg["Message-ID"] = "<abc123@example.org>"
    msg.set_content(body, subtype=subtype, charset=charset)
    for name, value in headers.get("extra", {}).items():
        msg[name] = value
    return msg.as_bytes()


def test_gmail_quote_is_stripped():
    body = (
        "Toujours pas de réponse à ma réclamation.\n\n"
        "Le mar. 14 oct. 2025 à 09:12, Banque Aurore <service.client@banque-aurore.fr> a\nécrit :\n"
        "> Bonjour Madame,\n> nous revenons vers vous."
    )
    assert strip_quoted(body).strip() == "Toujours pas de réponse à ma réclamation."


def test_outlook_and_english_quotes_are_stripped():
    outlook = "Je relance.\n\n-----Message d'origine-----\nDe : Banque Aurore\nEnvoyé : lundi\nObjet : RE"
    english = "Still waiting.\nOn Tue, Oct 14, 2025 at 9:12 AM Banque Aurore <x@y.fr> wrote:\n> hello"
    bare_outlook = "Merci.\nDe : Banque Aurore <x@y.fr>\nEnvoyé : lundi 13 octobre 2025 18:00\nÀ : moi"
    assert strip_quoted(outlook).strip() == "Je relance."
    assert strip_quoted(english).strip() == "Still waiting."
    assert strip_quoted(bare_outlook).strip() == "Merci."


def test_signatures_and_mobile_footers_are_stripped():
    assert strip_signature("Ma carte est bloquée.\n\nEnvoyé de mon iPhone") == "Ma carte est bloquée."
    assert strip_signature("Texte.\n-- \nJean Dupont\n06 12 34 56 78") == "Texte."
    assert strip_signature("Texte long.\nCordialement,\nHélène Vasseur\n12 rue des Lilas") == "Texte long."
    # a closing formula in the middle of a long message is kept
    long_text = "Merci d'avance\n" + "\n".join(f"ligne {i}" for i in range(20))
    assert strip_signature(long_text) == long_text


def test_parse_plain_email():
    record = parse_email(_message("Bonjour,\nles frais ont doublé.\nCordialement,\nHélène"), "f.eml", "f.eml")
    assert record["text"].strip() == "Bonjour,\nles frais ont doublé."
    assert record["subject"] == "Réclamation frais"
    assert record["sender"] == "helene.vasseur@example.org"
    assert record["external_id"] == "abc123@example.org"
    assert record["date"].isoformat() == "2025-10-14T09:12:00+02:00"


def test_html_only_email_and_latin1():
    html = "<html><body><p>Je conteste&nbsp;les frais.</p><script>evil()</script></body></html>"
    record = parse_email(_message(html, subtype="html"), "f.eml", "1")
    assert "Je conteste" in record["text"] and "evil" not in record["text"]
    latin = parse_email(_message("Frais augmentés sans préavis.", charset="iso-8859-1"), "f.eml", "2")
    assert latin["text"] == "Frais augmentés sans préavis."


def test_attachment_names_are_kept():
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Subject"] = "Relevé"
    msg["Message-ID"] = "<x@example.org>"
    msg.set_content("Voir pièce jointe.")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="relevé_octobre.pdf")
    record = parse_email(msg.as_bytes(), "f.eml", "1")
    assert record["attachments"] == "relevé_octobre.pdf"
    assert record["text"] == "Voir pièce jointe.\n" or record["text"].strip() == "Voir pièce jointe."


def test_auto_reply_and_dsn_are_rejected():
    auto = parse_email(_message("Absent.", extra={"Auto-Submitted": "auto-replied"}), "f.eml", "1")
    dsn = parse_email(_message("Undeliverable", sender="MAILER-DAEMON@mx.example.org"), "f.eml", "2")
    ooo = parse_email(_message("Je suis absent", subject="Réponse automatique : Absent du bureau"), "f.eml", "3")
    assert all(isinstance(r, Reject) and r.reason == "auto_reply" for r in (auto, dsn, ooo))


def test_not_an_email():
    reject = parse_email(b"juste du texte\nsans en-tete\n", "f.eml", "1")
    assert isinstance(reject, Reject) and reject.reason == "not_an_email"


def test_latin1_label_with_cp1252_bytes_keeps_euro_and_apostrophe():
    raw = (
        b"From: a@example.org\r\nSubject: Frais\r\nMessage-ID: <l@example.org>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"4,50 \x80 de frais d\x92intervention\r\n"
    )
    assert parse_email(raw, "f.eml", "1")["text"].strip() == "4,50 € de frais d’intervention"


def test_sender_name_is_returned_for_redaction():
    record = parse_email(_message("Merci.\nhelene"), "f.eml", "1")
    assert record["sender_name"] == "Hélène Vasseur helene vasseur"

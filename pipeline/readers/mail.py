"""Email reader: `.eml` files and `.mbox` mailboxes, with the standard library's email parser.

For each message: the customer's own new text (text/plain preferred, else HTML turned into text),
without the quoted history ("Le ... a écrit :", "-----Message d'origine-----", "> " lines), the
signature or "Envoyé de mon iPhone"; plus subject, sender address (pseudonymised later by ingest),
date, Message-ID and attachment names. Auto-replies and delivery reports are rejected with their
reason, as are messages that cannot be parsed.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import mailbox
import re
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import IngestError
from pipeline.normalize import html_to_text
from pipeline.readers import FIELDS, ReadResult, Reject

# Where the quoted history starts: everything from the first match on is dropped.
_REPLY_HEADERS = [
    re.compile(r"^[ \t>]*Le\s[^\n]{0,160}(?:\n[^\n]{0,160}){0,2}?\s*a\s+[ée]crit\s*:?\s*$", re.M | re.I),
    re.compile(r"^[ \t>]*On\s[^\n]{0,160}(?:\n[^\n]{0,160}){0,2}?\s*wrote\s*:\s*$", re.M | re.I),
    re.compile(
        r"^[ \t]*-{2,}\s*(?:Message d'origine|Message d’origine|Original Message|Message transf[ée]r[ée]|"
        r"Forwarded message|Courriel original|Début du message réexpédié)\s*-{0,}\s*$",
        re.M | re.I,
    ),
    re.compile(r"^[ \t]*(?:Début du message réexpédié|Begin forwarded message)\s*:\s*$", re.M | re.I),
    re.compile(r"^[ \t]*\*?(?:De|From)\s*:\*?[^\n]*\n[ \t]*\*?(?:Envoy[ée]|Sent|Date|À|A|To)\s*:", re.M | re.I),
    re.compile(r"^_{10,}\s*$", re.M),
]
# Where the signature starts (searched in the last lines of the new text).
_SIGNATURE_STARTS = re.compile(
    r"^(?:--\s*|__+\s*|"
    r"Envoy[ée] (?:de|depuis) mon [^\n]*|Sent from my [^\n]*|Get Outlook for [^\n]*|Téléchargez Outlook[^\n]*|"
    r"(?:Bien |Très |Tres )?(?:cordialement|cdlt|bien à vous|bien a vous|salutations(?: distinguées)?|"
    r"sinc[èe]res salutations|meilleures salutations|bonne (?:journée|soirée)|merci d'avance|"
    r"merci par avance|dans l'attente de votre (?:retour|réponse)|best regards|kind regards|regards|"
    r"many thanks|thanks in advance|best|cheers|sincerely)[ ,.!]*)$",
    re.I,
)
_DISCLAIMER = re.compile(
    r"^(?:Ce (?:message|courriel|mail|e-mail) (?:et (?:ses|toutes les) pièces jointes )?(?:est|sont|peut)|"
    r"This (?:e-?mail|message) (?:and any attachments )?(?:is|are|may) confidential|"
    r"Avant d'imprimer|Please consider the environment|AVERTISSEMENT|DISCLAIMER|CONFIDENTIALIT)",
    re.I | re.M,
)
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:Réponse automatique|Reponse automatique|Automatic reply|Auto(?:matic)?[- ]?reply|"
    r"Out of (?:the )?office|Absen(?:ce|t) du bureau|Undeliverable|Undelivered Mail|"
    r"Delivery Status Notification|Mail delivery failed|Non remis)\b",
    re.I,
)


def strip_quoted(text: str) -> str:
    """Drop the quoted history of a reply or forward, and any remaining `> ` lines."""
    cut = len(text)
    for pattern in _REPLY_HEADERS:
        match = pattern.search(text)
        if match and match.start() < cut:
            cut = match.start()
    text = text[:cut]
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))


def strip_signature(text: str, window: int = 12) -> str:
    """Drop the signature, mobile footers and legal disclaimers at the end of a message.

    Only the last `window` non-empty lines are searched for a closing formula, so a "merci" in
    the middle of a long email is kept.
    """
    disclaimer = _DISCLAIMER.search(text)
    if disclaimer:
        text = text[: disclaimer.start()]
    lines = text.rstrip().split("\n")
    non_empty = [i for i, line in enumerate(lines) if line.strip()]
    for index in non_empty[-window:]:
        if index == non_empty[0]:
            continue  # a message that is only "Merci d'avance" keeps it
        if _SIGNATURE_STARTS.match(lines[index].strip()):
            return "\n".join(lines[:index]).rstrip()
    return "\n".join(lines).rstrip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        content = part.get_payload()
        return content if isinstance(content, str) else ""
    charset = (part.get_content_charset() or "utf-8").lower()
    # as browsers do (WHATWG): a "latin-1" label is decoded as its superset cp1252, so the
    # € and ’ that Outlook puts in such messages survive
    if charset in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso_8859-1"):
        charset = "cp1252"
    for enc in (charset, "utf-8", "cp1252", "latin-1"):
        try:
            return payload.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    return payload.decode("latin-1", errors="replace")


def message_body(msg: Message) -> str:
    """The message's text: the first text/plain part, else its HTML turned into text."""
    plain, html_part = None, None
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").lower()
        if disposition.startswith("attachment"):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and html_part is None:
            html_part = part
    if plain is not None:
        text = _part_text(plain)
        if text.strip():
            return text
    if html_part is not None:
        return html_to_text(_part_text(html_part))
    return ""


def attachment_names(msg: Message) -> list[str]:
    """Names of the attached files (the files themselves are not kept)."""
    names = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        disposition = (part.get("Content-Disposition") or "").lower()
        if filename or disposition.startswith("attachment"):
            names.append(str(filename or f"(unnamed {part.get_content_type()})"))
    return names


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return str(value).strip() if value is not None else ""
    except (ValueError, IndexError, TypeError, AttributeError):
        raw = msg.get_all(name, failobj=[""]) if hasattr(msg, "get_all") else [""]
        return str(raw[0]).strip()


def _is_automatic(msg: Message, subject: str, sender: str) -> str | None:
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return "X-Autoreply header"
    if _header(msg, "Precedence").lower() in ("auto_reply", "bulk", "junk"):
        return f"Precedence: {_header(msg, 'Precedence')}"
    if msg.get_content_type() == "multipart/report":
        return "delivery status report"
    if re.match(r"^(mailer-daemon|postmaster)@", sender, re.I):
        return f"sent by {sender.split('@')[0]}"
    if _AUTO_SUBJECT.match(subject):
        return f"subject {subject[:40]!r}"
    return None


def parse_email(data: bytes, file: str, position: str) -> dict[str, Any] | Reject:
    """Parse one message into a record, or a `Reject` saying why it cannot be used."""
    if not data.strip():
        return Reject(file, position, "empty_file", "0 bytes of content")
    try:
        msg: EmailMessage = email.message_from_bytes(data, policy=email.policy.default)
        has_headers = any(msg.get(h) is not None for h in ("From", "Date", "Subject", "Message-ID", "To"))
        if not has_headers:
            return Reject(file, position, "not_an_email", "no From/Date/Subject/To header found")
        subject = _header(msg, "Subject")
        sender, sender_name = "", ""
        try:
            addresses = msg["From"].addresses if msg["From"] is not None else ()
            sender = addresses[0].addr_spec.lower() if addresses else ""
            sender_name = addresses[0].display_name if addresses else ""
        except (AttributeError, IndexError, TypeError, ValueError):
            sender_name, sender = email.utils.parseaddr(_header(msg, "From"))
            sender = sender.lower()
        automatic = _is_automatic(msg, subject, sender)
        if automatic:
            return Reject(file, position, "auto_reply", automatic, subject[:120])
        date = None
        date_header = _header(msg, "Date")
        if date_header:
            try:
                date = email.utils.parsedate_to_datetime(date_header)
            except (TypeError, ValueError, IndexError):
                date = None
        body = message_body(msg).replace("\r\n", "\n")
        text = strip_signature(strip_quoted(body))
        message_id = _header(msg, "Message-ID").strip().strip("<>").strip()
        defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    except Exception as exc:  # noqa: BLE001 - a broken message must be quarantined, not crash the run
        return Reject(file, position, "unparseable_email", f"{type(exc).__name__}: {exc}"[:200])
    return {
        "text": text,
        "subject": subject,
        "date": date if date is not None else date_header or None,
        "external_id": message_id or None,
        "sender": sender or None,
        "sender_name": " ".join(filter(None, [sender_name, sender.split("@")[0].replace(".", " ")])) or None,
        "attachments": "; ".join(attachment_names(msg)),
        "raw_body": body,
        "raw_headers": "\n".join(
            f"{h}: {_header(msg, h)}" for h in ("From", "To", "Cc", "Subject", "Date") if _header(msg, h)
        ),
        "x_mime_defects": ", ".join(defects),
        "_file": file,
        "_position": position,
    }


def _result(parsed: list[dict[str, Any] | Reject], info: dict[str, Any]) -> ReadResult:
    records = [p for p in parsed if isinstance(p, dict)]
    rejects = [p for p in parsed if isinstance(p, Reject)]
    columns = [
        "text",
        "subject",
        "date",
        "external_id",
        "sender",
        "sender_name",
        "attachments",
        "raw_body",
        "raw_headers",
        "x_mime_defects",
        "_file",
        "_position",
    ]
    frame = pd.DataFrame(records, columns=columns)
    for field_name in FIELDS:  # emails have no rating, segment...: the columns exist, empty
        if field_name not in frame.columns:
            frame[field_name] = None
    return ReadResult(frame, rejects, info)


def read_eml_dir(path: str | Path, pattern: str = "*.eml") -> ReadResult:
    """Read every `.eml` file of a folder (or one `.eml` file)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob(pattern))
    if not files:
        raise IngestError(f"{path}: no file matching {pattern!r}; check the source's path in params.yaml.")
    parsed = [parse_email(f.read_bytes(), str(f), f.name) for f in files]
    return _result(parsed, {"files": len(files)})


def read_mbox(path: str | Path) -> ReadResult:
    """Read every message of an mbox file."""
    path = Path(path)
    head = path.read_bytes()[:5]
    if not head:
        raise IngestError(f"{path}: the mailbox is empty.")
    if head != b"From ":
        raise IngestError(
            f"{path}: not an mbox file (it must start with a 'From ' line). If it is one message, "
            "name it .eml and set `format: eml`."
        )
    box = mailbox.mbox(str(path), create=False)
    try:
        parsed = [
            parse_email(box.get_bytes(key), str(path), f"message {index + 1}")
            for index, key in enumerate(box.iterkeys())
        ]
    finally:
        box.close()
    return _result(parsed, {"messages": len(parsed)})

"""Text normalisation and language identification, shared by every reader.

Pure functions: Unicode NFC, HTML entities and markup, invisible characters, whitespace; and a
language identifier restricted to the languages the project expects.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

from bs4 import BeautifulSoup

# Zero-width and bidi control characters that survive copy-paste from apps and mail clients.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad]")
# C0/C1 control characters except tab and newline.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u202f\u2007]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_HTML_HINT = re.compile(
    r"<\s*(html|body|div|p|br|span|table|td|tr|font|b|i|u|strong|em|ul|li|a|img|style|script|o:p)\b[^>]*>",
    re.IGNORECASE,
)
_BLOCK_TAGS = ["p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"]


def looks_like_html(text: str) -> bool:
    """Tell whether a field holds HTML markup rather than plain text."""
    return len(_HTML_HINT.findall(text)) >= 1 and ("</" in text or "<br" in text.lower())


def html_to_text(markup: str) -> str:
    """Turn an HTML document or fragment into plain text.

    Scripts, styles and the head are dropped (never shown, never executed); block elements become
    line breaks so paragraphs survive.
    """
    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "head", "title", "meta", "noscript", "template"]):
        tag.decompose()
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return soup.get_text()


def normalize_text(text: str | None) -> str:
    """Normalise one verbatim: NFC, HTML entities, invisible characters and whitespace.

    Line breaks are kept (at most one empty line in a row): paragraphs carry meaning in emails.
    """
    if text is None:
        return ""
    text = str(text)
    if "&" in text:
        text = html.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    text = _MANY_NEWLINES.sub("\n\n", text)
    return text.strip()


class LanguageDetector:
    """py3langid restricted to the expected languages, with a fallback for short texts.

    On very short texts ("ok", "RAS", "Top 👍") any identifier guesses; below `min_letters` letters
    or under `min_confidence`, the declared language (if valid) or the default is used instead.
    """

    def __init__(
        self,
        languages: Iterable[str] = ("fr", "en"),
        default: str = "fr",
        min_letters: int = 12,
        min_confidence: float = 0.8,
    ) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.languages = [lang.lower() for lang in languages]
        self.default = default
        self.min_letters = min_letters
        self.min_confidence = min_confidence
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(self.languages)

    def detect(self, text: str, declared: str | None = None) -> str:
        """Return the language code of `text`, using `declared` when the text is too short."""
        declared_ok = None
        if declared:
            code = str(declared).strip().lower()[:2]
            declared_ok = code if code in self.languages else None
        letters = sum(ch.isalpha() for ch in text)
        if letters >= self.min_letters:
            lang, confidence = self._identifier.classify(text)
            if confidence >= self.min_confidence:
                return lang
        return declared_ok or self.default

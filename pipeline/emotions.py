"""Emotions: the lexicon prior, the lexicon-only baseline, and intensity.

Six primary emotions (joie, surprise, peur, colère, tristesse, dégoût) or `calme` (neutral).
The classifier of the `emotion` target (params.yaml `train.targets`) learns them from the gold
labels; the lexicon `pipeline/resources/emotion_lexicon.csv` (voix's own: ~120 French and English
words, one emotion each, written for customer messages: "scandaleux" → colère, "inquiet" → peur,
"déçu" → tristesse, "soulagé" → joie...) is added to its features as a prior (`train.lexicons`),
and alone it is the baseline the classifier is compared with (`metrics/train.json`).

Intensity (0 to 1) of a verbatim's or a sentence's emotion: the classifier's confidence in it,
raised by what makes an emotion louder in writing — words in capitals ("TRÈS DÉÇU"), repeated
punctuation ("!!!", "?!"), emojis, intensifiers ("très", "vraiment", "tellement", "so"),
superlatives ("le pire", "jamais vu", "worst") and several emotion words — and lowered by
attenuators ("un peu", "assez", "légèrement", "a bit"). `calme` has intensity 0.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

RESOURCES = Path(__file__).parent / "resources"
EMOTIONS = ["joie", "surprise", "peur", "colère", "tristesse", "dégoût"]
NEUTRAL = "calme"

_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*", re.UNICODE)
_CAPS = re.compile(r"\b[^\W\d_a-zàâäçéèêëîïôöùûüÿœæ]{4,}\b", re.UNICODE)
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
ACRONYMS = {"IBAN", "SEPA", "CNIL", "HTML", "VISA", "SWIFT", "BANK", "ATM", "FAQ"}
_REPEATED = re.compile(r"[!?]{2,}")
_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
INTENSIFIERS = {
    "très",
    "trop",
    "vraiment",
    "tellement",
    "extrêmement",
    "totalement",
    "complètement",
    "absolument",
    "hyper",
    "ultra",
    "si",
    "super",
    "énormément",
    "particulièrement",
    "so",
    "very",
    "really",
    "extremely",
    "totally",
    "absolutely",
    "incredibly",
}
SUPERLATIVES = re.compile(
    r"\b(?:le pire|la pire|les pires|jamais vu|du jamais|le plus|la plus|les plus|le meilleur|la meilleure|"
    r"worst|best ever|never seen|the most)\b",
    re.I,
)
ATTENUATORS = re.compile(r"\b(?:un peu|assez|légèrement|plutôt|un brin|a bit|a little|slightly|somewhat)\b", re.I)


@lru_cache(maxsize=4)
def load_lexicon(name: str = "emotion_lexicon") -> dict[str, str]:
    """word (lower case) -> emotion, from `pipeline/resources/<name>.csv`."""
    with open(RESOURCES / f"{name}.csv", encoding="utf-8") as handle:
        return {row["word"].lower(): row["emotion"] for row in csv.DictReader(handle)}


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text or "")]


def lexicon_scores(texts: list[str], lexicon: dict[str, str], labels: list[str]) -> np.ndarray:
    """(n, len(labels)): the share of each label among a text's lexicon words, scaled by how many
    there are (1 word: 0.5, 3 words: 0.75), zeros when none."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(texts), len(labels)), dtype=np.float32)
    for row, text in enumerate(texts):
        hits = [lexicon[w] for w in words(text) if w in lexicon and lexicon[w] in index]
        if hits:
            for label in hits:
                out[row, index[label]] += 1.0
            out[row] *= (len(hits) / (len(hits) + 1.0)) / len(hits)
    return out


def lexicon_predict(texts: list[str], lexicon: dict[str, str] | None = None) -> list[str]:
    """The lexicon-only baseline: the most frequent emotion word's emotion, else `calme`."""
    lexicon = lexicon or load_lexicon()
    scores = lexicon_scores(texts, lexicon, EMOTIONS)
    return [EMOTIONS[int(s.argmax())] if s.max() > 0 else NEUTRAL for s in scores]


def intensity(text: str, emotion: str, confidence: float, lexicon: dict[str, str] | None = None) -> float:
    """How strongly the emotion is expressed, 0 (calm) to 1."""
    if emotion == NEUTRAL or not text:
        return 0.0
    lexicon = lexicon or load_lexicon()
    tokens = words(text)
    score = 0.35 + 0.25 * float(confidence)
    caps = sum(1 for w in _CAPS.findall(_PLACEHOLDER.sub(" ", text)) if w not in ACRONYMS)
    score += min(0.2, 0.1 * caps)
    score += min(0.15, 0.075 * len(_REPEATED.findall(text)))
    score += min(0.1, 0.05 * len(_EMOJI.findall(text)))
    score += min(0.15, 0.075 * sum(1 for t in tokens if t in INTENSIFIERS))
    score += 0.1 if SUPERLATIVES.search(text) else 0.0
    score += min(0.1, 0.05 * max(0, sum(1 for t in tokens if t in lexicon) - 1))
    score -= 0.2 * len(ATTENUATORS.findall(text))
    return round(float(np.clip(score, 0.05, 1.0)), 3)

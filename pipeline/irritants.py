"""Stage `irritants`: what is judged in negative (irritants) and positive (enthousiasmants) sentences.

In:  `data/interim/sentences.parquet` (nlp: tokens, lemmas, parts of speech per sentence),
     `data/processed/sentences.parquet` (score: tone per sentence),
     `data/processed/verbatims.parquet` (scored: journey stage, date, ...).
Out: `data/processed/aspects.parquet`: one row per aspect found in a judged sentence: the verbatim,
     the sentence, the aspect as written ("frais de tenue de compte") and its normalised key
     (lemmas), polarity, irritant category, journey stage.

Aspects: French noun phrases from the parts of speech (NOUN, then "de/d'/du/des/à/en" + NOUN
chains and adjectives: "délai de remboursement", "frais de tenue de compte", "application
bancaire"), plus "NOUN qui VERB" ("appli qui plante"); English sentences (not tagged) give their
content-lemma pairs. An aspect is normalised by its lemmas, so "délais de remboursement" and "le
délai de remboursement" count together.

Irritant category of a negative sentence: the category of `irritants.categories` (params.yaml)
whose seed words the sentence uses most (first five letters of each word); "autre" otherwise.
Each aspect takes its sentence's category and its verbatim's journey stage.

Run: python -m pipeline.irritants NLP_SENTENCES SCORED_SENTENCES SCORED ASPECTS_OUT
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("voix.irritants")

_LINKS = {"de", "d'", "du", "des", "à", "au", "aux", "en", "d’"}
_DETS = {"la", "le", "l'", "l’", "les"}
# nouns that are never what is judged (dates, politeness, the customer himself); params add more
_GENERIC = {
    "chose",
    "truc",
    "fois",
    "jour",
    "an",
    "année",
    "mois",
    "semaine",
    "heure",
    "minute",
    "euro",
    "bonjour",
    "merci",
    "madame",
    "monsieur",
    "matin",
    "soir",
    "midi",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "personne",
    "client",
    "cliente",
    "gens",
    "moment",
    "cas",
    "part",
    "fin",
    "salutation",
    "expression",
    "considération",
    "distingué",
    "distinguée",
    "sentiment",
    "directeur",
}
# the columns of data/processed/aspects.parquet
NLP_COLUMNS = ["id", "sentence_index", "lang", "tokens", "lemmas", "pos"]  # what is read of the nlp sentences
ASPECT_COLUMNS = [
    "id", "sentence_index", "sentence", "polarity", "confidence", "aspect", "aspect_key",
    "category", "journey_stage", "date", "lang",
]  # fmt: skip
_PLACEHOLDER_WORDS = {"person", "email", "iban", "card", "nir", "phone", "customer_id", "address", "number"}


def french_aspects(
    tokens: list[str], lemmas: list[str], pos: list[str], generic: set[str] = frozenset()
) -> list[tuple[str, str]]:
    """(as written, normalised key) of the noun phrases of one tagged sentence."""
    generic = _GENERIC | set(generic)
    out = []
    n = len(tokens)
    i = 0
    while i < n:
        if (
            pos[i] != "NOUN"
            or len(tokens[i]) < 3
            or not tokens[i][0].isalpha()  # "-vous" of "pouvez-vous" is no noun
            or lemmas[i].lower() in _GENERIC
            or (tokens[i].isupper() and tokens[i].lower() in _PLACEHOLDER_WORDS)
        ):
            i += 1
            continue
        start, end = i, i + 1
        while end < n:
            if pos[end] == "ADJ":
                end += 1
                continue
            # "de (la) NOUN" chains: "frais de tenue de compte"
            j = end
            if j < n and tokens[j].lower() in _LINKS:
                j += 1
                if j < n and tokens[j].lower() in _DETS:
                    j += 1
                if j < n and pos[j] == "NOUN":
                    end = j + 1
                    continue
            break
        # "appli qui plante"
        if end + 1 < n and tokens[end].lower() == "qui" and pos[end + 1] == "VERB":
            end += 2
        words = tokens[start:end]
        if end - start == 1 and lemmas[start].lower() in generic:
            i = end
            continue  # "compte" alone says nothing; "compte joint", "frais de tenue de compte" do
        key = " ".join(
            lemma.lower() for lemma, p in zip(lemmas[start:end], pos[start:end], strict=True) if p not in ("DET",)
        )
        out.append((" ".join(words).lower().replace("' ", "'"), key))
        i = end
    return out


def english_aspects(lemmas: list[str], content: list[str]) -> list[tuple[str, str]]:
    """Untagged sentences: consecutive content-lemma pairs ("account fee", "app crash")."""
    content = set(content)
    words = [w for w in lemmas if w in content and w not in _PLACEHOLDER_WORDS]
    return [(f"{a} {b}", f"{a} {b}") for a, b in zip(words, words[1:], strict=False)][:3]


def _stems(words: list[str]) -> set[str]:
    return {w.lower()[:5] for w in words if len(w) >= 3}


def _category_seeds(categories: dict[str, list[str]]) -> list[tuple[str, list[set[str]]]]:
    """Each category with the stems of its seeds (a seed with no word of 3 letters or more never matches)."""
    seeds = {name: [_stems(seed.replace("-", " ").split()) for seed in words] for name, words in categories.items()}
    return [(name, [stems for stems in seed_stems if stems]) for name, seed_stems in seeds.items()]


def _best_category(stems: set[str], seeds: list[tuple[str, list[set[str]]]]) -> str:
    best, best_score = "autre", 0
    for name, seed_stems in seeds:
        score = sum(1 for seed in seed_stems if seed <= stems)
        if score > best_score:
            best, best_score = name, score
    return best


def categorise(lemmas: list[str], categories: dict[str, list[str]]) -> str:
    """The irritant category whose seed words the sentence uses most ("autre" if none)."""
    return _best_category(_stems(lemmas), _category_seeds(categories))


def _sentence_aspects(
    tokens: list[str], lemmas: list[str], pos: list[str], lang: str, generic: set[str]
) -> list[tuple[str, str]]:
    """The aspects of one sentence: noun phrases in French, content-lemma pairs in English."""
    if lang == "en":
        content = [lemma for lemma in lemmas if len(lemma) > 2 and lemma.isalpha() and lemma not in _EN_STOP]
        return english_aspects([w.lower() for w in lemmas], content)
    return french_aspects(tokens, lemmas, pos, generic)


def judged_sentences(scored_sentences: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """The surely positive or negative sentences (`irritants.min_sentence_confidence`)."""
    threshold = float(config.get("min_sentence_confidence", 0.6))
    return scored_sentences[
        scored_sentences["tone"].isin(["négatif", "positif"]) & (scored_sentences["tone_confidence"] >= threshold)
    ]


def extract_aspects(
    nlp_sentences: pd.DataFrame, scored_sentences: pd.DataFrame, scored: pd.DataFrame, config: dict[str, Any]
) -> pd.DataFrame:
    """One row per aspect of every surely positive or negative sentence."""
    judged = judged_sentences(scored_sentences, config)
    merged = judged.merge(
        nlp_sentences[NLP_COLUMNS],
        on=["id", "sentence_index"],
        how="inner",
        suffixes=("", "_nlp"),
    )
    seeds = _category_seeds(config.get("categories", {}))
    generic = {w.lower() for w in config.get("generic_nouns", [])}
    negative = (merged["tone"] == "négatif").to_numpy()
    found = [
        _sentence_aspects(list(tokens), list(lemmas), list(pos), lang, generic)
        for tokens, lemmas, pos, lang in zip(
            merged["tokens"], merged["lemmas"], merged["pos"], merged["lang"], strict=True
        )
    ]
    categories = [
        _best_category(_stems(lemmas), seeds) if neg else None
        for lemmas, neg in zip(merged["lemmas"], negative, strict=True)
    ]
    if not any(found):
        return pd.DataFrame(columns=ASPECT_COLUMNS)
    rows = np.repeat(np.arange(len(merged)), [len(f) for f in found])  # one row per aspect, of its sentence
    sentences = merged.iloc[rows].reset_index(drop=True)
    aspects = [aspect for f in found for aspect in f]
    info = scored.set_index("id")
    return pd.DataFrame(
        {
            "id": sentences["id"],
            "sentence_index": sentences["sentence_index"],
            "sentence": sentences["sentence"],
            "polarity": np.where(negative[rows], "irritant", "enthousiasmant").tolist(),
            "confidence": sentences["tone_confidence"].astype(float),
            "aspect": [written for written, _ in aspects],
            "aspect_key": [key for _, key in aspects],
            "category": [categories[i] for i in rows],
            "journey_stage": sentences["id"].map(info["journey_stage"]) if "journey_stage" in info else None,
            "date": sentences["id"].map(info["date"]) if "date" in info else None,
            "lang": sentences["lang"],
        },
        columns=ASPECT_COLUMNS,
    )


def _english_stop_words() -> set[str]:
    """spaCy's English stop words, read from their module without importing spaCy (seconds of imports)."""
    import importlib.util

    package = importlib.util.find_spec("spacy")
    path = Path(package.submodule_search_locations[0]) / "lang" / "en" / "stop_words.py"
    spec = importlib.util.spec_from_file_location("_voix_en_stop_words", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.STOP_WORDS)


_EN_STOP = _english_stop_words()


def extract_aspects_from_files(
    nlp_sentences: Path, scored_sentences: Path, scored: Path, config: dict[str, Any], batch_rows: int = 100_000
) -> pd.DataFrame:
    """`extract_aspects` with the `nlp` sentences read `batch_rows` at a time.

    Their tokens, lemmas and parts of speech become Python lists only batch by batch (held whole
    they would be ~45 Python strings a sentence: gigabytes at a million verbatims); of the other
    files only the columns used are read. Same rows, in the same order, as on the whole tables.
    """
    import pyarrow.parquet as pq

    from pipeline.chunked import read_columns

    judged = judged_sentences(  # once, not again for every batch
        pd.read_parquet(scored_sentences, columns=["id", "sentence_index", "sentence", "tone", "tone_confidence"]),
        config,
    )
    info = read_columns(scored, ["id", "journey_stage", "date"])
    parts = [
        extract_aspects(batch.to_pandas(), judged, info, config)
        for batch in pq.ParquetFile(nlp_sentences).iter_batches(batch_size=batch_rows, columns=NLP_COLUMNS)
    ]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=ASPECT_COLUMNS)
    aspects = pd.concat(parts, ignore_index=True)
    # the order of the judged sentences, as on the whole tables (the files usually agree already)
    order = judged[["id", "sentence_index"]].reset_index(drop=True).reset_index(names="_order")
    position = aspects[["id", "sentence_index"]].merge(order, on=["id", "sentence_index"], how="left")["_order"]
    return aspects.iloc[np.argsort(position.to_numpy(), kind="stable")].reset_index(drop=True)


def main(
    nlp_sentences: Path,
    scored_sentences: Path,
    scored: Path,
    aspects_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Extract the irritants and enthousiasmants of every judged sentence."""
    from pipeline.params import load_params

    config = load_params(params_file).get("irritants", {})
    aspects = extract_aspects_from_files(nlp_sentences, scored_sentences, scored, config)
    Path(aspects_out).parent.mkdir(parents=True, exist_ok=True)
    aspects.to_parquet(aspects_out, index=False)
    counts = aspects.groupby("polarity")["id"].nunique().to_dict() if len(aspects) else {}
    log.info("%d aspects in %s verbatims", len(aspects), counts)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

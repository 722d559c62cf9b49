"""Readers: one module per kind of file, all returning the same `ReadResult`.

A reader turns a file into raw records (one row each, the file's own column names, plus
`_file` and `_position`) and read-level rejects (a malformed line, a broken email) with their
reason. `map_columns` then renames the file's columns to voix's fields as `params.yaml` says.
`SourceReader` does both for one source of `params.yaml`, chunk by chunk: CSV and JSON Lines are
streamed, never whole in memory. Nothing is normalised or redacted here: that is
`pipeline.ingest`'s job.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import engine
from pipeline.errors import IngestError

# voix's record fields, filled from a source's columns.
FIELDS = (
    "text",
    "subject",
    "date",
    "external_id",
    "rating",
    "nps",
    "ces",
    "csat",
    "customer_id",
    "segment",
    "product",
    "agency",
    "site",
    "touchpoint",
    "lang",
)


@dataclass
class Reject:
    """A record that could not be used, and why."""

    file: str
    position: str
    reason: str
    detail: str = ""
    excerpt: str = ""


@dataclass
class ReadResult:
    """What a reader returns: records, read-level rejects and facts about the file(s)."""

    records: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def header_key(name: Any) -> str:
    """Normalise a column name for matching (case, accents kept, spaces and BOM folded)."""
    text = unicodedata.normalize("NFC", str(name)).replace("\ufeff", "")
    return " ".join(text.split()).casefold()


def map_columns(
    records: pd.DataFrame,
    columns: dict[str, str],
    extra: list[str] | None,
    source: str,
    path: str | Path,
) -> pd.DataFrame:
    """Rename the file's columns to voix's fields.

    Args:
        records: raw records with the file's own column names (plus `_file`, `_position`).
        columns: mapping voix field -> file column, from `params.yaml`.
        extra: other file columns to keep, renamed `x_<name>`.
        source: source name, for messages.
        path: file path, for messages.

    Raises:
        IngestError: a mapped column is missing; the message lists the columns found.
    """
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise IngestError(
            f"params.yaml ingest.sources.{source}.columns: unknown field(s) {unknown}; valid fields are {list(FIELDS)}."
        )
    if "text" not in columns and "subject" not in columns:
        raise IngestError(
            f"params.yaml ingest.sources.{source}.columns must map `text` (or at least `subject`) "
            "to the file column holding the verbatim."
        )
    available = {header_key(c): c for c in records.columns if not str(c).startswith("_")}
    wanted = {**{f: c for f, c in columns.items()}, **{f"x_{_slug(c)}": c for c in (extra or [])}}
    missing = [c for c in wanted.values() if header_key(c) not in available]
    if missing:
        found = [c for c in records.columns if not str(c).startswith("_")]
        raise IngestError(
            f"{path}: column(s) {missing} not found (source `{source}`). Columns in the file: {found}. "
            f"Fix: correct ingest.sources.{source}.columns (or extra) in params.yaml, or check the "
            "header row of the file."
        )
    out = pd.DataFrame(index=records.index)
    for field_name, column in wanted.items():
        out[field_name] = records[available[header_key(column)]]
    for meta in ("_file", "_position", "attachments", "sender", "sender_name", "raw_body", "raw_headers"):
        if meta in records.columns:
            out[meta] = records[meta]
    for field_name in FIELDS:
        if field_name not in out.columns:
            out[field_name] = None
    return out


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in header_key(name)).strip("_")


STREAMED = ("csv", "jsonl", "ndjson")
FORMATS = ("csv", "xlsx", "xlsm", "json", "jsonl", "ndjson", "eml", "mbox")


class SourceReader:
    """One source of `params.yaml`: its records mapped to voix's fields, a chunk at a time.

    CSV and JSON Lines files are streamed (a block of bytes at a time), so a million-row export is
    never whole in memory; XLSX workbooks, JSON arrays and emails are read whole, then handed out
    in chunks. What can be checked before the rows (the file, the format, the mapped columns) raises
    `IngestError` here. `rejects`, `info` and `n_records` are complete once `chunks()` is done.
    """

    def __init__(self, config: dict[str, Any], source: str, path: str | Path | None = None) -> None:
        self.config, self.source = config, source
        self.path = Path(path or config["path"])
        if not self.path.exists():
            raise IngestError(f"{self.path}: file or folder not found (source `{source}` in params.yaml).")
        self.format = config.get("format", self.path.suffix.lstrip(".")).lower()
        if self.format not in FORMATS:
            raise IngestError(
                f"source `{source}`: unknown format `{self.format}`; use csv, xlsx, json, jsonl, eml or mbox."
            )
        self.rejects: list[Reject] = []
        self.info: dict[str, Any] = {}
        self.n_records = 0
        self._whole: ReadResult | None = None
        if self.format in STREAMED:
            self._columns = self._stream().columns
            self._map(pd.DataFrame(columns=self._columns))  # a missing column fails before any row
        else:
            self._whole = self._read_whole()
            self.rejects, self.info, self.n_records = self._whole.rejects, self._whole.info, len(self._whole.records)

    @property
    def known_records(self) -> int | None:
        """How many records, when known before reading them (the formats read whole)."""
        return None if self._whole is None else self.n_records

    def chunks(self, rows: int) -> Iterator[pd.DataFrame]:
        """The mapped records, `rows` at a time, in the file's order (one empty chunk when there is none)."""
        if self._whole is not None:
            yield from engine.chunks(self._whole.records, rows)
            return
        stream = self._stream()
        self.rejects, self.n_records = stream.rejects, 0
        empty = True
        for batch in _batches(stream, max(1, rows)):
            self.n_records += len(batch)
            empty = False
            yield self._frame(batch)
        if empty:
            yield self._frame([])
        self.info = stream.info

    def distinct(self, fields: Iterable[str], rows: int = 50_000) -> set[str]:
        """Every value the source gives these fields, as text (a pass of its own over a streamed file)."""
        fields = tuple(fields)
        mapped = self._whole is not None or any(f in self.config.get("columns", {}) for f in fields)
        if not mapped:  # a field no column fills is empty: no pass needed
            return set()
        values: set[str] = set()
        if self._whole is not None:
            parts: Iterable[pd.DataFrame] = [self._whole.records]
        else:
            parts = (self._frame(batch) for batch in _batches(self._stream(), rows))
        for part in parts:
            for name in fields:
                values.update(str(v) for v in part[name] if not _missing(v))
        return values

    def _stream(self) -> Any:
        from pipeline.readers import tabular

        if self.format == "csv":
            return tabular.CsvRecords(
                self.path, encoding=self.config.get("encoding", "auto"), delimiter=self.config.get("delimiter", "auto")
            )
        return tabular.JsonlRecords(self.path)

    def _read_whole(self) -> ReadResult:
        from pipeline.readers import mail, tabular

        config = self.config
        if self.format == "eml":
            return mail.read_eml_dir(self.path, pattern=config.get("pattern", "*.eml"))
        if self.format == "mbox":
            return mail.read_mbox(self.path)
        if self.format == "json":
            result = tabular.read_json(self.path, lines=False, records_path=config.get("records_path"))
        else:
            result = tabular.read_xlsx(
                self.path, sheet=config.get("sheet"), required=list(config.get("columns", {}).values())
            )
        result.records = self._map(result.records)
        return result

    def _frame(self, batch: list[dict[str, Any]]) -> pd.DataFrame:
        """Streamed records as a mapped table; cells keep the file's values (no type guessed per chunk)."""
        return self._map(pd.DataFrame(batch, columns=self._columns, dtype=object))

    def _map(self, records: pd.DataFrame) -> pd.DataFrame:
        return map_columns(records, self.config.get("columns", {}), self.config.get("extra"), self.source, self.path)


def _batches(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def read_source(config: dict[str, Any], source: str, path: str | Path | None = None) -> ReadResult:
    """Read one source as configured in `params.yaml`, whole, with its columns mapped to voix's fields."""
    reader = SourceReader(config, source, path)
    records = pd.concat(list(reader.chunks(50_000)), ignore_index=True)
    return ReadResult(records, reader.rejects, reader.info)

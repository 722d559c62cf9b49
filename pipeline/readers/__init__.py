"""Readers: one module per kind of file, all returning the same `ReadResult`.

A reader turns a file into raw records (one row each, the file's own column names, plus
`_file` and `_position`) and read-level rejects (a malformed line, a broken email) with their
reason. `map_columns` then renames the file's columns to voix's fields as `params.yaml` says.
Nothing is normalised or redacted here: that is `pipeline.ingest`'s job.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

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


def read_source(config: dict[str, Any], source: str, path: str | Path | None = None) -> ReadResult:
    """Read one source as configured in `params.yaml` and map its columns to voix's fields."""
    from pipeline.readers import mail, tabular

    path = Path(path or config["path"])
    if not path.exists():
        raise IngestError(f"{path}: file or folder not found (source `{source}` in params.yaml).")
    fmt = config.get("format", path.suffix.lstrip(".")).lower()
    if fmt == "csv":
        result = tabular.read_csv(
            path, encoding=config.get("encoding", "auto"), delimiter=config.get("delimiter", "auto")
        )
    elif fmt in ("xlsx", "xlsm"):
        result = tabular.read_xlsx(path, sheet=config.get("sheet"), required=list(config.get("columns", {}).values()))
    elif fmt in ("json", "jsonl", "ndjson"):
        result = tabular.read_json(path, lines=fmt != "json", records_path=config.get("records_path"))
    elif fmt == "eml":
        return mail.read_eml_dir(path, pattern=config.get("pattern", "*.eml"))
    elif fmt == "mbox":
        return mail.read_mbox(path)
    else:
        raise IngestError(f"source `{source}`: unknown format `{fmt}`; use csv, xlsx, json, jsonl, eml or mbox.")
    result.records = map_columns(result.records, config.get("columns", {}), config.get("extra"), source, path)
    return result

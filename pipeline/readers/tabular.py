"""Readers for tabular exports: CSV (encoding and delimiter detection), XLSX, JSON and JSON Lines.

Each returns a `ReadResult` whose records keep the file's own column names; malformed rows are
returned as rejects with their line number and reason, never dropped silently.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import IngestError
from pipeline.readers import ReadResult, Reject, header_key

DELIMITERS = [";", ",", "\t", "|"]
# Verbatims can be long; huge ones are quarantined by ingest (max_chars), not cut by the parser.
csv.field_size_limit(2**31 - 1)
_EXCERPT = 120


def decode_bytes(data: bytes, encoding: str = "auto", path: str | Path = "") -> tuple[str, str]:
    """Decode a text file, detecting its encoding when asked.

    Detection order: BOM (utf-8-sig, utf-16), strict utf-8, then per line: lines that are not
    valid utf-8 are read as cp1252 (latin-1 for the few bytes cp1252 leaves undefined). A file
    mixing both (two exports concatenated) is reported as `mixed`.

    Returns:
        The text and the name of the encoding used.
    """
    if encoding and encoding != "auto":
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise IngestError(
                f"{path}: cannot be decoded as {encoding} ({exc}). Fix: set `encoding: auto` "
                "for this source in params.yaml, or the file's real encoding."
            ) from None
    if data.startswith(codecs.BOM_UTF8):
        text, enc = _decode_utf8_or_mixed(data[len(codecs.BOM_UTF8) :])
        return text, "utf-8-sig" if enc == "utf-8" else enc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    head = data[:4096]
    if head and head.count(b"\x00") > len(head) // 4:
        # UTF-16 without BOM: every other byte is NUL.
        for enc in ("utf-16-le", "utf-16-be"):
            try:
                return data.decode(enc), enc
            except UnicodeDecodeError:
                continue
    return _decode_utf8_or_mixed(data)


def _decode_utf8_or_mixed(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lines = data.splitlines(keepends=True)
    out, n_utf8_multibyte, n_legacy = [], 0, 0
    for line in lines:
        try:
            decoded = line.decode("utf-8")
            if any(b > 0x7F for b in line):
                n_utf8_multibyte += 1
        except UnicodeDecodeError:
            decoded = _decode_legacy(line)
            n_legacy += 1
        out.append(decoded)
    return "".join(out), ("mixed (utf-8 + cp1252)" if n_utf8_multibyte else "cp1252")


def _decode_legacy(raw: bytes) -> str:
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter among `;`, `,`, tab and `|` from the first lines of a CSV."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _check_not_binary(data: bytes, path: str | Path, expected: str) -> None:
    if data[:4] == b"PK\x03\x04":
        raise IngestError(
            f"{path}: this is a ZIP/XLSX file, not {expected}. Fix: set `format: xlsx` for this "
            "source in params.yaml (or export the sheet as CSV)."
        )
    if data[:5] == b"%PDF-":
        raise IngestError(f"{path}: this is a PDF, not {expected}; export the data as CSV or XLSX.")


def read_csv(path: str | Path, encoding: str = "auto", delimiter: str = "auto") -> ReadResult:
    """Read a CSV export, one record per row.

    Rows with the wrong number of fields are rejected with their line numbers (an unterminated
    quote, which swallows the following lines, is named as such). Blank lines are skipped and
    counted.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path}: the file is empty (no header, no rows).")
    _check_not_binary(data, path, "a CSV file")
    text, used_encoding = decode_bytes(data, encoding, path)
    delim = sniff_delimiter(text) if delimiter in (None, "", "auto") else delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    header: list[str] | None = None
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    blank = 0
    last_line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            # strict parsing: a stray quote or a file cut inside a quoted field
            first_line, last_line = last_line + 1, reader.line_num
            ended = "unexpected end of data" in str(exc)
            reason = "unterminated_quote" if ended else "csv_error"
            detail = "the file ends inside a quoted field (truncated file or stray quote)" if ended else str(exc)
            rejects.append(Reject(str(path), _lines(first_line, last_line), reason, detail))
            continue
        first_line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            blank += 1
            continue
        if header is None:
            header = [h.strip() for h in row]
            _check_header(header, path)
            continue
        position = _lines(first_line, last_line)
        if len(row) != len(header):
            detail = f"{len(row)} fields instead of {len(header)}"
            rejects.append(Reject(str(path), position, "wrong_field_count", detail, delim.join(row)[:_EXCERPT]))
            continue
        record = dict(zip(header, row, strict=False))
        record["_file"] = str(path)
        record["_position"] = position
        rows.append(record)
    if header is None:
        raise IngestError(f"{path}: no header row found (the file holds only blank lines).")
    records = pd.DataFrame(rows, columns=[*header, "_file", "_position"])
    info = {"encoding": used_encoding, "delimiter": delim, "blank_lines": blank}
    return ReadResult(records, rejects, info)


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _check_header(header: list[str], path: str | Path) -> None:
    keys = [header_key(h) for h in header]
    dupes = sorted({h for h in keys if h and keys.count(h) > 1})
    if dupes:
        raise IngestError(f"{path}: duplicate column names in the header: {dupes}. Rename them.")


def read_xlsx(path: str | Path, sheet: str | int | None = None, required: list[str] | None = None) -> ReadResult:
    """Read an XLSX export.

    The header row is the first row (of the first 30) that holds every `required` column name, so
    title rows and notes above the table are skipped; the sheet is `sheet` or the first sheet that
    has such a row. Merged header cells give their value to the first cell only, as Excel does.
    """
    import openpyxl

    path = Path(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise IngestError(
            f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc}). Fix: re-export it "
            "from Excel as .xlsx, or set the right `format` for this source in params.yaml."
        ) from None
    try:
        if sheet is not None:
            if isinstance(sheet, int):
                names = workbook.sheetnames
                if sheet >= len(names):
                    raise IngestError(f"{path}: no sheet number {sheet}; sheets are {names}.")
                sheet = names[sheet]
            if sheet not in workbook.sheetnames:
                raise IngestError(f"{path}: no sheet named {sheet!r}; sheets are {workbook.sheetnames}.")
            candidates = [sheet]
        else:
            candidates = list(workbook.sheetnames)
        wanted = {header_key(c) for c in (required or [])}
        for name in candidates:
            rows = list(workbook[name].iter_rows(values_only=True))
            header_index = _find_header(rows, wanted)
            if header_index is not None:
                return _xlsx_records(rows, header_index, name, path)
        sheet_note = f"sheet {candidates[0]!r}" if len(candidates) == 1 else f"sheets {candidates}"
        raise IngestError(
            f"{path}: no header row with the columns {sorted(required or [])} in the first 30 rows of "
            f"{sheet_note}. Fix: check the column names in params.yaml (merged or multi-line header "
            "cells must be unmerged into one header row)."
        )
    finally:
        workbook.close()


def _find_header(rows: list[tuple], wanted: set[str]) -> int | None:
    for index, row in enumerate(rows[:30]):
        keys = {header_key(c) for c in row if c is not None}
        if wanted and wanted <= keys:
            return index
        if not wanted and keys:
            return index
    return None


def _xlsx_records(rows: list[tuple], header_index: int, sheet: str, path: Path) -> ReadResult:
    header = [str(c).strip() if c is not None else f"_col{i}" for i, c in enumerate(rows[header_index])]
    _check_header([h for h in header if not h.startswith("_col")], path)
    records, blank = [], 0
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in row):
            blank += 1
            continue
        record = {h: (row[i] if i < len(row) else None) for i, h in enumerate(header)}
        record["_file"] = str(path)
        record["_position"] = f"sheet {sheet} row {offset}"
        records.append(record)
    frame = pd.DataFrame(records, columns=[*header, "_file", "_position"])
    return ReadResult(frame, [], {"sheet": sheet, "header_row": header_index + 1, "blank_rows": blank})


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_json(path: str | Path, lines: bool = True, records_path: str | None = None) -> ReadResult:
    """Read JSON Lines (one object per line) or a JSON array of objects.

    Nested objects are flattened with dotted names (`user.name`). Invalid lines and non-object
    items are rejected with their line or index.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path}: the file is empty.")
    text, used_encoding = decode_bytes(data, "auto", path)
    records: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    if lines:
        blank = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                blank += 1
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                rejects.append(Reject(str(path), f"line {number}", "invalid_json", exc.msg, line[:_EXCERPT]))
                continue
            if not isinstance(obj, dict):
                rejects.append(Reject(str(path), f"line {number}", "not_an_object", type(obj).__name__))
                continue
            records.append({**_flatten(obj), "_file": str(path), "_position": f"line {number}"})
        info = {"encoding": used_encoding, "blank_lines": blank}
    else:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"{path}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}). If the file "
                "has one object per line, set `format: jsonl`."
            ) from None
        items = _dig(obj, records_path) if records_path else obj
        if not isinstance(items, list):
            raise IngestError(
                f"{path}: expected a list of records"
                + (f" at `{records_path}`" if records_path else "")
                + "; set `records_path` for this source in params.yaml."
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rejects.append(Reject(str(path), f"item {index}", "not_an_object", type(item).__name__))
                continue
            records.append({**_flatten(item), "_file": str(path), "_position": f"item {index}"})
        info = {"encoding": used_encoding}
    columns = list(dict.fromkeys(k for r in records for k in r))
    return ReadResult(pd.DataFrame(records, columns=columns or ["_file", "_position"]), rejects, info)

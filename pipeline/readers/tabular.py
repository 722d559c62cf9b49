"""Readers for tabular exports: CSV (encoding and delimiter detection), XLSX, JSON and JSON Lines.

Each returns a `ReadResult` whose records keep the file's own column names; malformed rows are
returned as rejects with their line number and reason, never dropped silently.

CSV and JSON Lines are also read as streams (`CsvRecords`, `JsonlRecords`): the file is decoded a
block of bytes at a time and its records come one by one, so a million-row export is never whole
in memory. `read_csv` and `read_json` are those streams collected into one table.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from pipeline.errors import IngestError
from pipeline.readers import ReadResult, Reject, header_key

DELIMITERS = [";", ",", "\t", "|"]
# Verbatims can be long; huge ones are quarantined by ingest (max_chars), not cut by the parser.
csv.field_size_limit(2**31 - 1)
_EXCERPT = 120
_BLOCK = 1 << 20  # bytes read at a time by the streams


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
            raise _undecodable(path, encoding, exc) from None
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


def _undecodable(path: str | Path, encoding: str, exc: Exception) -> IngestError:
    return IngestError(
        f"{path}: cannot be decoded as {encoding} ({exc}). Fix: set `encoding: auto` "
        "for this source in params.yaml, or the file's real encoding."
    )


def _decode_utf8_or_mixed(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    lines = _LineDecoder()
    text = "".join(lines.decode(line) for line in data.splitlines(keepends=True))
    return text, lines.encoding


class _LineDecoder:
    """Decodes line after line: utf-8 where a line is valid utf-8, else cp1252 (two exports
    concatenated are decoded each in its own encoding); `encoding` names what it has seen."""

    def __init__(self) -> None:
        self.n_utf8_multibyte = self.n_legacy = 0

    def decode(self, line: bytes) -> str:
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            self.n_legacy += 1
            return _decode_legacy(line)
        if not line.isascii():
            self.n_utf8_multibyte += 1
        return decoded

    @property
    def encoding(self) -> str:
        if not self.n_legacy:
            return "utf-8"
        return "mixed (utf-8 + cp1252)" if self.n_utf8_multibyte else "cp1252"


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


def _byte_lines(fh: BinaryIO) -> Iterator[bytes]:
    """A binary file's lines, ends kept, split as `bytes.splitlines` splits (at \\n, \\r\\n or \\r),
    read a block at a time."""
    carry = b""
    while block := fh.read(_BLOCK):
        lines = (carry + block).splitlines(keepends=True)
        carry = lines.pop()  # maybe cut by the block's end, or a CR whose LF starts the next block
        yield from lines
    if carry:
        yield carry


_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class TextLines:
    """A text file's lines, ends kept, decoded as `decode_bytes` decodes the whole file, but read a
    block of bytes at a time; iterate it as many times as needed (each pass reopens the file).

    The lines are split at \\n, \\r\\n or \\r, as `csv` expects. `encoding` is final once a pass
    has read every line (a cp1252 line can come last). UTF-16 files, rare and small (spreadsheet
    "Unicode text" exports), are decoded whole.
    """

    def __init__(self, path: str | Path, encoding: str = "auto") -> None:
        self.path, self.requested = Path(path), encoding
        with self.path.open("rb") as fh:
            head = fh.read(4096)
        explicit = bool(encoding) and encoding != "auto"
        if explicit:
            try:
                codecs.getincrementaldecoder(encoding)
            except LookupError as exc:
                raise _undecodable(path, encoding, exc) from None
            self.mode, self.encoding = "explicit", encoding
        elif head.startswith(codecs.BOM_UTF8):
            self.mode, self.encoding = "bom", "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
            head and head.count(b"\x00") > len(head) // 4
        ):
            self.mode, self.encoding = "whole", ""
        else:
            self.mode, self.encoding = "lines", "utf-8"

    def __iter__(self) -> Iterator[str]:
        if self.mode == "whole":
            text, self.encoding = decode_bytes(self.path.read_bytes(), self.requested, self.path)
            yield from io.StringIO(text, newline="")
            return
        with self.path.open("rb") as fh:
            if self.mode == "explicit":
                yield from self._explicit(fh)
                return
            if self.mode == "bom":
                fh.read(len(codecs.BOM_UTF8))
            decoder = _LineDecoder()
            for line in _byte_lines(fh):
                yield decoder.decode(line)
            if self.mode == "bom":
                self.encoding = "utf-8-sig" if decoder.encoding == "utf-8" else decoder.encoding
            else:
                self.encoding = decoder.encoding

    def _explicit(self, fh: BinaryIO) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.requested)()
        carry = ""
        try:
            while True:
                block = fh.read(_BLOCK)
                lines = _TEXT_LINE.findall(carry + decoder.decode(block, final=not block))
                carry = lines.pop() if lines and block else ""
                yield from lines
                if not block:
                    break
        except UnicodeDecodeError as exc:
            raise _undecodable(self.path, self.requested, exc) from None

    def head(self, n_lines: int) -> str:
        """The file's first lines: enough text for `text.splitlines()[:n_lines]` to be the whole file's."""
        parts: list[str] = []
        for line in self:
            parts.append(line)
            if len(parts) > n_lines and len("".join(parts).splitlines()) > n_lines:
                break
        return "".join(parts)


def _check_content(path: Path, expected: str, empty: str) -> None:
    """Raise when the file holds only whitespace, or is a workbook or a PDF."""
    with path.open("rb") as fh:
        head = fh.read(4096)
        block = head
        while block and not block.strip():
            block = fh.read(_BLOCK)
        if not block:
            raise IngestError(f"{path}: {empty}")
    _check_not_binary(head, path, expected)


class CsvRecords:
    """A CSV export's records, one dict per row (the file's column names, `_file`, `_position`),
    read as a stream; `rejects` and `info` are complete once every record has been read.

    The header is read at once, so a file without one is an error before any record.
    """

    def __init__(self, path: str | Path, encoding: str = "auto", delimiter: str = "auto") -> None:
        self.path = Path(path)
        _check_content(self.path, "a CSV file", "the file is empty (no header, no rows).")
        self.lines = TextLines(self.path, encoding)
        self.delimiter = sniff_delimiter(self.lines.head(50)) if delimiter in (None, "", "auto") else delimiter
        self.rejects: list[Reject] = []
        self.blank = 0
        self._reader = csv.reader(iter(self.lines), delimiter=self.delimiter, strict=True)
        self._last_line = 0
        first = self._next_row()
        if first is None:
            raise IngestError(f"{self.path}: no header row found (the file holds only blank lines).")
        self.header = [h.strip() for h in first[1]]
        _check_header(self.header, self.path)
        self.columns = [*self.header, "_file", "_position"]

    def _next_row(self) -> tuple[str, list[str]] | None:
        """(position, cells) of the next row that is not blank; a malformed one becomes a reject."""
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                # strict parsing: a stray quote or a file cut inside a quoted field
                first_line, self._last_line = self._last_line + 1, self._reader.line_num
                ended = "unexpected end of data" in str(exc)
                reason = "unterminated_quote" if ended else "csv_error"
                detail = "the file ends inside a quoted field (truncated file or stray quote)" if ended else str(exc)
                self.rejects.append(Reject(str(self.path), _lines(first_line, self._last_line), reason, detail))
                continue
            first_line, self._last_line = self._last_line + 1, self._reader.line_num
            if not any(cell.strip() for cell in row):
                self.blank += 1
                continue
            return _lines(first_line, self._last_line), row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        header, file = self.header, str(self.path)
        while (item := self._next_row()) is not None:
            position, row = item
            if len(row) != len(header):
                detail = f"{len(row)} fields instead of {len(header)}"
                excerpt = self.delimiter.join(row)[:_EXCERPT]
                self.rejects.append(Reject(file, position, "wrong_field_count", detail, excerpt))
                continue
            record = dict(zip(header, row, strict=False))
            record["_file"] = file
            record["_position"] = position
            yield record

    @property
    def info(self) -> dict[str, Any]:
        return {"encoding": self.lines.encoding, "delimiter": self.delimiter, "blank_lines": self.blank}


def read_csv(path: str | Path, encoding: str = "auto", delimiter: str = "auto") -> ReadResult:
    """Read a CSV export, one record per row.

    Rows with the wrong number of fields are rejected with their line numbers (an unterminated
    quote, which swallows the following lines, is named as such). Blank lines are skipped and
    counted.
    """
    stream = CsvRecords(path, encoding, delimiter)
    records = pd.DataFrame(list(stream), columns=stream.columns)
    return ReadResult(records, stream.rejects, stream.info)


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


class JsonlRecords:
    """A JSON Lines file's records, one flattened dict per object line, read as a stream; `rejects`
    and `info` are complete once every record has been read. `columns` (every key, in order of
    first appearance) takes a pass of its own over the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_content(self.path, "a JSON Lines file", "the file is empty.")
        self.lines = TextLines(self.path, "auto")
        self.rejects: list[Reject] = []
        self.blank = 0
        self._columns: list[str] | None = None

    def _objects(self, rejects: list[Reject] | None) -> Iterator[dict[str, Any]]:
        file = str(self.path)
        for number, line in enumerate(self.lines, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                if rejects is not None:
                    self.blank += 1
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                if rejects is not None:
                    rejects.append(Reject(file, f"line {number}", "invalid_json", exc.msg, line[:_EXCERPT]))
                continue
            if not isinstance(obj, dict):
                if rejects is not None:
                    rejects.append(Reject(file, f"line {number}", "not_an_object", type(obj).__name__))
                continue
            yield {**_flatten(obj), "_file": file, "_position": f"line {number}"}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._objects(self.rejects)

    @property
    def columns(self) -> list[str]:
        if self._columns is None:
            keys: dict[str, None] = {}
            for record in self._objects(None):
                keys.update(dict.fromkeys(record))
            self._columns = list(keys) or ["_file", "_position"]
        return self._columns

    @property
    def info(self) -> dict[str, Any]:
        return {"encoding": self.lines.encoding, "blank_lines": self.blank}


def read_json(path: str | Path, lines: bool = True, records_path: str | None = None) -> ReadResult:
    """Read JSON Lines (one object per line) or a JSON array of objects.

    Nested objects are flattened with dotted names (`user.name`). Invalid lines and non-object
    items are rejected with their line or index.
    """
    if lines:
        stream = JsonlRecords(path)
        records = list(stream)
        columns = list(dict.fromkeys(k for r in records for k in r))
        return ReadResult(pd.DataFrame(records, columns=columns or ["_file", "_position"]), stream.rejects, stream.info)
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path}: the file is empty.")
    text, used_encoding = decode_bytes(data, "auto", path)
    records: list[dict[str, Any]] = []
    rejects: list[Reject] = []
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
    columns = list(dict.fromkeys(k for r in records for k in r))
    return ReadResult(
        pd.DataFrame(records, columns=columns or ["_file", "_position"]), rejects, {"encoding": used_encoding}
    )

"""CSV, XLSX and JSON readers."""

import codecs
import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.errors import IngestError
from pipeline.readers import SourceReader, map_columns, read_source, tabular
from pipeline.readers.tabular import decode_bytes, read_csv, read_json, read_xlsx, sniff_delimiter


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("déçu".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "déçu".encode(), "utf-8-sig"),
        ("déçu €".encode("cp1252"), "cp1252"),
        (codecs.BOM_UTF16_LE + "déçu".encode("utf-16-le"), "utf-16"),
    ],
)
def test_encoding_detection(raw, expected):
    text, encoding = decode_bytes(raw)
    assert encoding == expected
    assert text.startswith("déçu")


def test_mixed_encoding_is_decoded_line_by_line():
    raw = "été\n".encode() + "hiver à Noël\n".encode("cp1252")
    text, encoding = decode_bytes(raw)
    assert text == "été\nhiver à Noël\n"
    assert encoding.startswith("mixed")


def test_explicit_wrong_encoding_is_a_clear_error():
    with pytest.raises(IngestError, match="cannot be decoded as ascii"):
        decode_bytes("é".encode(), "ascii", "f.csv")


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiter_sniffing(delimiter):
    text = delimiter.join(["id", "texte", "note"]) + "\n" + delimiter.join(["1", "Bien, vraiment", "5"]) + "\n"
    if delimiter == ",":
        text = 'id,texte,note\n1,"Bien, vraiment",5\n'
    assert sniff_delimiter(text) == delimiter


def test_csv_reader_keeps_quotes_newlines_and_positions(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('id;texte\n1;"deux\nlignes; et ""guillemets"""\n\n2;simple\n', encoding="utf-8")
    result = read_csv(path)
    assert list(result.records["texte"]) == ['deux\nlignes; et "guillemets"', "simple"]
    assert list(result.records["_position"]) == ["lines 2-3", "line 5"]
    assert result.info["blank_lines"] == 1


def test_csv_wrong_field_count_is_rejected_with_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;texte\n1;ok\n2;trop;de;champs\n", encoding="utf-8")
    result = read_csv(path)
    assert len(result.records) == 1
    (reject,) = result.rejects
    assert (reject.position, reject.reason) == ("line 3", "wrong_field_count")


def test_duplicate_header_is_an_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;texte;Texte\n1;a;b\n", encoding="utf-8")
    with pytest.raises(IngestError, match="duplicate column names"):
        read_csv(path)


def test_map_columns_tolerates_case_and_spaces_and_keeps_extras(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("\ufeffReview  ID,Review Content,Country\nx1,Great,FR\n", encoding="utf-8")
    result = read_csv(path)
    mapped = map_columns(result.records, {"external_id": "review id", "text": "REVIEW CONTENT"}, ["Country"], "s", path)
    assert mapped.loc[0, "text"] == "Great"
    assert mapped.loc[0, "x_country"] == "FR"
    assert mapped.loc[0, "rating"] is None


def test_missing_column_error_names_the_fix(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;commentaire\n1;nul\n", encoding="utf-8")
    config = {"path": str(path), "format": "csv", "columns": {"text": "texte"}}
    with pytest.raises(IngestError) as info:
        read_source(config, "avis")
    message = str(info.value)
    assert "['texte'] not found" in message and "commentaire" in message and "ingest.sources.avis.columns" in message


def test_xlsx_header_below_a_title_and_sheet_choice(tmp_path):
    path = tmp_path / "s.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Lisez-moi"
    wb.active.append(["Notes sur l'enquête"])
    ws = wb.create_sheet("Réponses")
    ws.append(["Export du 04/11/2026"])
    ws.append([])
    ws.append(["ID", "NPS", "Pourquoi ?"])
    ws.append(["R1", 9, "Très bien"])
    ws.append([None, None, None])
    ws.append(["R2", 3, "Trop cher"])
    wb.save(path)
    result = read_xlsx(path, required=["ID", "Pourquoi ?"])
    assert result.info == {"sheet": "Réponses", "header_row": 3, "blank_rows": 1}
    assert list(result.records["Pourquoi ?"]) == ["Très bien", "Trop cher"]
    assert list(result.records["_position"]) == ["sheet Réponses row 4", "sheet Réponses row 6"]


def test_xlsx_unknown_sheet(tmp_path):
    path = tmp_path / "s.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(IngestError, match="no sheet named 'Réponses'"):
        read_xlsx(path, sheet="Réponses", required=["ID"])


def test_jsonl_nested_fields_and_bad_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 1, "user": {"name": "x"}, "t": "ok"}\n{oops\n', encoding="utf-8")
    result = read_json(path, lines=True)
    assert result.records.loc[0, "user.name"] == "x"
    assert [(r.position, r.reason) for r in result.rejects] == [("line 2", "invalid_json")]


def test_json_array_with_records_path(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{"data": {"reviews": [{"t": "a"}, 3, {"t": "b"}]}}', encoding="utf-8")
    result = read_json(path, lines=False, records_path="data.reviews")
    assert list(result.records["t"]) == ["a", "b"]
    assert [r.reason for r in result.rejects] == ["not_an_object"]


BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "broken"
TEXT_FILES = sorted(p.name for p in BROKEN.iterdir() if p.suffix in (".csv", ".jsonl"))


def _awkward_bytes() -> bytes:
    """Line ends of every kind (a CR alone, CRLF), utf-8 and cp1252 lines, multi-byte characters."""
    return (
        "id;texte\r\n1;été\r\n".encode()
        + "2;hiver à Noël €\r".encode("cp1252")
        + '3;"deux\nlignes ç"\n\n4;fin sans saut'.encode()
    )


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
@pytest.mark.parametrize("name", [*TEXT_FILES, "awkward"])
def test_streamed_lines_are_the_whole_file_decoded(name, block, tmp_path, monkeypatch):
    """A block of bytes at a time, whatever the block size, gives the lines and the encoding that
    decoding the whole file gives (a block can end inside a character or between CR and LF)."""
    path = BROKEN / name if name != "awkward" else tmp_path / "awkward.csv"
    if name == "awkward":
        path.write_bytes(_awkward_bytes())
    monkeypatch.setattr(tabular, "_BLOCK", block)
    text, encoding = decode_bytes(path.read_bytes())
    lines = tabular.TextLines(path)
    assert list(lines) == list(io.StringIO(text, newline=""))
    assert lines.encoding == encoding


@pytest.mark.parametrize("block", [1, 3, 1 << 20])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16", "utf-8-sig"])
def test_streamed_lines_in_an_explicit_encoding(encoding, block, tmp_path, monkeypatch):
    text = "id;texte\r\n1;été à Noël\r2;€ ok\n3;fin"
    path = tmp_path / "a.csv"
    path.write_bytes(text.encode(encoding))
    monkeypatch.setattr(tabular, "_BLOCK", block)
    assert list(tabular.TextLines(path, encoding)) == list(io.StringIO(text, newline=""))


def test_a_stream_hands_out_rows_before_the_end_of_the_file(tmp_path, monkeypatch):
    """Streaming, not reading whole: the first chunk comes out although the file's end cannot be
    decoded (the error is only met when the reading gets there)."""
    monkeypatch.setattr(tabular, "_BLOCK", 4096)
    path = tmp_path / "a.csv"
    path.write_bytes(b"id;texte\n" + b"".join(b"%d;ok\n" % i for i in range(5000)) + b"9;\xe9t\xe9\n")
    config = {"format": "csv", "encoding": "ascii", "columns": {"external_id": "id", "text": "texte"}}
    parts = SourceReader(config, "s", path).chunks(1000)
    assert list(next(parts)["external_id"])[:2] == ["0", "1"]
    with pytest.raises(IngestError, match="cannot be decoded as ascii"):
        list(parts)


def test_jsonl_chunks_have_every_column_and_keep_their_values(tmp_path):
    """A key first seen late is a column of every chunk; a number stays the file's number, whatever
    the chunk holds (no float64 because another chunk misses the key)."""
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 7, "t": "a"}\n{"id": 8, "t": "b", "note": 5}\n[1]\n{"t": "c"}\n', encoding="utf-8")
    config = {"format": "jsonl", "columns": {"external_id": "id", "text": "t", "rating": "note"}}
    one = SourceReader(config, "s", path)
    parts = list(one.chunks(1))
    assert [list(p["rating"].isna()) for p in parts] == [[True], [False], [True]]
    assert parts[0].loc[0, "external_id"] == 7 and isinstance(parts[0].loc[0, "external_id"], int)
    whole = SourceReader(config, "s", path)
    (all_at_once,) = whole.chunks(100)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), all_at_once)
    assert one.n_records == 3 and [(r.position, r.reason) for r in one.rejects] == [("line 3", "not_an_object")]
    assert one.info == whole.info == {"encoding": "utf-8", "blank_lines": 0}


def test_distinct_values_of_mapped_fields(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("id;texte;agence\n1;a;Lyon\n2;b;\n3;c;Lille\n4;d;Lyon\n", encoding="utf-8")
    config = {"format": "csv", "columns": {"text": "texte", "agency": "agence"}}
    reader = SourceReader(config, "s", path)
    assert reader.distinct(["agency", "product"], rows=2) == {"Lyon", "Lille", ""}
    assert SourceReader({**config, "columns": {"text": "texte"}}, "s", path).distinct(["agency"]) == set()


def test_jsonl_line_separators_inside_a_string_do_not_cut_the_record(tmp_path):
    """JSON allows a raw U+2028 or U+0085 inside a string: only \\n, \\r\\n and \\r end a record."""
    path = tmp_path / "a.jsonl"
    path.write_text('{"t": "un\u2028deux\x85trois"}\n{"t": "quatre"}\n', encoding="utf-8")
    result = read_json(path, lines=True)
    assert list(result.records["t"]) == ["un\u2028deux\x85trois", "quatre"]
    assert list(result.records["_position"]) == ["line 1", "line 2"] and not result.rejects

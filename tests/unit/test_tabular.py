"""CSV, XLSX and JSON readers."""

import codecs

import openpyxl
import pytest

from pipeline.errors import IngestError
from pipeline.readers import map_columns, read_source
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

"""Property-based tests: readers never crash and never lose a row silently."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import IngestError
from pipeline.ingest import ingest_source
from pipeline.readers.mail import parse_email
from pipeline.readers.tabular import decode_bytes, read_csv

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

cell_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=0, max_size=80
)
rows = st.lists(st.tuples(st.integers(0, 10**6), cell_text, st.sampled_from(["", "1", "5", "x", "9"])), max_size=25)


@SETTINGS
@given(
    rows=rows, delimiter=st.sampled_from([";", ",", "\t"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])
)
def test_csv_ingest_reconciles_and_keeps_every_text(
    tmp_path_factory, params, rules_redactor, detector, rows, delimiter, encoding
):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["id", "note", "texte"])
    for rid, text, note in rows:
        writer.writerow([rid, note, text])
    data = buffer.getvalue().encode(encoding, errors="replace")
    path = tmp_path_factory.mktemp("prop") / "f.csv"
    path.write_bytes(data)
    config = {
        "format": "csv",
        "source_type": "spontaneous",
        "channel": "t",
        "columns": {"external_id": "id", "rating": "note", "text": "texte"},
    }
    result = ingest_source("prop", config, params, path, rules_redactor, detector)
    m = result.metrics
    assert m["read"] == m["kept"] + m["rejected"] + m["duplicates"]
    assert len(result.quarantine) == m["rejected"] + m["duplicates"]
    # every record with a distinct id is either kept or quarantined with a reason
    assert m["read"] == len(rows)
    assert result.quarantine["reason"].str.len().gt(0).all()


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_csv_reader_never_crashes_on_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "f.csv"
    path.write_bytes(data)
    try:
        result = read_csv(path)
    except IngestError:
        return
    assert len(result.records) + len(result.rejects) >= 0


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_decode_never_fails(data):
    text, encoding = decode_bytes(data)
    assert isinstance(text, str) and encoding


@SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=1500).map(lambda t: ("From: a@b.fr\nSubject: x\n\n" + t).encode("utf-8", "replace")),
        st.text(max_size=500).map(
            lambda t: ("Content-Type: multipart/mixed; boundary=Z\nFrom: a@b.fr\n\n--Z\n" + t).encode(
                "utf-8", "replace"
            )
        ),
    )
)
def test_email_parser_never_crashes(data):
    parsed = parse_email(data, "f.eml", "1")
    assert isinstance(parsed, dict) or parsed.reason

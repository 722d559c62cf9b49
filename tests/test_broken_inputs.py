"""The broken-input corpus (`tests/fixtures/broken/`): a clear error or quarantined rows, never a crash.

Every file of the corpus must appear in CASES, so a new broken file cannot be added untested.
"""

from __future__ import annotations

import pytest

from pipeline.errors import IngestError
from pipeline.ingest import ingest_source
from tests.conftest import BROKEN

CSV = {"format": "csv", "columns": {"external_id": "id", "date": "date", "rating": "note", "text": "texte"}}
EMAIL = {"format": "eml"}
MBOX = {"format": "mbox"}
XLSX = {"format": "xlsx", "columns": {"external_id": "ID", "nps": "NPS", "text": "Verbatim"}}
JSONL = {"format": "jsonl", "columns": {"external_id": "id", "text": "content", "rating": "score"}}
JSON = {"format": "json", "columns": {"text": "content"}}

# file -> (config, expected): expected is either ("error", message part) or a dict of outcomes
CASES = {
    "latin1_reviews.csv": (CSV, {"kept": 2, "file_encoding": "cp1252", "text_contains": "résilie"}),
    "mixed_encoding.csv": (CSV, {"kept": 3, "file_encoding": "mixed (utf-8 + cp1252)", "text_contains": "agréable"}),
    "utf16_excel.csv": (CSV, {"kept": 2, "file_encoding": "utf-16", "file_delimiter": "\t"}),
    "truncated.csv": (CSV, {"kept": 1, "rejected_by_reason": {"unterminated_quote": 1}}),
    "quotes_newlines.csv": (CSV, {"kept": 3, "text_contains": 'Il m\'a dit "pas de souci"; puis plus rien.\nDeuxième'}),
    "empty.csv": (CSV, ("error", "the file is empty")),
    "header_only.csv": (CSV, {"kept": 0, "read": 0}),
    "missing_column.csv": (CSV, ("error", "column(s) ['texte'] not found")),
    "wrong_field_count.csv": (CSV, {"kept": 2, "rejected_by_reason": {"wrong_field_count": 1}}),
    "html_script.csv": (
        CSV,
        # the <script>-only review keeps its star rating as a score-only row
        {"kept": 3, "kept_without_text": 1, "text_contains": "mon virement est bloqué", "text_lacks": "alert('xss')"},
    ),
    "duplicates.csv": (
        CSV,
        {"kept": 2, "duplicates": 2, "rejected_by_reason": {"duplicate": 1, "duplicate_id_conflict": 1}},
    ),
    "empty_texts.csv": (CSV, {"kept": 2, "kept_without_text": 1, "rejected_by_reason": {"empty_text": 2}}),
    "bad_values.csv": (CSV, {"kept": 2, "values_nulled": {"rating": 2, "date": 2}}),
    "xlsx_renamed.csv": (CSV, ("error", "this is a ZIP/XLSX file")),
    "merged_header.xlsx": (XLSX, ("error", "merged or multi-line header cells")),
    "not_really.xlsx": (XLSX, ("error", "not a readable XLSX workbook")),
    "bad_lines.jsonl": (JSONL, {"kept": 2, "rejected_by_reason": {"invalid_json": 1, "not_an_object": 1}}),
    "not_json.json": (JSON, ("error", "invalid JSON at line 1")),
    "no_headers.eml": (EMAIL, {"kept": 0, "rejected_by_reason": {"not_an_email": 1}}),
    "empty.eml": (EMAIL, {"kept": 0, "rejected_by_reason": {"empty_file": 1}}),
    "broken_boundary.eml": (EMAIL, {"kept": 1, "text_contains": "Ma carte est bloquée"}),
    "unknown_charset.eml": (EMAIL, {"kept": 1, "text_contains": "augmenté sans préavis"}),
    "binary_garbage.eml": (EMAIL, {"kept": 0, "rejected": 1}),
    "html_only_script.eml": (
        EMAIL,
        {"kept": 1, "text_contains": "Je conteste les frais de 4,50€", "text_lacks": "alert"},
    ),
    "auto_reply.eml": (EMAIL, {"kept": 0, "rejected_by_reason": {"auto_reply": 1}}),
    "only_quote.eml": (EMAIL, {"kept": 0, "rejected_by_reason": {"empty_text": 1}}),
    "not_mbox.mbox": (MBOX, ("error", "not an mbox file")),
    "corrupt.mbox": (MBOX, {"kept": 2, "rejected": 1, "text_contains": "Merci pour le geste commercial"}),
}


def test_every_broken_file_has_a_case():
    files = {p.name for p in BROKEN.iterdir() if not p.name.startswith("_")}
    assert files == set(CASES), "add the new broken file to CASES with what voix must do with it"


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_input(name, params, rules_redactor, detector):
    config, expected = CASES[name]
    config = {"source_type": "spontaneous", "channel": "test", **config}
    path = BROKEN / name
    if isinstance(expected, tuple):
        with pytest.raises(IngestError) as info:
            ingest_source("broken", config, params, path, rules_redactor, detector)
        message = str(info.value)
        assert expected[1] in message
        assert name in message, "the message names the file"
        return
    result = ingest_source("broken", config, params, path, rules_redactor, detector)
    metrics = result.metrics
    assert metrics["reconciles"]
    assert metrics["read"] == metrics["kept"] + metrics["rejected"] + metrics["duplicates"]
    assert len(result.quarantine) == metrics["rejected"] + metrics["duplicates"]
    assert set(result.quarantine["position"]) <= set(result.quarantine["position"].dropna())
    texts = "\n".join(result.verbatims["text"])
    for key, value in expected.items():
        if key == "text_contains":
            assert value in texts
        elif key == "text_lacks":
            assert value not in texts
        else:
            assert metrics[key] == value, key


def test_one_megabyte_verbatim_is_quarantined(tmp_path, params, rules_redactor, detector):
    path = tmp_path / "huge.csv"
    huge = "Le service est lent. " * 50_000
    path.write_text(f"id;date;note;texte\n1;03/10/2025;1;{huge}\n2;04/10/2025;5;Normal\n", encoding="utf-8")
    config = {"source_type": "spontaneous", "channel": "test", **CSV}
    result = ingest_source("huge", config, params, path, rules_redactor, detector)
    assert result.metrics["kept"] == 1
    assert result.metrics["rejected_by_reason"] == {"text_too_long": 1}
    row = result.quarantine.iloc[0]
    assert row["position"] == "line 2" and "characters > ingest.max_chars=20,000" in row["detail"]


@pytest.mark.parametrize("name", sorted(n for n, (_, expected) in CASES.items() if isinstance(expected, dict)))
def test_one_record_at_a_time_gives_what_the_whole_file_gives(name, params, rules_redactor, detector):
    """The stage streams chunks of `engine.chunk_rows` records: duplicates are still found across
    chunks, and the rows, the quarantine and the counts are those of the whole file."""
    import pandas as pd

    from pipeline.engine import Engine, EngineConfig

    config = {"source_type": "spontaneous", "channel": "test", **CASES[name][0]}
    whole = ingest_source("broken", config, params, BROKEN / name, rules_redactor, detector)
    chunked = ingest_source(
        "broken", config, params, BROKEN / name, rules_redactor, detector, Engine(EngineConfig(chunk_rows=1))
    )
    pd.testing.assert_frame_equal(chunked.verbatims, whole.verbatims)
    pd.testing.assert_frame_equal(chunked.raw, whole.raw)
    pd.testing.assert_frame_equal(chunked.quarantine, whole.quarantine)
    assert chunked.metrics == whole.metrics

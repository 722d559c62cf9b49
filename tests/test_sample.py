"""The bundled sample (`data/raw/`) through `ingest` and `consolidate`, with the real redactor.

Checks what the foundation issue must show: >= 600 verbatims from 3 source families and 2
languages, counts that reconcile, no planted PII in the redacted table while the restricted raw
file keeps it, and gold labels that all join to a verbatim.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pipeline.consolidate import consolidate, total_metrics
from pipeline.ingest import ingest_source
from tests.conftest import ROOT

TRAP_FILES = {
    "avis_plateformes": "avis_plateformes",
    "trustpilot_export": "trustpilot_export",
    "app_stores": "app_stores",
    "emails_eml": "emails_eml",
    "emails_mbox": "emails_mbox",
    "barometre_2026": "barometre_satisfaction_2026",
    "nps_2025": "nps_relationnel_2025",
}
CIVILITIES = {"m", "mme", "mr", "mrs", "ms", "mlle", "monsieur", "madame", "dr", "me"}


@pytest.fixture(scope="module")
def ingested(params, redactor, detector):
    results = {}
    for source, config in params["ingest"]["sources"].items():
        results[source] = ingest_source(source, config, params, ROOT / config["path"], redactor, detector)
    return results


@pytest.fixture(scope="module")
def table(ingested, params):
    nd = params["ingest"]["near_duplicates"]
    return consolidate([r.verbatims for r in ingested.values()], nd["threshold"], nd["min_chars"])


def test_size_families_and_languages(table):
    with_text = table[table["has_text"]]
    assert len(with_text) >= 600
    assert {"email", "enquête", "site d'avis"} <= set(table["channel"])
    assert set(table["source_type"]) == {"solicited", "spontaneous"}
    languages = with_text["lang"].value_counts()
    assert {"fr", "en"} <= set(languages.index)
    assert 0.05 <= languages["en"] / len(with_text) <= 0.2
    assert table["date"].min() < pd.Timestamp("2025-07-01") and table["date"].max() > pd.Timestamp("2026-10-01")


def test_counts_reconcile(ingested, table):
    metrics = total_metrics({s: r.metrics for s, r in ingested.items()}, table)
    for source, m in metrics["sources"].items():
        assert m["read"] == m["kept"] + m["rejected"] + m["duplicates"], source
        assert m["reconciles"], source
    assert metrics["total"]["reconciles"]
    assert metrics["total"]["kept"] == len(table)
    # what the sample plants on purpose
    assert ingested["avis_plateformes"].metrics["duplicates"] == 2
    assert ingested["app_stores"].metrics["duplicates"] == 1
    assert ingested["emails_mbox"].metrics["rejected_by_reason"] == {"auto_reply": 3}


def test_near_duplicates_are_flagged(table):
    flagged = table[table["near_duplicate_of"].notna()]
    assert len(flagged) >= 2
    originals = table.set_index("id").loc[flagged["near_duplicate_of"], "date"].to_numpy()
    assert (originals <= flagged["date"].to_numpy()).all()


def _pieces(kind: str, value: str) -> list[str]:
    """What must not survive of a planted item: the value, and the distinctive parts of names and addresses."""
    if kind == "name":
        words = [w.strip(".") for w in re.split(r"[\s,]+", value)]
        return [w for w in words if len(w) >= 3 and w.casefold() not in CIVILITIES]
    if kind == "address":
        return [value.split(",")[0], *re.findall(r"\b\d{5}\b", value)]
    return [value]


def _traps() -> pd.DataFrame:
    frames = []
    for source, name in TRAP_FILES.items():
        frame = pd.read_csv(ROOT / "tests" / "fixtures" / "pii_traps" / f"{name}.csv", dtype=str, keep_default_na=False)
        frame["source"] = source
        frames.append(frame)
    traps = pd.concat(frames, ignore_index=True)
    traps["external_id"] = traps["external_id"].str.strip("<>")
    return traps


def test_no_planted_pii_survives_and_raw_keeps_it(ingested):
    traps = _traps()
    assert len(traps) >= 300
    leaks, missing_in_raw = [], []
    for source, group in traps.groupby("source"):
        result = ingested[source]
        shown = result.verbatims.set_index("external_id")
        strings = [c for c in shown.columns if shown[c].dtype != "float64" and c not in ("date",)]
        raw = result.raw.set_index("external_id")
        for trap in group.itertuples():
            assert trap.external_id in shown.index, f"{source}: trap record {trap.external_id} was not kept"
            row = shown.loc[trap.external_id]
            blob = " | ".join(str(row[c]) for c in strings)
            leaks += [(source, trap.external_id, trap.kind, p) for p in _pieces(trap.kind, trap.value) if p in blob]
            raw_blob = " | ".join(str(v) for v in raw.loc[trap.external_id].to_numpy())
            if trap.value not in raw_blob:
                missing_in_raw.append((source, trap.external_id, trap.value))
    assert not leaks, f"{len(leaks)} planted PII pieces survive: {leaks[:10]}"
    assert not missing_in_raw, f"the restricted raw file lost: {missing_in_raw[:10]}"


def test_every_gold_label_joins_a_verbatim(table):
    gold = pd.concat(
        [pd.read_csv(p, dtype=str) for p in sorted((ROOT / "data" / "labels").glob("gold_*.csv"))], ignore_index=True
    )
    gold["external_id"] = gold["external_id"].str.strip("<>")
    kept = set(table["external_id"].dropna())
    missing = sorted(set(gold["external_id"]) - kept)
    assert not missing, f"{len(missing)} gold rows match no verbatim: {missing[:5]}"
    assert len(gold) >= 600


def test_score_only_survey_answers_are_kept_for_kpis(table):
    surveys = table[table["channel"] == "enquête"]
    score_only = surveys[~surveys["has_text"]]
    assert len(score_only) >= 10
    assert score_only["nps"].notna().all()


def test_script_in_html_email_never_reaches_text(table):
    assert not table["text"].str.contains("SCRIPT_TRACKER_SHOULD_NEVER_APPEAR", regex=False).any()

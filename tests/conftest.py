"""Shared fixtures: the project's params, PII redactors (expensive: loaded once), paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VOIX_SALT", "tests-salt")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
BROKEN = FIXTURES / "broken"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def params() -> dict:
    from pipeline.params import load_params

    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def redactor(params):
    """The redactor `dvc repro` uses: rules plus spaCy NER (a few seconds to load)."""
    from pipeline.ingest import build_redactor

    return build_redactor(params["ingest"])


@pytest.fixture(scope="session")
def rules_redactor(params):
    """Rules-only redactor: fast, for tests that ingest many small files."""
    from pipeline.pii import Redactor

    pii = params["ingest"]["pii"]
    return Redactor(pii["kinds"], None, pii["allow_list"], pii["customer_id_patterns"])


@pytest.fixture(scope="session")
def detector(params):
    from pipeline.normalize import LanguageDetector

    return LanguageDetector(params["base"]["languages"], params["base"]["language"])


@pytest.fixture
def csv_source():
    """Configuration of a small French CSV source (the broken corpus's layout)."""
    return {
        "format": "csv",
        "encoding": "auto",
        "delimiter": "auto",
        "source_type": "spontaneous",
        "channel": "site d'avis",
        "columns": {"external_id": "id", "date": "date", "rating": "note", "text": "texte"},
    }

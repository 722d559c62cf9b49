"""End to end: `dvc repro` on the bundled sample, in a copy of the project, and its outputs' contents."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

COPY = ["pipeline", "data/raw", "data/labels", "params.yaml", "dvc.yaml", "pyproject.toml", ".dvc/config", ".dvcignore"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh copy of the project (no outputs, no DVC cache) where `dvc repro` has run."""
    dest = tmp_path_factory.mktemp("voix")
    for rel in COPY:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    dvc = Path(sys.executable).parent / "dvc"
    run = subprocess.run([str(dvc), "repro"], cwd=dest, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return dest


def test_verbatims_table(project):
    table = pd.read_parquet(project / "data/interim/verbatims.parquet")
    assert len(table) >= 600
    assert table["has_text"].sum() >= 600
    assert {"email", "enquête", "site d'avis"} <= set(table["channel"])
    assert {"fr", "en"} <= set(table["lang"])
    assert table["id"].is_unique
    assert table["customer_id"].dropna().str.match(r"^cust_[0-9a-f]{16}$").all()
    # the incident weeks are there: the app outage of March 2026 is visible in the volume
    march = table[(table["date"] >= "2026-03-09") & (table["date"] <= "2026-03-22")]
    february = table[(table["date"] >= "2026-02-09") & (table["date"] <= "2026-02-22")]
    assert len(march) > 3 * len(february)


def test_metrics_reconcile(project):
    metrics = json.loads((project / "metrics/ingest.json").read_text())
    assert metrics["total"]["reconciles"] is True
    assert len(metrics["sources"]) == 7
    for name, m in metrics["sources"].items():
        assert m["read"] == m["kept"] + m["rejected"] + m["duplicates"], name
    quarantine = pd.read_csv(project / "data/interim/quarantine.csv")
    assert len(quarantine) == metrics["total"]["rejected"] + metrics["total"]["duplicates"]
    assert quarantine["reason"].notna().all()


def test_raw_text_only_in_restricted(project):
    raw = pd.read_parquet(project / "data/restricted/verbatims_raw.parquet")
    table = pd.read_parquet(project / "data/interim/verbatims.parquet")
    assert set(raw["id"]) == set(table["id"])
    assert raw["raw_text"].str.contains("@", regex=False).any()
    assert not table["text"].str.contains(r"[\w.+-]+@[\w-]+\.\w+", regex=True).any()


def test_classifiers_trained_and_evaluated_on_held_out_gold(project):
    metrics = json.loads((project / "metrics/train.json").read_text())
    assert {"tone", "qualification", "service", "priority", "churn"} <= set(metrics)
    for target, m in metrics.items():
        assert m["n_test"] > 100 and m["n_train"] > 300, target
        assert m["accuracy"] > m["majority_baseline"], f"{target} learns nothing beyond the majority class"
        assert set(m["per_class"]) and all("recall" in c for c in m["per_class"].values())
    assert (project / "models/classifiers/tone.skops").exists()
    assert "held out" in (project / "models/classifiers/MODEL_CARD.md").read_text()


def test_scored_table_has_the_routing_columns(project):
    scored = pd.read_parquet(project / "data/processed/verbatims.parquet")
    expected = {
        "tone",
        "tone_score",
        "qualification",
        "modality",
        "service",
        "priority",
        "needs_review",
        "churn_risk",
        "repeat_complainer",
        "draft_reply",
    }
    assert expected <= set(scored.columns)
    with_text = scored[scored["has_text"]]
    assert set(with_text["tone"]) <= {"positif", "négatif", "neutre", "mitigé"}
    assert with_text["tone_score"].between(-1, 1).all()
    assert with_text["draft_reply"].str.len().gt(20).all()
    assert scored["churn_risk"].sum() > 10 and scored["repeat_complainer"].sum() > 0
    sentences = pd.read_parquet(project / "data/processed/sentences.parquet")
    assert set(sentences["id"]) <= set(scored["id"]) and len(sentences) > len(with_text)


def test_second_repro_does_nothing_and_outputs_are_identical(project):
    before = pd.read_parquet(project / "data/interim/verbatims.parquet")
    dvc = Path(sys.executable).parent / "dvc"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([str(dvc), "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0
    assert "didn't change" in run.stdout or "is cached" in run.stdout or "up to date" in run.stdout
    pd.testing.assert_frame_equal(before, pd.read_parquet(project / "data/interim/verbatims.parquet"))


def _dvc(project: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    dvc = Path(sys.executable).parent / "dvc"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    run = subprocess.run([str(dvc), *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_retraining_from_scratch_gives_identical_predictions(project):
    columns = ["id", "tone", "tone_score", "qualification", "service", "priority", "needs_review"]
    before = pd.read_parquet(project / "data/processed/verbatims.parquet", columns=columns)
    _dvc(project, "repro", "--force", "--single-item", "train")
    _dvc(project, "repro", "--force", "--single-item", "score")
    pd.testing.assert_frame_equal(
        before, pd.read_parquet(project / "data/processed/verbatims.parquet", columns=columns)
    )


def test_fifty_new_labelled_rows_retrain_and_show_in_metrics_diff(project):
    """A user adds 50 labelled examples (standalone texts) and re-runs: `dvc metrics diff` shows it."""
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"], cwd=project, check=True
    )
    gold = pd.read_csv(project / "data/labels/gold_avis_plateformes.csv", dtype=str, keep_default_na=False)
    table = pd.read_parquet(project / "data/interim/verbatims.parquet", columns=["external_id", "text"])
    new = gold.merge(table, on="external_id").head(50).drop(columns=["external_id"])
    new["text"] = new["text"].str.replace(r"(?i)\bagence\b", "succursale", regex=True) + " (reçu par courrier)"
    new.to_csv(project / "data/labels/new_examples.csv", index=False)
    run = _dvc(project, "repro")
    assert "Running stage 'train'" in run.stdout and "Running stage 'ingest" not in run.stdout
    diff = json.loads(_dvc(project, "metrics", "diff", "--json").stdout)
    changed = diff["metrics/train.json"]
    assert changed["tone.n_train"]["diff"] == 50

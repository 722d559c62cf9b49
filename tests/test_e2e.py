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

COPY = [
    "pipeline",
    "data/raw",
    "data/labels",
    "data/actions.csv",
    "notebooks",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    ".dvc/config",
    ".dvcignore",
]


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


def test_kpis_alerts_topics_and_irritants(project):
    kpis = json.loads((project / "reports/kpis.json").read_text())
    raw = pd.read_csv(project / "data/raw/surveys/nps_relationnel_2025.csv")["nps_score"].dropna()
    by_hand = round(100 * ((raw >= 9).sum() - (raw <= 6).sum()) / len(raw), 1)
    assert kpis["by_source"]["nps_2025"]["nps"]["nps"] == by_hand
    assert kpis["overall"]["nps"]["n"] == 280 and "low_n" in kpis["by_period"]["2026-03"]["nps"]
    assert "nps" in json.loads((project / "metrics/kpis.json").read_text())
    # the two incidents of the sample (fees in October 2025, the app outage of 9-22 March 2026)
    alerts = json.loads((project / "reports/alerts.json").read_text())["alerts"]
    surges = [a for a in alerts if a["type"] == "negative_surge" and a["scope"] == "all verbatims"]
    periods = [(a["period"]["from"], a["period"]["to"]) for a in surges]
    assert any(start <= "2026-03-15" and end >= "2026-03-09" for start, end in periods), periods
    assert any(start <= "2025-10-31" and end >= "2025-10-01" for start, end in periods), periods
    assert all(a["evidence"]["verbatim_ids"] for a in surges)
    topics = pd.read_csv(project / "reports/topics.csv")
    assert len(topics) >= 5 and topics["representative_text"].notna().all()
    assert (project / "models/topics/topics.json").exists()
    irritants = pd.read_csv(project / "reports/irritants.csv")
    top = irritants.head(3)
    assert top["quotes"].str.len().gt(20).all() and top["journey_stage"].notna().all()
    assert irritants["pareto_cum_pct"].is_monotonic_increasing
    themes = pd.read_csv(project / "reports/themes.csv")
    assert {"impact", "trend", "quadrant", "nps_points_lost", "quotes"} <= set(themes.columns)


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


def _report_texts(project: Path) -> dict[str, str]:
    """Every file of reports/ as text (the Excel export cell by cell)."""
    import openpyxl

    texts = {}
    for path in sorted((project / "reports").rglob("*")):
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            texts[path.name] = "\n".join(
                " | ".join("" if v is None else str(v) for v in row)
                for sheet in book
                for row in sheet.iter_rows(values_only=True)
            )
        elif path.is_file():
            texts[path.name] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def test_no_planted_pii_anywhere_in_reports(project):
    """The 619 planted personal data items of the sample: none in any file under reports/.

    Numbers, e-mails, IBANs, addresses... are searched everywhere. A planted name is searched in its
    own record's row of the Excel export, and everywhere else unless the word is also a legitimate
    word of other redacted verbatims ("loi Hamon", "Noël"): those cases are covered by the row check.
    """
    import html
    import re

    import openpyxl

    from tests.test_sample import _pieces, _traps

    texts = _report_texts(project)
    assert {"report.html", "verbatims_enriched.xlsx", "themes.csv", "irritants.csv", "alerts.json"} <= set(texts)
    blob = html.unescape("\n".join(texts.values()))
    redacted = " ".join(pd.read_parquet(project / "data/interim/verbatims.parquet")["text"].dropna())
    sheet = openpyxl.load_workbook(project / "reports/verbatims_enriched.xlsx", read_only=True)["verbatims"]
    rows = sheet.iter_rows(values_only=True)
    header = list(next(rows))
    by_id = {
        str(r[header.index("external_id")]).strip("<>"): " | ".join(str(v) for v in r if v is not None) for r in rows
    }

    def found(piece: str, text: str) -> bool:
        return re.search(rf"(?<![\w]){re.escape(piece)}(?![\w])", text) is not None

    leaks = []
    for trap in _traps().itertuples():
        for piece in _pieces(trap.kind, trap.value):
            if found(piece, by_id.get(trap.external_id, "")):
                leaks.append((trap.source, trap.external_id, trap.kind, piece, "its own row"))
            elif found(piece, blob) and not (trap.kind == "name" and found(piece, redacted)):
                leaks.append((trap.source, trap.external_id, trap.kind, piece, "reports"))
    assert len(by_id) >= 700
    assert not leaks, f"{len(leaks)} planted PII pieces in reports/: {leaks[:10]}"


def _chromium() -> str:
    """Debian's chromium, installed here if missing (the browser test installs what it needs)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        for command in (["apt-get", "install", "-y", "--no-install-recommends", "chromium"], ["apt-get", "update"]):
            subprocess.run(command, capture_output=True, timeout=1200, check=False)
            path = shutil.which("chromium")
            if path:
                break
        if path is None:
            subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends", "chromium"], capture_output=True, timeout=1200
            )
            path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed and cannot be installed here (needs apt-get as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_report_renders_every_section_in_a_real_browser(project):
    import time

    from playwright.sync_api import sync_playwright

    report = project / "reports/report.html"
    out = ROOT / "tests" / "out"
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith(("file:", "data:")) else None,
        )
        t0 = time.perf_counter()
        page.goto(report.as_uri(), wait_until="load")
        load_s = time.perf_counter() - t0
        counts = {
            "summary": page.locator("#summary .tile").count(),
            "trends": page.locator("#trends svg").count(),
            "pareto": page.locator("#pareto svg").count(),
            "themes": page.locator("#themes tbody tr").count(),
            "journey": page.locator("#journey tbody tr").count(),
            "routing": page.locator("#routing tbody tr").count(),
            "alerts": page.locator("#alerts .alert").count(),
            "emotions": page.locator("#emotions tbody tr").count(),
            "effort": page.locator("#effort tbody tr").count(),
            "ideas": page.locator("#ideas tbody tr").count(),
            "actions": page.locator("#actions .action").count(),
            "clouds": page.locator("#clouds img").count(),
            "drill": page.locator("#drill-table tbody tr").count(),
        }
        loaded_images = page.evaluate(
            "Array.from(document.querySelectorAll('#clouds img')).filter(i => i.naturalWidth > 0).length"
        )
        for section in counts:
            assert page.locator(f"#{section}").is_visible(), section
        first_action = pd.read_csv(project / "data/actions.csv")["action"].iloc[0]
        actions_text = page.locator("#actions").inner_text()
        action_charts = page.locator("#actions svg").count()
        # drill-down: filtering by a channel shows only that channel's rows
        channel = page.locator("select[data-filter=channel] option").nth(1).get_attribute("value")
        page.select_option("select[data-filter=channel]", channel)
        shown = int(page.locator("#shown").inner_text())
        visible_channels = set(
            page.evaluate(
                "Array.from(document.querySelectorAll('#drill-table tbody tr')).filter(r => r.style.display !== 'none').map(r => r.dataset.channel)"
            )
        )
        page.select_option("select[data-filter=channel]", "")
        page.screenshot(path=str(out / "report.png"), full_page=True)
        browser.close()
    (out / "report_browser.json").write_text(json.dumps({"load_seconds": round(load_s, 2), "counts": counts}, indent=2))
    assert not errors, errors
    assert counts["summary"] >= 5 and counts["trends"] == 2 and counts["pareto"] == 3
    assert counts["themes"] >= 5 and counts["journey"] >= 3 and counts["routing"] >= 5
    assert counts["alerts"] >= 2 and counts["clouds"] >= 5 and loaded_images == counts["clouds"]
    assert counts["emotions"] >= 8 and counts["effort"] >= 5 and counts["ideas"] >= 10
    assert counts["actions"] == 3 and first_action in actions_text and action_charts == 3
    assert counts["drill"] >= 600
    assert 0 < shown < counts["drill"] and visible_channels == {channel}
    assert (out / "report.png").stat().st_size > 100_000


def test_notebook_runs_top_to_bottom(project):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(project / "notebooks/explore.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(project / "notebooks")}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("verbatims," in "".join(o.get("text", "")) for o in outputs)

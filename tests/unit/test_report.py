"""The HTML report and the Excel export, from a small synthetic run of the earlier stages' cores."""

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipeline.alerts import detect_alerts
from pipeline.kpis import compute_kpis
from pipeline.report import build_report, cloud_frequencies, export_excel, summary_tiles, traffic_light
from pipeline.themes import build_reports

XSS = ["<script>alert('xss')</script> frais scandaleux", "<img src=x onerror=alert(1)> appli en panne"]


@pytest.fixture()
def run(tmp_path):
    """Scored verbatims (two of them hostile HTML), topics, lemmas, and the reports the report reads."""
    n = 60
    rng = np.random.default_rng(0)
    dates = pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.integers(0, 120, n), unit="D")
    texts = [
        f"Verbatim numéro {i}, les frais sont trop élevés" if i % 2 else f"Verbatim {i}, conseiller très aimable"
        for i in range(n)
    ]
    texts[:2] = XSS
    scored = pd.DataFrame(
        {
            "id": [f"v{i}" for i in range(n)],
            "text": texts,
            "has_text": True,
            "date": dates,
            "channel": rng.choice(["email", "site d'avis"], n),
            "agency": rng.choice(["Lyon <b>Part-Dieu</b>", "Nantes"], n),
            "product": "compte",
            "tone": ["négatif" if i % 2 else "positif" for i in range(n)],
            "tone_score": [-0.7 if i % 2 else 0.8 for i in range(n)],
            "qualification": ["réclamation" if i % 2 else "compliment" for i in range(n)],
            "service": "Service Gestion",
            "priority": "moyen",
            "needs_review": False,
            "churn_risk": [i == 3 for i in range(n)],
            "repeat_complainer": False,
            "customer_id": [f"cust_{i:016x}" for i in range(n)],
            "journey_stage": "usage / aide",
            "emotion": ["colère" if i % 2 else "joie" for i in range(n)],
            "emotion_intensity": 0.6,
            "nps": rng.integers(0, 11, n).astype(float),
            "ces": rng.integers(1, 6, n).astype(float),
            "csat_score": rng.integers(1, 5, n).astype(float),
        }
    )
    topics = pd.DataFrame(
        {
            "id": scored["id"],
            "topic": [i % 2 for i in range(n)],
            "topic_label": ["frais" if i % 2 else "conseiller" for i in range(n)],
        }
    )
    topics["theme"] = topics["topic_label"]
    lemmas = pd.DataFrame(
        {"id": scored["id"], "lemmas": ["frais élevé trop" if i % 2 else "conseiller aimable" for i in range(n)]}
    )
    aspects = pd.DataFrame(
        {
            "id": scored["id"][1::2],
            "sentence_index": 0,
            "sentence": scored["text"][1::2],
            "polarity": "irritant",
            "confidence": 0.9,
            "aspect": "frais",
            "aspect_key": "frais",
            "category": "prix et frais",
            "journey_stage": "usage / aide",
            "date": scored["date"][1::2],
            "lang": "fr",
        }
    )
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "kpis.json").write_text(json.dumps(compute_kpis(scored, {"group_by": ["channel"]}, ["réclamation"])))
    (reports / "alerts.json").write_text(json.dumps({"alerts": detect_alerts(scored, {}, topics)}, default=str))
    for name, frame in build_reports(scored, topics, aspects, {"quotes": 3}).items():
        frame.to_csv(reports / f"{name}.csv", index=False)
    return reports, scored, topics, lemmas


def test_every_verbatim_is_escaped(run):
    reports, scored, topics, lemmas = run
    html = build_report(reports, scored, topics, lemmas, {"targets": {"nps": 10}})
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>Part-Dieu</b>" not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script>") == 1  # only the report's own filter/sort script


def test_sections_language_and_self_containment(run):
    reports, scored, topics, lemmas = run
    html = build_report(reports, scored, topics, lemmas, {"language": "en"})
    sections = (
        "summary",
        "trends",
        "pareto",
        "themes",
        "journey",
        "routing",
        "alerts",
        "emotions",
        "ideas",
        "clouds",
        "drill",
    )
    for section in sections:
        assert f'data-section="{section}"' in html
    assert "Ranked themes" in html and "Thèmes classés" not in html
    import re

    # nothing loaded from the network: no http(s) resource in src/href/url()/@import (XML namespaces are names)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", html)
    assert html.count("data:image/png;base64,") >= 3 and "<svg" in html


def test_excel_export_has_every_row_and_derived_column(run, tmp_path):
    _, scored, topics, _ = run
    export_excel(scored, topics, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)["verbatims"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert {"tone", "qualification", "service", "theme", "text"} <= set(header)
    assert sum(1 for _ in sheet.iter_rows()) == len(scored) + 1


def test_excel_export_drops_the_control_characters_excel_refuses(run, tmp_path):
    _, scored, topics, _ = run
    scored = scored.copy()
    scored.loc[scored.index[0], "text"] = "Appli bloquée\x07 depuis\x00 hier"
    export_excel(scored, topics, tmp_path / "out.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)["verbatims"].iter_rows(values_only=True))
    assert rows[1][rows[0].index("text")] == "Appli bloquée depuis hier"


def test_excel_export_beyond_its_row_cap_keeps_the_most_recent_and_says_so(run, tmp_path):
    _, scored, topics, _ = run
    assert export_excel(scored, topics, tmp_path / "out.xlsx", max_rows=3) == 3
    book = openpyxl.load_workbook(tmp_path / "out.xlsx", read_only=True)
    rows = list(book["verbatims"].iter_rows(values_only=True))
    ids = [r[rows[0].index("id")] for r in rows[1:]]
    newest = scored.assign(date=pd.to_datetime(scored["date"])).nlargest(3, "date")["id"]
    assert len(ids) == 3 and set(ids) == set(newest)
    assert ids == [i for i in scored["id"] if i in set(ids)]  # in the table's own order
    note = " ".join(str(r[0]) for r in book["lisez-moi"].iter_rows(values_only=True))
    assert f"3 verbatims les plus récents sur {len(scored)}" in note and "excel_max_rows" in note


def test_traffic_lights_and_tiles():
    assert traffic_light(12, 10, False, 5) == "green"
    assert traffic_light(6, 10, False, 5) == "amber"
    assert traffic_light(-20, 10, False, 5) == "red"
    assert traffic_light(2.4, 2.5, True, 0.3) == "green" and traffic_light(2.7, 2.5, True, 0.3) == "amber"
    assert traffic_light(3.5, 2.5, True, 0.3) == "red" and traffic_light(3.5, None, True, 0.3) == "grey"
    kpis = {
        "overall": {"nps": {"nps": 5.0, "n": 50, "low_n": True}, "text": {"volume": 10, "negative_pct": 30.0}},
        "by_period": {"2026-01": {"nps": {"nps": 0.0}, "text": {}}, "2026-02": {"nps": {"nps": 8.0}, "text": {}}},
    }
    tiles = {t["name"]: t for t in summary_tiles(kpis, {"targets": {"nps": 10}, "kpis": ["nps", "negative_pct"]})}
    assert tiles["nps"]["arrow"] == "↑" and tiles["nps"]["arrow_good"] is True and tiles["nps"]["low_n"]
    assert tiles["nps"]["light"] == "red" and tiles["negative_pct"]["light"] == "grey"


def test_word_cloud_keeps_frequent_bigrams_together():
    freq = cloud_frequencies(["frais bancaire élevé", "frais bancaire abusif", "frais bancaire", "appli"], min_bigram=3)
    assert freq["frais bancaire"] == 3 and "appli" in freq


@pytest.mark.parametrize("n", [17, 3])
def test_a_social_post_with_few_comments_gets_a_report_in_small_n_mode(tmp_path, n, params):
    """17 comments under a post (and 3): no clustering, topics from the named themes, a full report."""
    from pipeline.irritants import ASPECT_COLUMNS
    from pipeline.topics import run_topics

    comments = [
        "Les frais de tenue de compte ont encore augmenté, c'est scandaleux",
        "Super appli, rapide et claire",
        "Mon conseiller ne répond jamais au téléphone",
        "Appli en panne depuis la mise à jour, impossible de me connecter",
        "Merci à l'agence pour l'accueil",
        "Trop de frais sur la carte",
    ]
    texts = [comments[i % len(comments)] + f" ({i})" for i in range(n)]
    scored = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "text": texts,
            "has_text": True,
            "date": pd.Timestamp("2026-11-20") + pd.to_timedelta(range(n), unit="h"),
            "channel": "réseau social",
            "tone": ["négatif" if "frais" in t or "panne" in t or "jamais" in t else "positif" for t in texts],
            "tone_score": [-0.6 if "frais" in t else 0.5 for t in texts],
            "qualification": "critique",
            "service": "Service Clients",
            "priority": "moyen",
            "journey_stage": "usage / aide",
            "customer_id": None,
        }
    )
    lemmas = pd.DataFrame({"id": scored["id"], "lemmas": [t.lower() for t in texts]})
    _, topics, _, metrics = run_topics(scored, np.zeros((n, 4), np.float32), lemmas, params["topics"], None)
    assert metrics["mode"].startswith("small-N")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "kpis.json").write_text(json.dumps(compute_kpis(scored, params["kpis"], ["réclamation"])))
    (reports / "alerts.json").write_text(
        json.dumps({"alerts": detect_alerts(scored, params["alerts"], topics)}, default=str)
    )
    no_aspects = pd.DataFrame(columns=ASPECT_COLUMNS)
    for name, frame in build_reports(scored, topics, no_aspects, {"quotes": 3}).items():
        frame.to_csv(reports / f"{name}.csv", index=False)
    html = build_report(reports, scored, topics, lemmas, params["report"], topics_metrics=metrics)
    assert "mode petit volume" in html and 'data-section="themes"' in html
    assert "frais" in html and "application" in html  # named themes found by their seed words


def test_the_actions_file_is_checked_and_completed(tmp_path):
    from pipeline.errors import VoixError
    from pipeline.report import ACTION_COLUMNS, read_actions

    broken = tmp_path / "actions.csv"
    broken.write_text("subject,action\nfrais,prévenir avant\n", encoding="utf-8")
    with pytest.raises(VoixError, match=r"missing columns \['owner', 'deadline', 'status'\]"):
        read_actions(broken)
    minimal = tmp_path / "minimal.csv"
    minimal.write_text("subject,action,owner,deadline,status\nfrais,prévenir avant,Marketing,2026-06-30,en cours\n")
    actions = read_actions(minimal)
    assert list(actions.columns) == ACTION_COLUMNS and actions["date_done"].isna().all()

"""Alerts: negative surges with their evidence, emerging topics, repeat complainers, churn."""

import numpy as np
import pandas as pd

from pipeline.alerts import detect_alerts, surge_weeks, tail_p_value, weekly_counts


def test_a_spike_is_flagged_and_does_not_become_the_new_normal():
    weeks = pd.date_range("2026-01-05", periods=16, freq="W-MON")
    counts = pd.Series([3, 4, 2, 3, 5, 3, 4, 2, 3, 4, 30, 25, 3, 4, 2, 3], index=weeks)
    result = surge_weeks(counts, {})
    flagged = result.loc[result["flagged"], "week"].tolist()
    assert flagged == [weeks[10], weeks[11]]  # both weeks of the episode: week 10 is not in week 11's baseline
    assert result.set_index("week").loc[weeks[11], "baseline"] < 5


def test_no_alert_on_a_quiet_stationary_series():
    rng = np.random.default_rng(1)
    weeks = pd.date_range("2025-01-06", periods=52, freq="W-MON")
    assert not surge_weeks(pd.Series(rng.poisson(6, 52), index=weeks), {})["flagged"].any()


def test_overdispersed_baselines_need_a_bigger_jump():
    assert tail_p_value(12, 4.0, 4.0) < tail_p_value(12, 4.0, 16.0)  # same mean, noisier weeks
    assert tail_p_value(0, 4.0, 4.0) == 1.0


def test_weekly_counts_fill_empty_weeks():
    counts = weekly_counts(pd.Series(pd.to_datetime(["2026-03-02", "2026-03-04", "2026-03-18"])))
    assert counts.tolist() == [2, 0, 1]


def _table():
    rows = []
    day = pd.Timestamp("2025-10-06")  # 20 quiet weeks, then a burst of complaints about the app
    for week in range(20):
        for k in range(3):
            rows.append({"date": day + pd.Timedelta(weeks=week, days=k), "tone": "négatif", "service": "Gestion"})
            rows.append({"date": day + pd.Timedelta(weeks=week, days=k), "tone": "positif", "service": "Gestion"})
    burst = day + pd.Timedelta(weeks=20)
    rows += [{"date": burst + pd.Timedelta(hours=i), "tone": "négatif", "service": "Informatique"} for i in range(25)]
    table = pd.DataFrame(rows)
    table["id"] = [f"v{i}" for i in range(len(table))]
    table["has_text"] = True
    table["customer_id"] = None
    table.loc[[0, 30, 60], "customer_id"] = "cust_a"
    table["repeat_complainer"] = False
    table.loc[[30, 60], "repeat_complainer"] = True
    table["churn_risk"] = False
    table.loc[len(table) - 1, "churn_risk"] = True
    return table


def test_detect_alerts_gives_evidence_and_puts_the_urgent_first():
    table = _table()
    topics = pd.DataFrame({"id": table["id"], "topic_label": ["appli"] * len(table)})
    topics.loc[table.index[-25:], "topic_label"] = "panne appli"
    alerts = detect_alerts(table, {"surge_by": ["service"], "recent_weeks": 1}, topics)
    surges = [a for a in alerts if a["type"] == "negative_surge"]
    assert {a["scope"] for a in surges} == {"all verbatims", "service = Informatique"}
    overall = next(a for a in surges if a["scope"] == "all verbatims")
    assert overall["period"]["from"] == "2026-02-23" and overall["evidence"]["count"] == 25
    assert overall["evidence"]["baseline_per_week"] == 3.0
    assert set(overall["evidence"]["verbatim_ids"]) <= set(table["id"].iloc[-25:])
    assert alerts[0]["level"] == "critique"
    assert any(a["type"] == "emerging_topic" and "panne appli" in a["scope"] for a in alerts)
    repeat = next(a for a in alerts if a["type"] == "repeat_complainer")
    assert repeat["scope"] == "customer cust_a" and repeat["evidence"]["count"] == 3
    assert next(a for a in alerts if a["type"] == "churn_risk")["evidence"]["count"] == 1

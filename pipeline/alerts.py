"""Stage `alerts`: what needs action today, each alert with its evidence.

In:  `data/processed/verbatims.parquet` (scored), optionally `data/processed/topics.parquet`.
Out: `reports/alerts.json`: a list of alerts, most urgent first, each with `type`, `level`,
     `period`, a sentence saying what happened, and `evidence` (counts, baseline, p-value,
     verbatim ids).

Alert types:
- `negative_surge`: the negative verbatims of a week (overall, and per theme / service) are far
  above their baseline. Method: the baseline rate is the mean weekly count of the previous
  `baseline_weeks` weeks (at least `min_baseline`); the week is flagged when the one-sided
  Poisson tail P(X >= count | baseline) is below `p_value`, the count is at least `min_count`,
  and at least `min_ratio` times the baseline. Consecutive flagged weeks form one episode. The
  false-alarm rate of this rule on stationary data (no change) is measured by
  `benchmarks/bench_alerts.py` (Poisson and over-dispersed series) and quoted in the README.
- `emerging_topic`: a topic whose volume in the last `recent_weeks` weeks is at least
  `emerging_ratio` times its share before (or that did not exist before), with `min_count`
  verbatims.
- `repeat_complainer`: a pseudonymised customer with several complaints.
- `churn_risk`: customers whose words or classifier say they are about to leave.

Run: python -m pipeline.alerts SCORED TOPICS ALERTS_JSON
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import nbinom, poisson

log = logging.getLogger("voix.alerts")

DEFAULTS = {
    "baseline_weeks": 8,
    "min_baseline": 1.0,
    "p_value": 0.001,
    "min_count": 5,
    "min_ratio": 2.0,
    "overdispersion": True,
    "recent_weeks": 4,
    "emerging_ratio": 3.0,
    "max_ids": 20,
}


def weekly_counts(dates: pd.Series, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.Series:
    """Counts per ISO week (Monday start), with the empty weeks as zeros."""
    dates = pd.to_datetime(dates, errors="coerce").dropna()
    weeks = dates.dt.to_period("W-SUN").dt.start_time
    counts = weeks.value_counts().sort_index()
    if start is None and not len(counts):
        return counts.astype(int)
    first = start if start is not None else counts.index.min()
    last = end if end is not None else counts.index.max()
    full = pd.date_range(first, last, freq="W-MON")
    return counts.reindex(full, fill_value=0).astype(int)


def tail_p_value(count: float, mean: float, variance: float) -> float:
    """P(X >= count) for weekly counts of this mean: Poisson, or negative binomial when the
    baseline weeks vary more than a Poisson would (variance > mean; counts of complaints do)."""
    if count <= 0:
        return 1.0
    if variance > mean:
        k = mean**2 / (variance - mean)  # dispersion by the method of moments
        return float(nbinom.sf(count - 1, k, k / (k + mean)))
    return float(poisson.sf(count - 1, mean))


def surge_weeks(counts: pd.Series, config: dict[str, Any]) -> pd.DataFrame:
    """Every week with its baseline, ratio, Poisson tail p-value and whether it is flagged."""
    cfg = {**DEFAULTS, **config}
    values = counts.to_numpy(dtype=float)
    history = values.copy()  # flagged weeks are replaced by their baseline: a surge is not "normal" later
    n_base = int(cfg["baseline_weeks"])
    rows = []
    for i in range(len(values)):
        if i < n_base:  # not enough history to know what is normal
            continue
        window = history[i - n_base : i]
        baseline = max(float(window.mean()), float(cfg["min_baseline"]))
        count = values[i]
        p = tail_p_value(count, baseline, float(window.var(ddof=1)) if cfg["overdispersion"] else 0.0)
        flagged = p < cfg["p_value"] and count >= cfg["min_count"] and count >= cfg["min_ratio"] * baseline
        if flagged:
            history[i] = baseline
        rows.append(
            {
                "week": counts.index[i],
                "count": int(count),
                "baseline": round(baseline, 2),
                "p_value": p,
                "flagged": flagged,
            }
        )
    return pd.DataFrame(rows, columns=["week", "count", "baseline", "p_value", "flagged"])


def _episodes(weeks: pd.DataFrame) -> list[pd.DataFrame]:
    """Runs of consecutive flagged weeks."""
    flagged = weeks[weeks["flagged"]]
    episodes: list[list[int]] = []
    for index in flagged.index:
        if episodes and index == episodes[-1][-1] + 1:
            episodes[-1].append(index)
        else:
            episodes.append([index])
    return [weeks.loc[e] for e in episodes]


def negative_surges(
    table: pd.DataFrame, config: dict[str, Any], by: str | None = None, label: str = "all"
) -> list[dict[str, Any]]:
    """`negative_surge` alerts, overall (`by` None) or per value of column `by`."""
    cfg = {**DEFAULTS, **config}
    negative = table[(table["tone"] == "négatif") & table["date"].notna()]
    dates = pd.to_datetime(table["date"], errors="coerce").dropna()
    if dates.empty:
        return []
    start = dates.min().to_period("W-SUN").start_time
    end = dates.max().to_period("W-SUN").start_time
    groups = [(label, negative)] if by is None else list(negative.groupby(by))
    alerts = []
    for value, rows in groups:
        weeks = surge_weeks(weekly_counts(rows["date"], start, end), cfg)
        for episode in _episodes(weeks):
            first, last = episode["week"].min(), episode["week"].max() + pd.Timedelta(days=6)
            inside = rows[(rows["date"] >= first) & (rows["date"] <= last + pd.Timedelta(days=1))]
            total, base = int(episode["count"].sum()), float(episode["baseline"].mean())
            scope = "all verbatims" if by is None else f"{by} = {value}"
            alerts.append(
                {
                    "type": "negative_surge",
                    "level": "critique" if episode["count"].max() >= 4 * base else "fort",
                    "scope": scope,
                    "period": {"from": str(first.date()), "to": str(last.date())},
                    "message": (
                        f"{total} negative verbatims ({scope}) between {first.date()} and {last.date()}, "
                        f"against {base:.1f} a week usually ({len(episode)} week(s), x{episode['count'].max() / base:.1f} at the peak)."
                    ),
                    "evidence": {
                        "weekly": [
                            {"week": str(w.date()), "count": int(c), "baseline": float(b), "p_value": float(f"{p:.2e}")}
                            for w, c, b, p in episode[["week", "count", "baseline", "p_value"]].itertuples(index=False)
                        ],
                        "count": total,
                        "baseline_per_week": round(base, 2),
                        "verbatim_ids": inside.sort_values("date")["id"].head(cfg["max_ids"]).tolist(),
                    },
                }
            )
    return alerts


def emerging_topics(table: pd.DataFrame, topic_column: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Topics much more frequent in the last `recent_weeks` weeks than before."""
    cfg = {**DEFAULTS, **config}
    rows = table[table[topic_column].notna() & table["date"].notna()]
    if rows.empty:
        return []
    cut = rows["date"].max() - pd.Timedelta(weeks=cfg["recent_weeks"])
    recent, before = rows[rows["date"] > cut], rows[rows["date"] <= cut]
    alerts = []
    counts_before = before[topic_column].value_counts()
    for topic, group in recent.groupby(topic_column):
        n_recent = len(group)
        share_recent = n_recent / max(len(recent), 1)
        n_before = int(counts_before.get(topic, 0))
        share_before = n_before / max(len(before), 1)
        if n_recent >= cfg["min_count"] and (share_before == 0 or share_recent >= cfg["emerging_ratio"] * share_before):
            alerts.append(
                {
                    "type": "emerging_topic",
                    "level": "moyen",
                    "scope": f"{topic_column} = {topic}",
                    "period": {"from": str(cut.date()), "to": str(rows["date"].max().date())},
                    "message": (
                        f"'{topic}' is {share_recent:.0%} of the last {cfg['recent_weeks']} weeks' verbatims "
                        f"({n_recent}), against {share_before:.1%} before."
                    ),
                    "evidence": {
                        "count_recent": n_recent,
                        "share_recent": round(share_recent, 4),
                        "count_before": n_before,
                        "share_before": round(share_before, 4),
                        "verbatim_ids": group["id"].head(cfg["max_ids"]).tolist(),
                    },
                }
            )
    return alerts


def customer_alerts(table: pd.DataFrame, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Repeat complainers and customers at churn risk (pseudonymised ids only)."""
    cfg = {**DEFAULTS, **config}
    alerts = []
    if "repeat_complainer" in table:
        repeat = table[table["repeat_complainer"].fillna(False).astype(bool)]
        texts = table[table["has_text"].astype(bool)]
        rows_of = texts.groupby("customer_id").indices  # each customer's rows, found once
        for customer, _rows in repeat.groupby("customer_id"):
            every = texts.iloc[rows_of.get(customer, [])]
            alerts.append(
                {
                    "type": "repeat_complainer",
                    "level": "fort",
                    "scope": f"customer {customer}",
                    "period": {"from": str(every["date"].min().date()), "to": str(every["date"].max().date())},
                    "message": f"Customer {customer} complained again: {len(every)} messages, the last on {every['date'].max().date()}.",
                    "evidence": {
                        "count": int(len(every)),
                        "verbatim_ids": every.sort_values("date")["id"].tolist()[: cfg["max_ids"]],
                    },
                }
            )
    if "churn_risk" in table:
        churn = table[table["churn_risk"].fillna(False).astype(bool)].sort_values("date", ascending=False)
        if len(churn):
            alerts.append(
                {
                    "type": "churn_risk",
                    "level": "fort",
                    "scope": "customers",
                    "period": {"from": str(churn["date"].min().date()), "to": str(churn["date"].max().date())},
                    "message": f"{len(churn)} verbatims say the customer may leave ({churn['customer_id'].nunique()} identified customers).",
                    "evidence": {
                        "count": int(len(churn)),
                        "customer_ids": sorted(churn["customer_id"].dropna().unique().tolist())[: cfg["max_ids"]],
                        "verbatim_ids": churn["id"].head(cfg["max_ids"]).tolist(),
                    },
                }
            )
    return alerts


LEVELS = {"critique": 0, "fort": 1, "moyen": 2, "minime": 3}


def detect_alerts(
    table: pd.DataFrame, config: dict[str, Any], topics: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Every alert, the most urgent first (level, then most recent)."""
    table = table.copy()
    table["date"] = pd.to_datetime(table["date"], errors="coerce")
    if topics is not None and len(topics):
        extra = [c for c in ("topic_label", "theme") if c in topics and c not in table]
        table = table.merge(topics[["id", *extra]], on="id", how="left")
    alerts = negative_surges(table, config)
    for column in config.get("surge_by", []):
        if column in table:
            alerts += negative_surges(table, config, by=column)
    if "topic_label" in table:
        alerts += emerging_topics(table, "topic_label", config)
    alerts += customer_alerts(table, config)
    alerts.sort(key=lambda a: (LEVELS.get(a["level"], 9), -pd.Timestamp(a["period"]["to"]).value))
    return alerts


def main(scored: Path, topics: Path, alerts_out: Path, params_file: Path = Path("params.yaml")) -> None:
    """Detect the alerts of the scored verbatims."""
    from pipeline.params import load_params

    config = load_params(params_file).get("alerts", {})
    table = pd.read_parquet(scored)
    topic_table = pd.read_parquet(topics) if Path(topics).exists() else None
    alerts = detect_alerts(table, config, topic_table)
    Path(alerts_out).parent.mkdir(parents=True, exist_ok=True)
    Path(alerts_out).write_text(
        json.dumps(
            {"method": __doc__.split("Alert types:")[1].split("Run:")[0].strip(), "alerts": alerts},
            indent=2,
            ensure_ascii=False,
            default=_json,
        )
        + "\n"
    )
    counts = pd.Series([a["type"] for a in alerts]).value_counts().to_dict() if alerts else {}
    log.info("%d alerts: %s", len(alerts), counts)


def _json(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return str(value)
    raise TypeError(type(value))


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

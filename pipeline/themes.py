"""Stage `themes`: ranked themes, irritants and enthousiasmants, with quotes, trends and impact.

In:  `data/processed/verbatims.parquet` (scored), `data/processed/topics.parquet` (topics and
     named themes), `data/processed/aspects.parquet` (irritants / enthousiasmants).
Out: `reports/themes.csv`, `reports/irritants.csv`, `reports/enthousiasmants.csv`,
     `reports/journey.csv`, `metrics/themes.json`.

For each theme (named theme, or topic label of a candidate) and each irritant category:
- `volume`: verbatims mentioning it; `share_pct`: % of all verbatims with text;
- `negative_pct`: % of those verbatims whose tone is négatif; `mean_tone_score` (-1..1);
- `trend_pts`: its share of the verbatims in the last `trend_months` months minus its share in
  the `trend_months` months before (percentage points), and `trend` (up / down / flat within
  `flat_pts`);
- `impact` = volume x share negative = its number of negative verbatims (what fixing it would
  remove), `impact_pct` its share of all negative verbatims, sorted descending with the
  cumulative % (`pareto_cum_pct`: the Pareto);
- `nps_points_lost`: 100 x its detractors / all NPS answers (survey data): the NPS would be
  that many points higher if those detractors had been passives;
- themes only, importance x satisfaction: `importance` = share_pct, `satisfaction` = % positive;
  `quadrant` against the medians: "zone d'urgence" (important, unsatisfying) first;
- "autre" (a negative sentence of no named category) and topic outliers are ranked last;
- `quotes`: the most telling redacted verbatims (or sentences, for irritants), with their ids.

Run: python -m pipeline.themes SCORED TOPICS ASPECTS REPORTS_DIR METRICS_JSON
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("voix.themes")


def trend_windows(dates: pd.Series, months: int) -> tuple[pd.Series, pd.Series]:
    """Masks of the last `months` months and of the `months` before them."""
    dates = pd.to_datetime(dates, errors="coerce")
    end = dates.max()
    if pd.isna(end):
        false = pd.Series(False, index=dates.index)
        return false, false
    cut = end - pd.DateOffset(months=months)
    start = cut - pd.DateOffset(months=months)
    return (dates > cut), (dates > start) & (dates <= cut)


def _segments(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by `codes` (0..k-1), each group's rows in their order, and where each group starts."""
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(codes))]) if len(codes) else np.zeros(1, dtype=int)
    return order, starts


def _segment_means(values: np.ndarray, starts: np.ndarray) -> list[float]:
    """Mean of each segment `values[starts[i]:starts[i + 1]]`, NaN skipped, added up as `Series.mean`
    adds them (numpy's sum of the segment, in order): the same float to the last bit."""
    means = []
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        segment = values[a:b]
        missing = np.isnan(segment)
        count = len(segment) - int(missing.sum())
        means.append(float(np.where(missing, 0.0, segment).sum() / count) if count else float("nan"))
    return means


def _top_stages(members: pd.DataFrame, key: str, n: int = 3) -> pd.DataFrame:
    """Per value of `key`: its journey stages by frequency (ties: first seen first, as `value_counts`
    orders them): `journey_stage` the first, `journey_stages` the `n` first as "stage (count); ..."."""
    staged = members.dropna(subset=["journey_stage"]).assign(seen=lambda f: np.arange(len(f)))
    counts = staged.groupby([key, "journey_stage"], sort=False).agg(count=("id", "size"), seen=("seen", "min"))
    counts = counts.reset_index().sort_values([key, "count", "seen"], ascending=[True, False, True])
    counts = counts.groupby(key, sort=False).head(n)
    counts["label"] = counts["journey_stage"].astype(str) + " (" + counts["count"].astype(str) + ")"
    return counts.groupby(key, sort=False).agg(
        journey_stage=("journey_stage", "first"), journey_stages=("label", "; ".join)
    )


def rank(
    table: pd.DataFrame,
    membership: pd.DataFrame,
    key: str,
    config: dict[str, Any],
    quotes: pd.DataFrame | None = None,
    nps_bands: dict[str, list[int]] | None = None,
    with_quadrant: bool = True,
) -> pd.DataFrame:
    """One row per value of `key` in `membership` (id, key): volume, tone, trend, impact, Pareto."""
    bands = nps_bands or {"detractors": [0, 6]}
    texts = table[table["has_text"].astype(bool)]
    total = max(len(texts), 1)
    recent, before = trend_windows(texts["date"], int(config.get("trend_months", 3)))
    recent_ids, before_ids = texts.loc[recent, "id"].unique(), texts.loc[before, "id"].unique()
    negatives_total = max(int((texts["tone"] == "négatif").sum()), 1)
    nps_answers = table["nps"].notna().sum() if "nps" in table else 0
    flat = float(config.get("flat_pts", 1.0))
    # one row per (value, verbatim of the table), in the order of `membership`
    columns = ["id", *[c for c in ("tone", "tone_score", "nps", "journey_stage") if c in table and c != key]]
    members = membership[[key, "id"]].dropna(subset=[key]).drop_duplicates().merge(table[columns], on="id")
    flags = pd.DataFrame(
        {
            "negative": members["tone"] == "négatif",
            "positive": members["tone"] == "positif",
            "recent": members["id"].isin(recent_ids),
            "before": members["id"].isin(before_ids),
            "detractors": members["nps"].between(*bands["detractors"]).fillna(False).astype(bool)
            if "nps" in members
            else False,
        }
    )
    groups = flags.groupby(members[key])
    counts = groups.sum().assign(volume=groups.size())
    order, starts = _segments(groups.ngroup().to_numpy())
    counts["mean_tone"] = _segment_means(members["tone_score"].to_numpy(dtype=float)[order], starts)
    no_stages = pd.DataFrame(columns=["journey_stage", "journey_stages"])
    stages = _top_stages(members, key) if "journey_stage" in members else no_stages
    top_stage, top_stages = stages["journey_stage"].to_dict(), stages["journey_stages"].to_dict()
    picked = top_quotes(quotes, key, int(config.get("quotes", 3))).to_dict() if quotes is not None else None
    rows = []
    for value, c in zip(counts.index, counts.itertuples(index=False), strict=True):
        volume, negative, detractors = int(c.volume), int(c.negative), int(c.detractors)
        share_recent = 100 * int(c.recent) / max(len(recent_ids), 1)
        share_before = 100 * int(c.before) / max(len(before_ids), 1)
        trend_pts = round(share_recent - share_before, 1) if len(recent_ids) and len(before_ids) else None
        row = {
            key: value,
            "volume": volume,
            "share_pct": round(100 * volume / total, 1),
            "negative_pct": round(100 * negative / volume, 1),
            "positive_pct": round(100 * float(int(c.positive) / volume), 1),
            "mean_tone_score": round(c.mean_tone, 3),
            "trend_pts": trend_pts,
            "trend": None
            if trend_pts is None
            else ("up" if trend_pts > flat else "down" if trend_pts < -flat else "flat"),
            "impact": negative,
            "impact_pct": round(100 * negative / negatives_total, 1),
            "nps_points_lost": round(100 * detractors / nps_answers, 1) if nps_answers else None,
            "journey_stage": top_stage.get(value),
            "journey_stages": top_stages.get(value, ""),
        }
        if picked is not None:
            row["quotes"] = picked["quotes"].get(value, "")
            row["quote_ids"] = picked["quote_ids"].get(value, "")
        rows.append(row)
    ranked = pd.DataFrame(rows)
    if ranked.empty:  # an empty table keeps its header: the report (and Excel) still read it
        columns = [key, "volume", "share_pct", "negative_pct", "positive_pct", "mean_tone_score", "trend_pts", "trend"]
        columns += ["impact", "impact_pct", "nps_points_lost", "journey_stage", "journey_stages", "quotes", "quote_ids"]
        return pd.DataFrame(columns=["rank", *columns, "pareto_cum_pct"] + (["quadrant"] if with_quadrant else []))
    ranked["_other"] = ranked[key].isin(["autre", "outliers"])  # "none of the named ones" goes last
    ranked = ranked.sort_values(["_other", "impact", "volume"], ascending=[True, False, False]).drop(columns="_other")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    ranked["pareto_cum_pct"] = (100 * ranked["impact"].cumsum() / max(ranked["impact"].sum(), 1)).round(1)
    if not with_quadrant:
        return ranked
    importance, satisfaction = ranked["share_pct"].median(), ranked["positive_pct"].median()
    ranked["quadrant"] = [
        ("zone d'urgence" if s < satisfaction else "point fort à préserver")
        if i >= importance
        else ("à surveiller" if s < satisfaction else "secondaire")
        for i, s in zip(ranked["share_pct"], ranked["positive_pct"], strict=True)
    ]
    return ranked


def top_quotes(quotes: pd.DataFrame, key: str, n: int) -> pd.DataFrame:
    """Per value of `key`, its `n` most telling quotes: surest tone first, readable length, one per
    verbatim (`quotes` joined by " | ", `quote_ids`)."""
    c = quotes[quotes[key].notna()]
    c = c.assign(
        length_ok=c["quote"].str.len().between(25, 300),
        no_placeholder=~c["quote"].str.contains(r"\[[A-Z_]+\]", regex=True),  # redacted bits read badly
    )
    c = c.sort_values([key, "length_ok", "no_placeholder", "strength"], ascending=[True, False, False, False])
    c = c.drop_duplicates([key, "id"]).groupby(key, sort=False).head(n)
    c = c.assign(quote=[q.replace("\n", " ").strip()[:300] for q in c["quote"]])
    return c.groupby(key, sort=False).agg(quotes=("quote", " | ".join), quote_ids=("id", " ".join))


def _first_by_confidence(confidence: np.ndarray) -> int:
    """The row `sort_values("confidence", ascending=False).iloc[0]` gives, ties included: pandas sorts
    descending by numpy's (unstable) quicksort of the reversed values (NaN last), and so does this."""
    known = np.flatnonzero(~np.isnan(confidence))
    if not len(known):
        return 0
    return int(known[len(known) - 1 - int(confidence[known][::-1].argsort(kind="quicksort")[-1])])


def journey_map(aspects: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """Per journey stage: its top irritants and enthousiasmants ("plus"), with a quote each."""
    n = int(config.get("journey_items", 3))
    staged = aspects.dropna(subset=["journey_stage"])
    tables = []
    for polarity, label, column in (("irritant", "irritants", "category"), ("enthousiasmant", "plus", "aspect_key")):
        part = staged[(staged["polarity"] == polarity) & staged[column].notna() & (staged[column] != "autre")]
        groups = part.groupby(["journey_stage", column])
        order, starts = _segments(groups.ngroup().to_numpy())
        confidence = part["confidence"].to_numpy(dtype=float)
        best = [
            order[a + _first_by_confidence(confidence[order[a:b]])]
            for a, b in zip(starts[:-1], starts[1:], strict=True)
        ]
        items = groups["id"].nunique().rename("verbatims").reset_index()
        tables.append(
            pd.DataFrame(
                {
                    "journey_stage": items["journey_stage"].to_numpy(),
                    "kind": label,
                    "item": items[column].to_numpy(),
                    "verbatims": items["verbatims"].to_numpy(),
                    "quote": [str(s)[:300] for s in part["sentence"].to_numpy()[best]],
                    "quote_id": part["id"].to_numpy()[best],
                }
            )
        )
    tables = [t for t in tables if len(t)]
    columns = ["journey_stage", "kind", "item", "verbatims", "quote", "quote_id"]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    return (
        table.sort_values(["journey_stage", "kind", "verbatims"], ascending=[True, True, False])
        .groupby(["journey_stage", "kind"])
        .head(n)
        .reset_index(drop=True)
    )


def build_reports(
    table: pd.DataFrame,
    topics: pd.DataFrame,
    aspects: pd.DataFrame,
    config: dict[str, Any],
    nps_bands: dict | None = None,
) -> dict[str, pd.DataFrame]:
    """themes, irritants, enthousiasmants and journey tables."""
    texts = table[table["has_text"].astype(bool)]
    theme_of = topics.assign(theme=topics["theme"].fillna(topics["topic_label"]))[["id", "theme"]]
    theme_quotes = theme_of.merge(texts[["id", "text", "tone", "tone_score"]], on="id")
    dominant_negative = (theme_quotes["tone"] == "négatif").groupby(theme_quotes["theme"]).mean() >= 0.5
    negative_theme = theme_quotes["theme"].map(dominant_negative).fillna(True).astype(bool).to_numpy()
    theme_quotes["strength"] = np.where(negative_theme, -theme_quotes["tone_score"], theme_quotes["tone_score"])
    theme_quotes["quote"] = theme_quotes["text"].astype(str)
    themes = rank(table, theme_of, "theme", config, theme_quotes, nps_bands)
    reports = {"themes": themes}
    for polarity, name, column in (
        ("irritant", "irritants", "category"),
        ("enthousiasmant", "enthousiasmants", "aspect_key"),
    ):
        part = aspects[aspects["polarity"] == polarity].copy()
        if polarity == "irritant":
            part = part[part["category"].notna()]
        part = part.rename(columns={column: name[:-1]}) if column != name[:-1] else part
        key = name[:-1]
        part["quote"] = part["sentence"].astype(str)
        part["strength"] = part["confidence"]
        ranked = rank(table, part[["id", key]].drop_duplicates(), key, config, part, nps_bands, with_quadrant=False)
        if polarity == "irritant":
            top = part.groupby(key)["aspect_key"].agg(
                lambda s: ", ".join(f"{a} ({n})" for a, n in s.value_counts().head(5).items())
            )
            ranked.insert(2, "top_aspects", ranked[key].map(top))
        if polarity == "enthousiasmant" and len(ranked):
            ranked = ranked[ranked["volume"] >= int(config.get("min_volume", 2))].reset_index(drop=True)
        reports[name] = ranked
    reports["journey"] = journey_map(aspects, config)
    return reports


def main(
    scored: Path,
    topics: Path,
    aspects: Path,
    reports_dir: Path,
    metrics_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Rank the themes, irritants and enthousiasmants."""
    from pipeline.chunked import read_columns
    from pipeline.params import load_params

    params = load_params(params_file)
    config = {**params.get("irritants", {}), **params.get("themes", {})}
    # only the columns used: at a million verbatims the whole scored table (~55 columns) and the
    # aspects (~5 million rows) were 8 GB between them
    table = read_columns(scored, ["id", "has_text", "date", "text", "tone", "tone_score", "nps", "journey_stage"])
    aspect_columns = ["id", "polarity", "category", "aspect_key", "sentence", "confidence", "journey_stage"]
    reports = build_reports(
        table,
        pd.read_parquet(topics, columns=["id", "topic_label", "theme"]),
        pd.read_parquet(aspects, columns=aspect_columns),
        config,
        params.get("kpis", {}).get("nps_bands"),
    )
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in reports.items():
        frame.to_csv(reports_dir / f"{name}.csv", index=False)
    irritants = reports["irritants"]
    metrics = {
        "themes": len(reports["themes"]),
        "irritant_categories": len(irritants),
        "top_irritant": str(irritants["irritant"].iloc[0]) if len(irritants) else None,
        "top_irritant_impact_pct": float(irritants["impact_pct"].iloc[0]) if len(irritants) else None,
        "themes_in_zone_d_urgence": int(
            (reports["themes"].get("quadrant", pd.Series(dtype=str)) == "zone d'urgence").sum()
        ),
    }
    Path(metrics_out).parent.mkdir(parents=True, exist_ok=True)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    log.info("%s", metrics)


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

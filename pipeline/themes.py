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
    recent_ids, before_ids = set(texts.loc[recent, "id"]), set(texts.loc[before, "id"])
    negatives_total = max(int((texts["tone"] == "négatif").sum()), 1)
    nps_answers = table["nps"].notna().sum() if "nps" in table else 0
    info = table.set_index("id")
    rows = []
    for value, group in membership.groupby(key):
        ids = list(dict.fromkeys(group["id"]))
        sub = info.loc[[i for i in ids if i in info.index]]
        volume = len(sub)
        if not volume:
            continue
        negative = int((sub["tone"] == "négatif").sum())
        share_recent = 100 * len(recent_ids & set(ids)) / max(len(recent_ids), 1)
        share_before = 100 * len(before_ids & set(ids)) / max(len(before_ids), 1)
        trend_pts = round(share_recent - share_before, 1) if recent_ids and before_ids else None
        flat = float(config.get("flat_pts", 1.0))
        detractors = int(sub["nps"].between(*bands["detractors"]).sum()) if "nps" in sub else 0
        stages = sub["journey_stage"].value_counts() if "journey_stage" in sub else pd.Series(dtype=int)
        row = {
            key: value,
            "volume": volume,
            "share_pct": round(100 * volume / total, 1),
            "negative_pct": round(100 * negative / volume, 1),
            "positive_pct": round(100 * float((sub["tone"] == "positif").mean()), 1),
            "mean_tone_score": round(float(sub["tone_score"].mean()), 3),
            "trend_pts": trend_pts,
            "trend": None
            if trend_pts is None
            else ("up" if trend_pts > flat else "down" if trend_pts < -flat else "flat"),
            "impact": negative,
            "impact_pct": round(100 * negative / negatives_total, 1),
            "nps_points_lost": round(100 * detractors / nps_answers, 1) if nps_answers else None,
            "journey_stage": stages.index[0] if len(stages) else None,
            "journey_stages": "; ".join(f"{s} ({n})" for s, n in stages.head(3).items()),
        }
        if quotes is not None:
            row.update(pick_quotes(quotes[quotes[key] == value], int(config.get("quotes", 3))))
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


def pick_quotes(candidates: pd.DataFrame, n: int) -> dict[str, str]:
    """The `n` most telling quotes: surest tone first, readable length, one per verbatim."""
    if candidates.empty:
        return {"quotes": "", "quote_ids": ""}
    c = candidates.copy()
    c["length_ok"] = c["quote"].str.len().between(25, 300)
    c["no_placeholder"] = ~c["quote"].str.contains(r"\[[A-Z_]+\]", regex=True)  # redacted bits read badly
    c = c.sort_values(["length_ok", "no_placeholder", "strength"], ascending=False).drop_duplicates("id").head(n)
    return {
        "quotes": " | ".join(q.replace("\n", " ").strip()[:300] for q in c["quote"]),
        "quote_ids": " ".join(c["id"]),
    }


def journey_map(aspects: pd.DataFrame, config: dict[str, Any]) -> pd.DataFrame:
    """Per journey stage: its top irritants and enthousiasmants ("plus"), with a quote each."""
    rows = []
    n = int(config.get("journey_items", 3))
    for stage, group in aspects.dropna(subset=["journey_stage"]).groupby("journey_stage"):
        for polarity, label in (("irritant", "irritants"), ("enthousiasmant", "plus")):
            part = group[group["polarity"] == polarity]
            column = "category" if polarity == "irritant" else "aspect_key"
            part = part[part[column].notna() & (part[column] != "autre")]
            for item, items in part.groupby(column):
                best = items.sort_values("confidence", ascending=False).iloc[0]
                rows.append(
                    {
                        "journey_stage": stage,
                        "kind": label,
                        "item": item,
                        "verbatims": items["id"].nunique(),
                        "quote": str(best["sentence"])[:300],
                        "quote_id": best["id"],
                    }
                )
    table = pd.DataFrame(rows, columns=["journey_stage", "kind", "item", "verbatims", "quote", "quote_id"])
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
    dominant_negative = theme_quotes.groupby("theme")["tone"].apply(lambda s: (s == "négatif").mean() >= 0.5)
    theme_quotes["strength"] = [
        -score if dominant_negative.get(theme, True) else score
        for theme, score in zip(theme_quotes["theme"], theme_quotes["tone_score"], strict=True)
    ]
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
    from pipeline.params import load_params

    params = load_params(params_file)
    config = {**params.get("irritants", {}), **params.get("themes", {})}
    table = pd.read_parquet(scored)
    reports = build_reports(
        table, pd.read_parquet(topics), pd.read_parquet(aspects), config, params.get("kpis", {}).get("nps_bands")
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

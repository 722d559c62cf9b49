"""Stage `kpis`: NPS, CES, CSAT and the text indicators, overall and by period and segment.

In:  `data/processed/verbatims.parquet` (the `score` stage's table).
Out: - `reports/kpis.json`: every indicator overall, by period (month by default), and by each
       column of `kpis.group_by` (channel, journey stage, segment, touchpoint...), each with its
       number of answers and `low_n: true` where n < `kpis.min_n` (an NPS on 40 answers is noise);
     - `metrics/kpis.json`: the headline numbers, for `dvc metrics diff`;
     - `reports/plots/kpis_by_period.csv`: one row per period, for `dvc plots`.

Definitions (bands in params.yaml):
- NPS = % promoters (9-10) - % detractors (0-6) of the 0-10 answers, in points (-100..100);
- CES = mean of the 1 (low effort) - 5 (high effort) answers, lower is better;
- CSAT = % of satisfied answers (csat_score >= `csat_satisfied_min` on the 1-4 scale; "non
  concerné" is not an answer);
- text indicators, on verbatims with text: volume, % négatif (tone), % complaints (qualification
  in `score.complaint_labels`), mean tone_score.

Run: python -m pipeline.kpis SCORED KPIS_JSON METRICS_JSON PLOT_CSV
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("voix.kpis")

DEFAULT_BANDS = {"promoters": [9, 10], "passives": [7, 8], "detractors": [0, 6]}


def nps(scores: pd.Series, bands: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Net Promoter Score of 0-10 answers, with the shares of each band."""
    bands = bands or DEFAULT_BANDS
    values = pd.to_numeric(scores, errors="coerce").dropna()
    n = len(values)
    if not n:
        return {"n": 0, "nps": None}
    promoters = values.between(*bands["promoters"]).sum()
    detractors = values.between(*bands["detractors"]).sum()
    passives = n - promoters - detractors
    return {
        "n": int(n),
        "nps": round(100.0 * (promoters - detractors) / n, 1),
        "promoters_pct": round(100.0 * promoters / n, 1),
        "passives_pct": round(100.0 * passives / n, 1),
        "detractors_pct": round(100.0 * detractors / n, 1),
    }


def ces(scores: pd.Series) -> dict[str, Any]:
    """Customer Effort Score: mean of the 1-5 answers (lower is better)."""
    values = pd.to_numeric(scores, errors="coerce").dropna()
    return {"n": int(len(values)), "ces": round(float(values.mean()), 2) if len(values) else None}


def csat(scores: pd.Series, satisfied_min: float = 3) -> dict[str, Any]:
    """Share of satisfied answers (1-4 scale), in %."""
    values = pd.to_numeric(scores, errors="coerce").dropna()
    n = len(values)
    return {"n": int(n), "csat": round(100.0 * float((values >= satisfied_min).mean()), 1) if n else None}


def text_indicators(frame: pd.DataFrame, complaint_labels: list[str]) -> dict[str, Any]:
    """Volume, % négatif, % complaints and mean tone of the verbatims with text."""
    texts = frame[frame["has_text"].astype(bool)] if "has_text" in frame else frame
    n = len(texts)
    out: dict[str, Any] = {"volume": int(n)}
    if n and "tone" in texts:
        out["negative_pct"] = round(100.0 * float((texts["tone"] == "négatif").mean()), 1)
    if n and "qualification" in texts:
        out["complaints_pct"] = round(100.0 * float(texts["qualification"].isin(complaint_labels).mean()), 1)
    if n and "tone_score" in texts:
        out["mean_tone_score"] = round(float(texts["tone_score"].mean()), 3)
    return out


def indicators(frame: pd.DataFrame, config: dict[str, Any], complaint_labels: list[str]) -> dict[str, Any]:
    """Every indicator of a group of verbatims, with `low_n` flags on the survey scores."""
    min_n = config.get("min_n", 100)
    out: dict[str, Any] = {"n_rows": int(len(frame))}
    if "nps" in frame:
        out["nps"] = nps(frame["nps"], config.get("nps_bands"))
    if "ces" in frame:
        out["ces"] = ces(frame["ces"])
    if "csat_score" in frame:
        out["csat"] = csat(frame["csat_score"], config.get("csat_satisfied_min", 3))
    for key in ("nps", "ces", "csat"):
        if key in out:
            out[key]["low_n"] = bool(0 < out[key]["n"] < min_n)
    out["text"] = text_indicators(frame, complaint_labels)
    return out


def period_of(dates: pd.Series, freq: str = "M") -> pd.Series:
    """The period label of each date ("2026-03" for months, "2026-W11" for weeks)."""
    dates = pd.to_datetime(dates, errors="coerce")
    if freq.upper().startswith("W"):
        iso = dates.dt.isocalendar()
        return pd.Series(
            [f"{y}-W{w:02d}" if pd.notna(y) else None for y, w in zip(iso["year"], iso["week"], strict=True)],
            index=dates.index,
        )
    return dates.dt.to_period(freq).astype(str).where(dates.notna(), None)


def compute_kpis(table: pd.DataFrame, config: dict[str, Any], complaint_labels: list[str]) -> dict[str, Any]:
    """Overall, by period and by each `group_by` column."""
    used = ["date", "has_text", "nps", "ces", "csat_score", "tone", "qualification", "tone_score"]
    used += [c for c in config.get("group_by", []) if c not in used]
    table = table[[c for c in table if c in used]].copy()  # only what is measured: each group is a copy
    table["period"] = period_of(table["date"], config.get("period", "M"))
    dates = pd.to_datetime(table["date"], errors="coerce")
    report: dict[str, Any] = {
        "definitions": {
            "nps": "% promoters - % detractors of 0-10 answers",
            "bands": config.get("nps_bands", DEFAULT_BANDS),
            "ces": "mean of 1 (low effort) - 5 (high effort) answers; lower is better",
            "csat": f"% of answers >= {config.get('csat_satisfied_min', 3)} on the 1-4 satisfaction scale",
            "low_n": f"fewer than {config.get('min_n', 100)} answers: read with care",
        },
        "period": {
            "from": str(dates.min().date()) if dates.notna().any() else None,
            "to": str(dates.max().date()) if dates.notna().any() else None,
            "freq": config.get("period", "M"),
        },
        "overall": indicators(table, config, complaint_labels),
        "by_period": {
            str(p): indicators(g, config, complaint_labels)
            for p, g in table.dropna(subset=["period"]).groupby("period")
        },
    }
    for column in config.get("group_by", []):
        if column in table and table[column].notna().any():
            report[f"by_{column}"] = {
                str(k): indicators(g, config, complaint_labels)
                for k, g in table.dropna(subset=[column]).groupby(column)
            }
    return report


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers `dvc metrics diff` compares."""
    overall = report["overall"]
    out = {key: overall[key][key] for key in ("nps", "ces", "csat") if key in overall}
    out.update({k: v for k, v in overall["text"].items()})
    return out


def period_rows(report: dict[str, Any]) -> pd.DataFrame:
    """One row per period: the time series of `dvc plots`."""
    rows = []
    for period, ind in report["by_period"].items():
        rows.append(
            {
                "period": period,
                "nps": ind.get("nps", {}).get("nps"),
                "nps_n": ind.get("nps", {}).get("n", 0),
                "ces": ind.get("ces", {}).get("ces"),
                "csat": ind.get("csat", {}).get("csat"),
                **ind["text"],
            }
        )
    return pd.DataFrame(rows).replace({np.nan: None})


def main(
    scored: Path, kpis_out: Path, metrics_out: Path, plot_out: Path, params_file: Path = Path("params.yaml")
) -> None:
    """Compute the KPIs of the scored verbatims."""
    from pipeline.params import load_params

    params = load_params(params_file)
    config = params.get("kpis", {})
    complaint_labels = params.get("score", {}).get("complaint_labels", ["réclamation", "critique", "incident"])
    table = pd.read_parquet(scored)
    report = compute_kpis(table, config, complaint_labels)
    for path in (kpis_out, metrics_out, plot_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(kpis_out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    Path(metrics_out).write_text(json.dumps(headline(report), indent=2, ensure_ascii=False) + "\n")
    period_rows(report).to_csv(plot_out, index=False)
    overall = report["overall"]
    log.info(
        "NPS %s (n=%s), CES %s, CSAT %s, %s verbatims with text",
        overall.get("nps", {}).get("nps"),
        overall.get("nps", {}).get("n"),
        overall.get("ces", {}).get("ces"),
        overall.get("csat", {}).get("csat"),
        overall["text"]["volume"],
    )


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

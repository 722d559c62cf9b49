"""Benchmark: false-alarm rate and detection rate of the `negative_surge` alert rule.

Stationary weekly series (no change at all) of negative-verbatim counts are simulated, Poisson
and over-dispersed (negative binomial, variance = mean + mean^2 / 5, as real complaint counts
often are), at several weekly means; every week after the baseline window is tested with the
rule and the parameters of params.yaml (`alerts`). The false-alarm rate is the share of flagged
weeks, also given as "one false alarm every N weeks" for a single series. Then a surge (x2, x3,
x5 the mean for one week) is injected to measure how often it is caught.
Results: `benchmarks/results/alerts.{json,md}`.

Run: python -m benchmarks.bench_alerts [--series 200 --weeks 104]
"""

from __future__ import annotations

import argparse
from datetime import datetime

import numpy as np
import pandas as pd

from benchmarks.common import ROOT, write_results
from pipeline.alerts import DEFAULTS, surge_weeks
from pipeline.params import load_params


def simulate(rng: np.random.Generator, mean: float, weeks: int, dispersion: float | None) -> np.ndarray:
    if dispersion is None:
        return rng.poisson(mean, weeks)
    # negative binomial with the given mean and variance mean + mean^2 / dispersion
    p = dispersion / (dispersion + mean)
    return rng.negative_binomial(dispersion, p, weeks)


def false_alarms(config: dict, mean: float, dispersion: float | None, series: int, weeks: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=weeks, freq="W-MON")
    flagged = tested = 0
    for _ in range(series):
        result = surge_weeks(pd.Series(simulate(rng, mean, weeks, dispersion), index=index), config)
        flagged += int(result["flagged"].sum())
        tested += len(result)
    rate = flagged / tested
    return {
        "rate_per_week": round(rate, 5),
        "one_every_weeks": round(1 / rate) if rate else None,
        "tested_weeks": tested,
    }


def detection(config: dict, mean: float, factor: float, dispersion: float | None, series: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    weeks = int(config.get("baseline_weeks", DEFAULTS["baseline_weeks"])) + 1
    index = pd.date_range("2024-01-01", periods=weeks, freq="W-MON")
    caught = 0
    for _ in range(series):
        counts = simulate(rng, mean, weeks, dispersion)
        counts[-1] = simulate(rng, mean * factor, 1, dispersion)[0]
        caught += bool(surge_weeks(pd.Series(counts, index=index), config)["flagged"].iloc[-1])
    return round(caught / series, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--weeks", type=int, default=104)
    args = parser.parse_args()
    config = {**DEFAULTS, **load_params(ROOT / "params.yaml").get("alerts", {})}
    rows = []
    for name, dispersion in (("poisson", None), ("over-dispersed (NB, k=5)", 5.0)):
        for mean in (2, 5, 10, 30):
            fa = false_alarms(config, mean, dispersion, args.series, args.weeks, seed=int(mean * 7))
            rows.append(
                {
                    "series": name,
                    "weekly_mean": mean,
                    **fa,
                    **{
                        f"detect_x{f}": detection(config, mean, f, dispersion, 500, seed=int(mean * 11 + f))
                        for f in (2, 3, 5)
                    },
                }
            )
    report = {
        "benchmark": "alerts",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.bench_alerts --series {args.series} --weeks {args.weeks}",
        "rule": {
            k: config[k]
            for k in ("baseline_weeks", "min_baseline", "p_value", "min_count", "min_ratio", "overdispersion")
        },
        "results": rows,
    }
    table = pd.DataFrame(rows)
    lines = [
        f"# Alert rule: false alarms on stationary data, and detection ({report['date']})",
        "",
        f"`{report['command']}`; rule {report['rule']}",
        "",
        "| series | weekly mean | false alarms per week | one every N weeks | caught x2 | caught x3 | caught x5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        lines.append(
            f"| {r.series} | {r.weekly_mean} | {r.rate_per_week} | {int(r.one_every_weeks) if r.one_every_weeks == r.one_every_weeks and r.one_every_weeks else 'none seen'} | "
            f"{r.detect_x2} | {r.detect_x3} | {r.detect_x5} |"
        )
    write_results("alerts", report, lines)


if __name__ == "__main__":
    main()

"""Benchmark: the HTML report for 100k verbatims: file size, build time, and load time in Chromium.

The sample's scored outputs (`dvc repro` first) are resampled to N verbatims with new ids, dates
spread over two years, and a number appended to each text (so no two are identical); KPIs,
alerts and ranked themes are recomputed on them, then the report is built and opened in headless
Chromium (Playwright, Debian's `chromium`), timing `load`. Nothing is asserted: the targets
(< 15 MB, opens in < 10 s) are checked by reading `benchmarks/results/report.md`.

Run: python -m benchmarks.bench_report [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import datetime

import numpy as np
import pandas as pd

from benchmarks.common import ROOT, write_results
from pipeline.alerts import detect_alerts
from pipeline.kpis import compute_kpis
from pipeline.params import load_params
from pipeline.report import build_report
from pipeline.themes import build_reports

OUT = ROOT / "benchmarks" / "out" / "report"


def resample(n: int, seed: int = 0) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    scored = pd.read_parquet(ROOT / "data/processed/verbatims.parquet")
    topics = pd.read_parquet(ROOT / "data/processed/topics.parquet")
    lemmas = pd.read_parquet(ROOT / "data/interim/lemmas.parquet")
    aspects = pd.read_parquet(ROOT / "data/processed/aspects.parquet")
    pick = rng.integers(0, len(scored), n)
    big = scored.iloc[pick].reset_index(drop=True)
    old_ids = big["id"].to_numpy()
    big["id"] = [f"r{i:07d}" for i in range(n)]
    big["date"] = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 730 * 24, n), unit="h")
    big["text"] = [f"{t} (#{i})" if isinstance(t, str) else t for i, t in enumerate(big["text"])]
    mapping = pd.DataFrame({"old": old_ids, "id": big["id"]})
    big_topics = mapping.merge(topics.rename(columns={"id": "old"}), on="old").drop(columns="old")
    big_lemmas = mapping.merge(lemmas.rename(columns={"id": "old"}), on="old").drop(columns="old")
    big_aspects = mapping.merge(aspects.rename(columns={"id": "old"}), on="old").drop(columns=["old", "date"])
    big_aspects = big_aspects.merge(big[["id", "date"]], on="id")
    return big, big_topics, big_lemmas, big_aspects


def browser_load_seconds(path) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        t0 = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load")
        seconds = time.perf_counter() - t0
        browser.close()
    return round(seconds, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if not (ROOT / "data/processed/verbatims.parquet").exists():
        raise SystemExit("run `dvc repro` first: this benchmark resamples the pipeline's outputs")
    params = load_params(ROOT / "params.yaml")
    complaints = params["score"]["complaint_labels"]
    scored, topics, lemmas, aspects = resample(args.rows)
    reports = OUT / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    (reports / "kpis.json").write_text(json.dumps(compute_kpis(scored, params["kpis"], complaints), ensure_ascii=False))
    (reports / "alerts.json").write_text(
        json.dumps({"alerts": detect_alerts(scored, params["alerts"], topics)}, ensure_ascii=False, default=str)
    )
    for name, frame in build_reports(scored, topics, aspects, {**params["irritants"], **params["themes"]}).items():
        frame.to_csv(reports / f"{name}.csv", index=False)
    upstream_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    html = build_report(reports, scored, topics, lemmas, params["report"])
    build_s = time.perf_counter() - t0
    path = reports / "report.html"
    path.write_text(html, encoding="utf-8")
    size_mb = path.stat().st_size / 1e6
    load_s = browser_load_seconds(path)
    report = {
        "benchmark": "report",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": f"python -m benchmarks.bench_report --rows {args.rows}",
        "machine": {"cpus": os.cpu_count()},
        "rows": args.rows,
        "kpis_alerts_themes_seconds": round(upstream_s, 1),
        "report_build_seconds": round(build_s, 1),
        "report_mb": round(size_mb, 2),
        "chromium_load_seconds": load_s,
    }
    lines = [
        f"# HTML report for {args.rows:,} verbatims ({report['date']})",
        "",
        f"`{report['command']}` ({report['machine']['cpus']} cores)",
        "",
        f"- size of `report.html`: **{report['report_mb']} MB** (target < 15 MB)",
        f"- opened in headless Chromium (`load` event): **{load_s} s** (target < 10 s)",
        f"- building it: {report['report_build_seconds']} s; KPIs, alerts and ranked themes before it: {report['kpis_alerts_themes_seconds']} s",
    ]
    write_results("report", report, lines)


if __name__ == "__main__":
    main()

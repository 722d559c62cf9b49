"""Print where the pipeline's outputs are, after `dvc repro` (the last line of `make repro`)."""

from __future__ import annotations

import json
from pathlib import Path

# What a user opens, most important first; the first that exists is printed last, alone on its
# line, as the run's main output.
OUTPUTS = [
    ("the report (open it in a browser)", "reports/report.html"),
    ("every verbatim with its derived columns (Excel)", "reports/verbatims_enriched.xlsx"),
    ("verbatims with tone, qualification, routing", "data/processed/verbatims.parquet"),
    ("ranked themes (Pareto, trend, impact, quotes)", "reports/themes.csv"),
    ("ranked irritants with quotes and journey stages", "reports/irritants.csv"),
    ("enthousiasmants", "reports/enthousiasmants.csv"),
    ("journey map: irritants and plus per stage", "reports/journey.csv"),
    ("KPIs: NPS, CES, CSAT by period and segment", "reports/kpis.json"),
    ("alerts with their evidence", "reports/alerts.json"),
    ("topics (keywords, theme, representative verbatim)", "reports/topics.csv"),
    ("sentences with their tone", "data/processed/sentences.parquet"),
    ("classifier metrics (held-out gold)", "metrics/train.json"),
    ("verbatims (redacted)", "data/interim/verbatims.parquet"),
    ("quarantine (rows not kept, with reasons)", "data/interim/quarantine.csv"),
    ("ingest counts", "metrics/ingest.json"),
]


def main(root: Path = Path(".")) -> None:
    """Print each output that exists, with a one-line summary of the ingest counts."""
    print("\nvoix outputs:")
    for label, rel in OUTPUTS:
        path = root / rel
        if path.exists():
            print(f"  {label:45s} {path.resolve()}")
    metrics = root / "metrics/ingest.json"
    if metrics.exists():
        total = json.loads(metrics.read_text())["total"]
        print(
            f"\n  read {total['read']}, kept {total['kept']} ({total['with_text']} with text), "
            f"rejected {total['rejected']}, duplicates {total['duplicates']}, reconciles: {total['reconciles']}"
        )
    main_output = next((root / rel for _, rel in OUTPUTS if (root / rel).exists()), None)
    if main_output is not None:
        print(f"\n{main_output.resolve()}")


if __name__ == "__main__":
    main()

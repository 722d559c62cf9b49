"""Stage `consolidate`: gather every ingested source into one table.

In:  the per-source Parquet files, restricted raw files, quarantines and metrics of `ingest`.
Out: - `data/interim/verbatims.parquet`: every kept verbatim (schema `pipeline.schema`), sorted by
       date, near-duplicates across and within sources flagged in `near_duplicate_of`;
     - `data/restricted/verbatims_raw.parquet`: the raw texts (restricted: contains personal data);
     - `data/interim/quarantine.csv`: every record not kept, with its reason;
     - `metrics/ingest.json`: per-source and total counts (read = kept + rejected + duplicates).

Run: python -m pipeline.consolidate INTERIM_DIR RESTRICTED_DIR QUARANTINE_DIR METRICS_DIR OUT RAW_OUT QUARANTINE_OUT METRICS_OUT
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.dedup import near_duplicates
from pipeline.schema import validate

log = logging.getLogger("voix.consolidate")

_COUNTS = ("read", "kept", "kept_without_text", "rejected", "duplicates")


def consolidate(frames: list[pd.DataFrame], threshold: float = 0.85, min_chars: int = 40) -> pd.DataFrame:
    """Concatenate the sources' verbatims, sort them and flag near-duplicates.

    The earliest message of a group of near-duplicates is the original; the others get its id in
    `near_duplicate_of` and stay in the table (a marketer may still want to see them).
    """
    frames = [f for f in frames if len(f)]
    if not frames:
        raise ValueError("no verbatim at all: every source is empty or rejected (see the quarantine)")
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(["date", "source", "id"], na_position="last", kind="stable").reset_index(drop=True)
    originals = near_duplicates(list(table["text"]), threshold=threshold, min_chars=min_chars)
    ids = table["id"].tolist()
    table["near_duplicate_of"] = [ids[i] if i is not None else None for i in originals]
    return validate(table)


def total_metrics(per_source: dict[str, dict[str, Any]], table: pd.DataFrame) -> dict[str, Any]:
    """Per-source counts, their totals, and what the consolidated table holds."""
    total = {k: sum(int(m.get(k, 0)) for m in per_source.values()) for k in _COUNTS}
    total["reconciles"] = all(m.get("reconciles") for m in per_source.values()) and (
        total["read"] == total["kept"] + total["rejected"] + total["duplicates"]
    )
    total["near_duplicates_flagged"] = int(table["near_duplicate_of"].notna().sum())
    total["with_text"] = int(table["has_text"].sum())
    total["languages"] = table.loc[table["has_text"], "lang"].value_counts().to_dict()
    total["source_types"] = table["source_type"].value_counts().to_dict()
    total["date_min"] = str(table["date"].min())
    total["date_max"] = str(table["date"].max())
    return {"total": total, "sources": per_source}


def main(
    interim_dir: Path,
    restricted_dir: Path,
    quarantine_dir: Path,
    metrics_dir: Path,
    out: Path,
    raw_out: Path,
    quarantine_out: Path,
    metrics_out: Path,
    params_file: Path = Path("params.yaml"),
) -> None:
    """Gather the per-source outputs of `ingest` into the consolidated files."""
    from pipeline.params import load_params

    params = load_params(params_file)
    sources = list(params["ingest"]["sources"])
    nd = params["ingest"].get("near_duplicates", {})
    frames = [pd.read_parquet(Path(interim_dir) / f"{s}.parquet") for s in sources]
    table = consolidate(frames, nd.get("threshold", 0.85), nd.get("min_chars", 40))
    raw = pd.concat([pd.read_parquet(Path(restricted_dir) / f"{s}.parquet") for s in sources], ignore_index=True)
    quarantine = pd.concat(
        [pd.read_csv(Path(quarantine_dir) / f"{s}.csv", dtype=str, keep_default_na=False) for s in sources],
        ignore_index=True,
    )
    per_source = {s: json.loads((Path(metrics_dir) / f"{s}.json").read_text()) for s in sources}
    metrics = total_metrics(per_source, table)
    for path in (out, raw_out, quarantine_out, metrics_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    raw.to_parquet(raw_out, index=False)
    quarantine.to_csv(quarantine_out, index=False)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, ensure_ascii=False, default=str) + "\n")
    t = metrics["total"]
    log.info(
        "%d verbatims (%d with text) from %d sources; rejected %d, duplicates %d, near-duplicates flagged %d -> %s",
        t["kept"],
        t["with_text"],
        len(sources),
        t["rejected"],
        t["duplicates"],
        t["near_duplicates_flagged"],
        out,
    )


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

"""Labels: the files of `data/labels/` and the weak labels the data already carries.

A labels file is a CSV with label columns (`tone`, `qualification`, `service`...) and either an
`external_id` (joined to the verbatims table) or a `text` (a standalone example). Empty cells are
"not labelled". `to_review.csv` is the active-learning queue written by voix: it is read only
once renamed (see README), so a half-filled queue never trains a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import VoixError

QUEUE_NAME = "to_review.csv"


def read_label_files(folder: Path) -> pd.DataFrame:
    """Every labels CSV of `folder` (not the review queue), with a `label_file` column."""
    frames = []
    for path in sorted(Path(folder).glob("*.csv")):
        if path.name == QUEUE_NAME:
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "external_id" not in frame.columns and "text" not in frame.columns:
            raise VoixError(f"{path}: a labels file needs an `external_id` or a `text` column.")
        frame["label_file"] = path.name
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["external_id", "text", "label_file"])
    labels = pd.concat(frames, ignore_index=True).fillna("")
    if "external_id" in labels.columns:
        labels["external_id"] = labels["external_id"].str.strip().str.strip("<>")
    return labels


def join_labels(verbatims: pd.DataFrame, labels: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows of `verbatims` (by position `row`) with a gold value for `target`.

    Labels given by `external_id` point to a verbatim; labels with a `text` and no id are
    standalone examples (row -1). The last labels file wins when two label the same verbatim.
    """
    if target not in labels.columns:
        return pd.DataFrame(columns=["row", "text", target, "label_file"])
    have = labels[labels[target].astype(str).str.strip() != ""]
    by_id = (
        have[have.get("external_id", pd.Series("", index=have.index)).astype(str) != ""]
        if "external_id" in have
        else have.iloc[0:0]
    )
    index = pd.Series(range(len(verbatims)), index=verbatims["external_id"].astype(str))
    index = index[~index.index.duplicated()]
    joined = by_id[by_id["external_id"].isin(index.index)].drop_duplicates("external_id", keep="last")
    out = pd.DataFrame(
        {
            "row": index.loc[joined["external_id"]].to_numpy(),
            target: joined[target].str.strip().to_numpy(),
            "label_file": joined["label_file"].to_numpy(),
        }
    )
    out["text"] = None
    standalone = (
        have[(have.get("external_id", "") == "") & (have.get("text", "") != "")] if "text" in have else have.iloc[0:0]
    )
    if len(standalone):
        extra = pd.DataFrame(
            {
                "row": -1,
                target: standalone[target].str.strip(),
                "label_file": standalone["label_file"],
                "text": standalone["text"],
            }
        )
        out = pd.concat([out, extra], ignore_index=True)
    return out


def weak_tone_labels(verbatims: pd.DataFrame, config: dict[str, Any]) -> pd.Series:
    """Tone from the scores the data already has (stars, NPS), as configured; '' where none."""
    weak = pd.Series("", index=verbatims.index, dtype=object)
    for column, mapping in (config or {}).items():
        if column not in verbatims.columns:
            continue
        values = verbatims[column]
        for label, bounds in mapping.items():
            low, high = bounds
            hit = values.notna() & (values >= low) & (values <= high) & (weak == "")
            weak[hit] = label
    weak[~verbatims["has_text"].astype(bool)] = ""
    return weak

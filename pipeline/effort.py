"""Stage `effort`: how much effort a customer describes, per verbatim and per journey stage.

In:  `data/processed/verbatims.parquet` (scored: journey stage, CES answers), `data/interim/lemmas.parquet`.
Out: `data/processed/effort.parquet` (`id`, `effort_score`, `effort_signals`) and
     `metrics/effort.json`: mean effort per journey stage, and the Spearman correlation between the
     effort score of survey answers and the CES the same customers gave (1 low - 5 high effort).

Signals (params.yaml `effort.signals`, each with seed words and phrases): waiting, having to
repeat oneself, several interlocutors, paperwork, tedious e-service, unclear offer. A signal is
present when one of its seed phrases is in the text (lower case) or one of its seed words in the
text's lemmas (first five letters). `effort_score` = sum of the weights of the signals present,
capped at `max_score`, plus `repeat_bonus` when the customer counts his attempts ("3 fois",
"troisième relance", "toujours pas").

Run: python -m pipeline.effort SCORED LEMMAS EFFORT_OUT METRICS_JSON
"""

from __future__ import annotations

import json
import logging
import re
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.chunked import read_columns
from pipeline.engine import chunks

log = logging.getLogger("voix.effort")

_COUNTED = re.compile(
    r"\b(?:\d+|deux|trois|quatre|cinq|plusieurs|n-?ième|énième)\s+(?:fois|relances?|appels?|mails?|courriers?|times|calls|emails)\b"
    r"|\b(?:deuxième|troisième|quatrième|second|third|fourth)\s+(?:fois|relance|demande|réclamation|appel|mail|time|email|request)\b"
    r"|\btoujours pas\b|\bstill (?:no|not)\b",
    re.I,
)


def signal_matrix(texts: pd.Series, lemmas: pd.Series, signals: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One boolean column per effort signal: does each text show it (one of its phrases in the text,
    or the 5-letter stem of one of its words among the text's lemmas)."""
    low = texts.fillna("").astype(object).str.lower()  # Python's str methods, not pyarrow's
    words = lemmas.fillna("").astype(object).str.split().explode()
    stems = words[words.str.len() >= 3].str[:5]
    present = pd.DataFrame(index=texts.index)
    for name, spec in signals.items():
        phrase = pd.Series(False, index=texts.index)
        for p in spec.get("phrases", []):
            phrase |= low.str.contains(p.lower(), regex=False)
        seeds = {w.lower()[:5] for w in spec.get("words", [])}
        seed = stems.isin(seeds).groupby(level=0).any().reindex(texts.index, fill_value=False)
        present[name] = phrase | seed
    return present


def signals_of(text: str, lemmas: str, signals: dict[str, dict[str, Any]]) -> list[str]:
    """The effort signals one verbatim shows."""
    found = signal_matrix(pd.Series([text], dtype=object), pd.Series([lemmas], dtype=object), signals)
    return list(compress(list(found), found.iloc[0].tolist())) if len(found.columns) else []


def effort_scores(
    table: pd.DataFrame, lemmas: pd.DataFrame, config: dict[str, Any], chunk: int = 100_000
) -> pd.DataFrame:
    """effort_score and effort_signals of every verbatim with text.

    Computed `chunk` verbatims at a time: the signals split the lemmas into one Python string per
    word (~30 a verbatim), gigabytes for a whole million at once."""
    signals = config.get("signals", {})
    rows = table[table["has_text"].astype(bool)][["id", "text"]].merge(lemmas[["id", "lemmas"]], on="id", how="left")
    if rows.empty:
        return pd.DataFrame(columns=["id", "effort_score", "effort_signals"])
    scores, found_signals, any_signal = [], [], False
    for part in chunks(rows, chunk):
        present = signal_matrix(part["text"], part["lemmas"], signals)
        score = pd.Series(0.0, index=part.index)
        for name, spec in signals.items():
            score += np.where(present[name], float(spec.get("weight", 1.0)), 0.0)
        counted = part["text"].astype(object).str.contains(_COUNTED).to_numpy(dtype=bool)
        score += np.where(counted, float(config.get("repeat_bonus", 1.0)), 0.0)
        scores.append(np.minimum(score, float(config.get("max_score", 5.0))))
        any_signal = any_signal or bool(present.to_numpy().any() or counted.any())
        names = list(present)
        found_signals += [", ".join(compress(names, found)) for found in present.to_numpy().tolist()]
    score = pd.concat(scores)
    if not any_signal:
        score = score.astype(int)  # no signal anywhere: the scores stay the integer 0 of an empty sum
    return pd.DataFrame({"id": rows["id"], "effort_score": score, "effort_signals": found_signals})


def effort_metrics(table: pd.DataFrame, effort: pd.DataFrame) -> dict[str, Any]:
    """Mean effort per journey stage; Spearman correlation with the CES answers."""
    merged = table.merge(effort, on="id")
    out: dict[str, Any] = {"mean_effort": round(float(merged["effort_score"].mean()), 3) if len(merged) else None}
    if "journey_stage" in merged:
        out["by_journey_stage"] = {
            str(k): {"mean_effort": round(float(g["effort_score"].mean()), 3), "n": int(len(g))}
            for k, g in merged.dropna(subset=["journey_stage"]).groupby("journey_stage")
        }
    if "ces" in merged:
        pairs = merged.dropna(subset=["ces"])
        if len(pairs) >= 10:
            from scipy.stats import spearmanr

            rho, p = spearmanr(pairs["effort_score"], pairs["ces"])
            out["ces_spearman"] = {"rho": round(float(rho), 3), "p_value": float(f"{p:.2e}"), "n": int(len(pairs))}
            out["ces_by_effort"] = {
                str(k): round(float(v), 2)
                for k, v in pairs.groupby(pairs["effort_score"].clip(upper=3))["ces"].mean().items()
            }
    return out


def main(
    scored: Path, lemmas: Path, effort_out: Path, metrics_out: Path, params_file: Path = Path("params.yaml")
) -> None:
    """Score the effort each verbatim describes and set it against the CES answers."""
    from pipeline.params import load_params

    config = load_params(params_file).get("effort", {})
    table = read_columns(scored, ["id", "has_text", "text", "journey_stage", "ces"])  # not the ~55 of the table
    effort = effort_scores(table, pd.read_parquet(lemmas, columns=["id", "lemmas"]), config)
    for path in (effort_out, metrics_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    effort.to_parquet(effort_out, index=False)
    metrics = effort_metrics(table, effort)
    Path(metrics_out).write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    log.info("effort: %s", {k: v for k, v in metrics.items() if k != "by_journey_stage"})


if __name__ == "__main__":
    from pipeline.cli import run_stage

    run_stage(main)

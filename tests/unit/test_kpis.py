"""KPIs: NPS, CES, CSAT definitions, low-n flags, periods, and a hand computation on the sample survey."""

import pandas as pd
import pytest

from pipeline.kpis import ces, compute_kpis, csat, headline, nps, period_of
from tests.conftest import ROOT


def test_nps_bands_and_edges():
    result = nps(pd.Series([10, 9, 8, 7, 6, 0, None, "x"]))
    assert result["n"] == 6  # missing and unreadable answers are not answers
    assert result["nps"] == pytest.approx(100 * (2 - 2) / 6, abs=0.1)
    assert nps(pd.Series([10, 10, 3]))["nps"] == pytest.approx(33.3, abs=0.1)
    assert nps(pd.Series([], dtype=float)) == {"n": 0, "nps": None}
    custom = nps(pd.Series([8, 8, 2]), {"promoters": [8, 10], "passives": [7, 7], "detractors": [0, 6]})
    assert custom["nps"] == pytest.approx(33.3, abs=0.1)


def test_ces_csat_and_low_n_flags():
    assert ces(pd.Series([1, 2, 3, None]))["ces"] == 2.0
    assert csat(pd.Series([4, 3, 2, 1]))["csat"] == 50.0
    table = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-05", "2026-01-20", "2026-02-02"]),
            "nps": [10, 0, 9],
            "ces": [1, 5, 2],
            "csat_score": [4, 1, 3],
            "has_text": [True, True, False],
            "tone": ["positif", "négatif", None],
            "qualification": ["compliment", "réclamation", None],
            "tone_score": [0.9, -0.8, None],
            "channel": ["email", "enquête", "enquête"],
        }
    )
    report = compute_kpis(table, {"min_n": 2, "group_by": ["channel"]}, ["réclamation"])
    assert report["overall"]["nps"]["nps"] == pytest.approx(33.3, abs=0.1)
    assert report["by_period"]["2026-01"]["nps"] == {
        "n": 2,
        "nps": 0.0,
        "promoters_pct": 50.0,
        "passives_pct": 0.0,
        "detractors_pct": 50.0,
        "low_n": False,
    }
    assert report["by_period"]["2026-02"]["nps"]["low_n"] is True
    assert report["by_channel"]["enquête"]["text"]["volume"] == 1
    assert headline(report)["complaints_pct"] == 50.0


def test_weeks_are_iso_weeks():
    weeks = period_of(pd.Series(pd.to_datetime(["2026-03-09", "2026-03-15", None])), "W").tolist()
    assert weeks[:2] == ["2026-W11", "2026-W11"] and pd.isna(weeks[2])


def test_nps_of_the_sample_survey_equals_a_hand_computation(params):
    """The NPS voix reports for the 2025 survey is the one an analyst computes from the raw file."""
    raw = pd.read_csv(ROOT / "data/raw/surveys/nps_relationnel_2025.csv")
    scores = raw["nps_score"].dropna()
    by_hand = round(100 * ((scores >= 9).sum() - (scores <= 6).sum()) / len(scores), 1)

    from pipeline.ingest import ingest_source
    from pipeline.pii import Redactor

    source = params["ingest"]["sources"]["nps_2025"]
    pii = params["ingest"]["pii"]
    redactor = Redactor(pii["kinds"], None, pii["allow_list"], pii["customer_id_patterns"])
    result = ingest_source("nps_2025", source, params, ROOT / source["path"], redactor)
    report = compute_kpis(result.verbatims, params["kpis"], ["réclamation"])
    assert report["overall"]["nps"]["nps"] == by_hand
    assert report["overall"]["nps"]["n"] == len(scores)

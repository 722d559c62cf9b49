"""A tiny source, end to end: the comments under one social-media post (17, then 3), no labels at all.

`dvc repro` in a copy of the project whose only source is that post: tone comes from the anchor
sentences (no labels), the other classifiers are skipped, topics run in small-N mode, and the
report is written and says which mode it used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

COMMENTS = [
    "Encore des frais en plus sur mon compte, c'est scandaleux !!!",
    "Appli en panne depuis la mise à jour, impossible de me connecter",
    "Super conseillère à l'agence, merci pour votre aide",
    "Trois semaines que j'attends mon remboursement, personne ne répond",
    "RAS, tout fonctionne bien",
    "Ce serait bien de pouvoir classer ses dépenses dans l'appli",
    "Je vais changer de banque si ça continue",
    "Carte bloquée à l'étranger, aucune solution proposée",
    "Très bon accueil, rapide et efficace",
    "Le prélèvement a été fait deux fois ce mois-ci",
    "Quand est-ce que le mode sombre arrive ?",
    "Les frais de tenue de compte ont doublé sans prévenir",
    "Merci pour la réactivité du service client",
    "Impossible de joindre mon conseiller, c'est inadmissible",
    "L'application est claire et pratique",
    "Virement instantané bloqué depuis hier",
    "Je recommande, très satisfait",
]


@pytest.mark.parametrize("n", [17, 3])
def test_a_post_with_few_comments_runs_end_to_end(tmp_path, n):
    project = tmp_path / "voix"
    for rel in (
        "pipeline",
        "params.yaml",
        "dvc.yaml",
        "pyproject.toml",
        ".dvc/config",
        ".dvcignore",
        "data/actions.csv",
    ):
        src, dest = ROOT / rel, project / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        (
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
            if src.is_dir()
            else shutil.copy2(src, dest)
        )
    (project / "data/labels").mkdir(parents=True)  # no labels at all
    post = project / "data/raw/post.csv"
    post.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "comment_id": [f"fb-{i}" for i in range(n)],
            "posted_at": pd.date_range("2026-11-02 08:00", periods=n, freq="37min").strftime("%Y-%m-%d %H:%M"),
            "message": COMMENTS[:n],
        }
    ).to_csv(post, index=False)
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    params["ingest"]["sources"] = {
        "post": {
            "path": "data/raw/post.csv",
            "format": "csv",
            "source_type": "spontaneous",
            "channel": "réseau social",
            "columns": {"external_id": "comment_id", "date": "posted_at", "text": "message"},
        }
    }
    (project / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HF_HUB_OFFLINE": "1",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "dvc"), "repro"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    scored = pd.read_parquet(project / "data/processed/verbatims.parquet")
    assert len(scored) == n and scored["tone"].notna().all()  # tone from the anchor sentences
    if n == 17:
        tones = dict(zip(scored["external_id"], scored["tone"], strict=True))
        assert tones["fb-0"] == "négatif" and tones["fb-8"] == "positif"
    html = (project / "reports/report.html").read_text(encoding="utf-8")
    assert "mode petit volume" in html
    assert (project / "reports/ideas.csv").exists()

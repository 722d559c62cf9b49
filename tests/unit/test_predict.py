"""`voix train` / `voix predict` on a custom taxonomy, without DVC."""

import json

import pandas as pd
from typer.testing import CliRunner

from pipeline.cli import app

ROWS = [
    ("ma carte n'est pas arrivée", "card_arrival"),
    ("toujours pas reçu ma carte", "card_arrival"),
    ("quand vais-je recevoir ma carte", "card_arrival"),
    ("carte toujours pas livrée", "card_arrival"),
    ("j'ai perdu ma carte", "lost_card"),
    ("carte volée hier soir", "lost_card"),
    ("on m'a volé ma carte", "lost_card"),
    ("je ne retrouve plus ma carte", "lost_card"),
    ("frais de virement trop élevés", "fees"),
    ("pourquoi ces frais sur mon virement", "fees"),
    ("des frais inconnus sur mon compte", "fees"),
    ("frais prélevés sans explication", "fees"),
] * 3


def test_train_then_predict_on_another_file(tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame(ROWS, columns=["message", "intent"]).to_csv(labels, index=False)
    params = tmp_path / "params.yaml"
    params.write_text("embed: {backend: tfidf-svd}\nbase: {seed: 1}\n", encoding="utf-8")
    model_dir = tmp_path / "model"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--labels",
            str(labels),
            "--target",
            "intent",
            "--model-dir",
            str(model_dir),
            "--text-column",
            "message",
            "--params-file",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["classes"]["prediction"] == ["card_arrival", "fees", "lost_card"]

    other = tmp_path / "other.csv"
    pd.DataFrame({"message": ["je n'ai pas reçu la carte", "frais inconnus prélevés"], "id": [1, 2]}).to_csv(
        other, index=False
    )
    out = tmp_path / "out.parquet"
    result = runner.invoke(
        app,
        [
            "predict",
            str(other),
            str(out),
            "--model-dir",
            str(model_dir),
            "--text-column",
            "message",
            "--params-file",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    predicted = pd.read_parquet(out)
    assert list(predicted.columns) == ["message", "id", "prediction", "confidence", "needs_review"]
    assert list(predicted["prediction"]) == ["card_arrival", "fees"]


def test_missing_text_column_is_a_clear_error(tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"body": ["x"], "intent": ["a"]}).to_csv(labels, index=False)
    result = CliRunner().invoke(
        app, ["train", "--labels", str(labels), "--target", "intent", "--model-dir", str(tmp_path / "m")]
    )
    assert result.exit_code == 2
    assert "no `text` column" in result.output

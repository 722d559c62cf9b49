"""`voix train` / `voix predict` on a custom taxonomy, without DVC."""

import json

import pandas as pd
import pytest
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


@pytest.mark.parametrize("backend", ["tfidf-svd", "static"])
def test_train_then_predict_on_another_file(tmp_path, monkeypatch, backend):
    monkeypatch.chdir(tmp_path)  # a learned embedder must come from the model folder, not ./models
    labels = tmp_path / "labels.csv"
    pd.DataFrame(ROWS, columns=["message", "intent"]).to_csv(labels, index=False)
    params = tmp_path / "params.yaml"
    params.write_text(f"embed: {{backend: {backend}, min_count: 1}}\nbase: {{seed: 1}}\n", encoding="utf-8")
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
    if backend == "static":  # static vectors learned from the labels, saved with the model
        assert manifest["embedding"] == "static[use-multilingual-v3]"
        assert (model_dir / "embedder" / "static_use-multilingual-v3_.npz").exists()

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


def test_predict_with_the_pipeline_models_adds_the_score_columns(tmp_path):
    from pipeline.classify import TextClassifier, features, save_model
    from tests.conftest import ROOT

    pos = ["conseillère au top, merci", "très satisfait de l'agence", "great service, thank you", "appli parfaite"]
    neg = ["frais scandaleux, honteux", "appli en panne, inadmissible", "terrible service, furious", "très déçu"]
    texts = (pos + neg) * 3
    tone = ["positif"] * 4 + ["négatif"] * 4
    qualification = ["compliment"] * 4 + ["réclamation"] * 4
    model_dir = tmp_path / "models"
    for target, y in (("tone", tone), ("qualification", qualification)):
        model = TextClassifier(model="logreg", C=20).fit(features(texts), y * 3)
        save_model(model, model_dir / f"{target}.skops")
    (model_dir / "manifest.json").write_text(json.dumps({"targets": ["tone", "qualification"], "embedding": None}))
    messages = tmp_path / "messages.csv"
    pd.DataFrame(
        {
            "text": ["Frais scandaleux, je vais changer de banque.", "Great service, thank you so much for your help!"],
            "customer_id": ["c1", "c2"],
        }
    ).to_csv(messages, index=False)
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(
        app,
        ["predict", str(messages), str(out), "--model-dir", str(model_dir), "--params-file", str(ROOT / "params.yaml")],
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out)
    for column in (
        "text",
        "customer_id",
        "tone",
        "tone_score",
        "qualification",
        "needs_review",
        "churn_risk",
        "draft_reply",
    ):
        assert column in scored.columns
    assert scored["tone"].tolist() == ["négatif", "positif"]
    assert scored["tone_score"].iloc[0] < 0 < scored["tone_score"].iloc[1]
    assert scored["churn_risk"].tolist() == [True, False]
    assert scored["draft_reply"].iloc[0].startswith("Bonjour") and scored["draft_reply"].iloc[1].startswith("Hello")

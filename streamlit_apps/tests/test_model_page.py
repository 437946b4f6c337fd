"""Model page: the champion's card and the version table, from a real MLflow registry."""

from __future__ import annotations

import mlflow
import pytest

from data_science.tracking import CHAMPION, MODEL_NAME
from streamlit_apps.lib import registry
from streamlit_apps.tests.helpers import messages, metrics, open_page

PAGE = "pages/model.py"


def test_champion_card_shows_the_runs_numbers(registry_copy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_copy)
    at = open_page(PAGE)
    client = mlflow.MlflowClient(tracking_uri=registry_copy, registry_uri=registry_copy)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert champion.run_id is not None
    run = client.get_run(champion.run_id)
    shown = metrics(at)
    assert shown["Version"] == str(champion.version)
    assert shown["Decision threshold"] == f"{run.data.metrics['threshold']:.3f}"
    folds = client.get_metric_history(run.info.run_id, "fold_roc_auc")
    assert shown["ROC AUC at booking, later windows"] == (
        f"{min(m.value for m in folds):.4f} – {max(m.value for m in folds):.4f}"
    )
    assert (
        shown["Label-free estimate's error"]
        == f"±{run.data.metrics['backtest_estimate_error_roc_auc_mean']:.4f}"
    )
    assert shown["PR AUC"] == f"{run.data.metrics['backtest_pr_auc_mean']:.4f}"
    assert shown["Data version"] == run.data.tags["data_version"][:12]

    card = next(df.value for df in at.dataframe if "metric" in df.value.columns)
    model_metrics = dict(zip(card["metric"], card["model"], strict=True))
    assert model_metrics["Brier score"] == pytest.approx(run.data.metrics["backtest_brier_mean"])
    assert model_metrics["Recall"] == pytest.approx(run.data.metrics["backtest_recall_mean"])
    baseline = dict(zip(card["metric"], card["Plain XGBoost"], strict=True))
    assert baseline["ROC AUC"] == pytest.approx(run.data.metrics["baseline_plain_xgboost_roc_auc_mean"])

    # The backtest, window by window, both questions and the estimate made before the outcomes.
    table = next(df.value for df in at.dataframe if "arrivals" in df.value.columns)
    assert len(table) == 4
    assert table["ROC AUC"].mean() == pytest.approx(run.data.metrics["backtest_roc_auc_mean"])
    assert table["estimated before outcomes"].mean() == pytest.approx(
        run.data.metrics["backtest_estimated_roc_auc_mean"]
    )
    assert table["on the books: ROC AUC"].mean() == pytest.approx(
        run.data.metrics["backtest_roc_auc_on_the_books_mean"]
    )
    assert table["nightly WAPE"].mean() == pytest.approx(run.data.metrics["backtest_nightly_wape_mean"])

    captions = [caption for image in at.image for caption in image.captions]
    assert sorted(captions) == sorted(registry.FIGURES.values())
    assert all(url for image in at.image for url in image.value)


def test_versions_table_compares_champion_challenger_and_earlier(registry_copy, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry_copy)
    at = open_page(PAGE)
    versions = next(df.value for df in at.dataframe if "role" in df.value.columns)
    champion = int(metrics(at)["Version"])
    roles = dict(zip(versions["version"], versions["role"], strict=True))
    assert roles == {champion: "champion", champion + 1: "challenger", champion + 2: "earlier"}
    assert versions["version"].tolist() == sorted(roles, reverse=True)
    # The added versions share the champion's run, so the same metrics.
    assert versions["ROC AUC"].nunique() == 1


def test_no_tracking_store_is_a_message_not_a_new_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    at = open_page(PAGE)
    assert "No MLflow tracking store yet" in messages(at)
    assert "./cli.sh dvc-init-pipeline" in messages(at)
    assert not metrics(at)
    assert not (tmp_path / "mlflow.db").exists()

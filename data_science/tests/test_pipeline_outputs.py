"""Data tests of the pipeline's own outputs on synthetic bookings: the processed dataset the
champion was trained on and the backtest report, recomputable from its out-of-fold predictions.
They need that run whatever ``--model-uri`` says: they are `integration`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data_engineering.src.files.writing import read_processed
from data_science.backtest.params import CREATION, ON_THE_BOOKS
from data_science.backtest.reports import read_oof
from data_science.model import CancellationModel


@pytest.fixture(scope="module")
def processed(trained_workspace, champion) -> pd.DataFrame:
    version = champion.transformation
    return read_processed(version, trained_workspace.root / "data" / "processed" / f"bookings_{version}.csv")


def test_processed_keys_target_and_dates(processed: pd.DataFrame, champion: CancellationModel) -> None:
    assert processed["booking_id"].is_unique
    assert set(processed["is_canceled"].unique()) <= {0, 1}
    assert (processed["booking_date"] <= processed["arrival_date"]).all()
    # The outcome travels with the bookings (the snapshots' labels), never into the model.
    assert {"reservation_status", "reservation_status_date"} <= set(processed.columns)
    assert not {"reservation_status", "reservation_status_date"} & set(champion.feature_names)


def test_processed_model_inputs_are_complete(processed: pd.DataFrame, champion: CancellationModel) -> None:
    numeric = processed[list(champion.encoder.numeric)]
    assert not numeric.isna().any().any()
    assert (processed["total_nights"] >= 0).all()
    assert processed["weekend_share"].between(0, 1).all()


def test_reported_backtest_is_recomputable_from_its_out_of_fold_predictions(
    trained_workspace, champion, processed
) -> None:
    """Every figure of the report comes from predictions of models that never saw the rows."""
    from sklearn.metrics import f1_score

    report = json.loads((trained_workspace.root / "reports" / "metrics.json").read_text())
    backtest = report["backtest"]
    oof = read_oof(trained_workspace.root / "models" / "oof_predictions.csv")
    arrivals = pd.to_datetime(processed["arrival_date"])
    for number, fold in enumerate(backtest["folds"], start=1):
        rows = oof[(oof["fold"] == number) & (oof["population"] == CREATION)]
        books = oof[(oof["fold"] == number) & (oof["population"] == ON_THE_BOOKS)]
        # on the books at the cut-off: made by its last day, arriving in the window, judged as of it
        assert (books["as_of"] == pd.Timestamp(fold["on_the_books_as_of"])).all()
        assert (books["booking_date"] <= books["as_of"]).all()
        assert (books["arrival_date"] > books["as_of"]).all()
        assert fold["roc_auc_on_the_books"] == pytest.approx(
            roc_auc_score(books["is_canceled"], books["probability"])
        )
        start = pd.Timestamp(fold["start"])
        # scored rows are the window's; the fold's model saw only arrivals before it
        assert rows["arrival_date"].between(start, pd.Timestamp(fold["end"])).all()
        assert fold["train_rows"] == int((arrivals < start).sum())
        assert fold["roc_auc"] == pytest.approx(roc_auc_score(rows["is_canceled"], rows["probability"]))
        # F1 at the fold's own (cross-fitted) threshold, the one recorded beside its predictions
        assert (rows["threshold"] == fold["threshold"]).all()
        decision = rows["probability"] >= fold["threshold"]
        assert fold["f1"] == pytest.approx(f1_score(rows["is_canceled"], decision))
    assert backtest["roc_auc_mean"] == pytest.approx(np.mean([f["roc_auc"] for f in backtest["folds"]]))
    # the served threshold and tree count are the ones chosen on all the folds
    assert champion.threshold == pytest.approx(backtest["threshold"])
    assert champion.booster.num_boosted_rounds() == backtest["n_trees"]
    # and the champion itself was refit on every booking
    assert report["training_window"]["train_rows"] == len(processed)
    assert report["backtest"]["roc_auc_mean"] > report["baselines"]["majority"]["roc_auc_mean"]

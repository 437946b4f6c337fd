"""Behavioural tests of a trained model (Made-With-ML style) and data tests of its inputs.

The champion comes from the real pipeline run on synthetic bookings whose cancellation rule is
known (see data_engineering/src/synthetic.py), so each expectation below is a fact of the data.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from data_engineering.src.io import read_processed
from data_engineering.src.schema import BOOKING_FIELDS, LEAKY_COLUMNS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate_raw
from data_science.model import CancellationModel
from data_science.tracking import MODEL_NAME, resolve


@pytest.fixture(scope="module")
def champion(trained_workspace, monkeypatch_module) -> CancellationModel:
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    return CancellationModel.load(resolve(f"models:/{MODEL_NAME}@champion").local_dir)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def bookings() -> list[dict]:
    """Fresh bookings the model never saw, as the API receives them (Python values)."""
    valid = validate_raw(make_bookings(400, seed=99), scoring=True).valid[list(BOOKING_FIELDS)]
    return valid.astype(object).where(valid.notna(), None).to_dict("records")


def _probabilities(model: CancellationModel, bookings: list[dict], **changes) -> np.ndarray:
    return np.array([model.predict_record({**b, **changes}) for b in bookings])


def test_no_leaky_column_reaches_the_model(champion: CancellationModel) -> None:
    features = set(champion.booster.feature_names)
    assert not features & {*LEAKY_COLUMNS, "is_canceled", "booking_id", "arrival_date_year"}
    assert features == set(champion.feature_names)


def test_invariance_arrival_day_of_month(champion: CancellationModel, bookings: list[dict]) -> None:
    # Moving a mid-month arrival by a couple of days is not a reason to change the forecast much.
    mid_month = [b for b in bookings if 5 <= b["arrival_date_day_of_month"] <= 25]
    base = _probabilities(champion, mid_month)
    shifted = np.array(
        [
            champion.predict_record({**b, "arrival_date_day_of_month": b["arrival_date_day_of_month"] + 2})
            for b in mid_month
        ]
    )
    assert np.median(np.abs(shifted - base)) < 0.03


def test_direction_non_refundable_deposit_raises_risk(
    champion: CancellationModel, bookings: list[dict]
) -> None:
    low = _probabilities(champion, bookings, deposit_type="No Deposit")
    high = _probabilities(champion, bookings, deposit_type="Non Refund")
    assert (high >= low).mean() > 0.9
    assert high.mean() - low.mean() > 0.15


def test_direction_previous_cancellations_raise_risk(
    champion: CancellationModel, bookings: list[dict]
) -> None:
    none = _probabilities(champion, bookings, previous_cancellations=0)
    many = _probabilities(champion, bookings, previous_cancellations=3)
    assert (many >= none).mean() > 0.9
    assert many.mean() > none.mean()


def test_direction_special_requests_lower_risk(champion: CancellationModel, bookings: list[dict]) -> None:
    none = _probabilities(champion, bookings, total_of_special_requests=0)
    several = _probabilities(champion, bookings, total_of_special_requests=3)
    assert (several <= none).mean() > 0.9
    assert several.mean() < none.mean()


def test_minimum_quality_on_unseen_slice(champion: CancellationModel) -> None:
    fresh = validate_raw(make_bookings(3000, seed=123)).valid
    p = champion.predict_frame(fresh)
    assert roc_auc_score(fresh["is_canceled"], p) > 0.75
    assert ((p >= 0) & (p <= 1)).all()


def test_record_and_frame_paths_score_identically(champion: CancellationModel, bookings: list[dict]) -> None:
    frame = validate_raw(make_bookings(400, seed=99), scoring=True).valid
    np.testing.assert_allclose(champion.predict_frame(frame), _probabilities(champion, bookings), atol=1e-9)


def test_registered_pyfunc_takes_raw_fields(trained_workspace, champion, monkeypatch_module) -> None:
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    frame = validate_raw(make_bookings(300, seed=5), scoring=True).valid
    typed = pd.DataFrame(
        {
            c: frame[c].astype("float64")
            if c in ("adr", "children")
            else frame[c].astype("int64")
            if str(frame[c].dtype) == "Int64"
            else frame[c].astype(object).where(frame[c].notna(), None)
            for c in BOOKING_FIELDS
        }
    )
    np.testing.assert_allclose(np.asarray(pyfunc.predict(typed)), champion.predict_frame(frame), atol=1e-6)


# ---------------------------------------------------------------- data tests (processed dataset)


@pytest.fixture(scope="module")
def processed(trained_workspace) -> pd.DataFrame:
    return read_processed("v2", trained_workspace.root / "data" / "processed" / "bookings_v2.csv")


def test_processed_keys_target_and_dates(processed: pd.DataFrame) -> None:
    assert processed["booking_id"].is_unique
    assert set(processed["is_canceled"].unique()) <= {0, 1}
    assert (processed["booking_date"] <= processed["arrival_date"]).all()
    assert not set(processed.columns) & {"reservation_status", "reservation_status_date"}


def test_processed_model_inputs_are_complete(processed: pd.DataFrame, champion: CancellationModel) -> None:
    numeric = processed[list(champion.encoder.numeric)]
    assert not numeric.isna().any().any()
    assert (processed["total_nights"] >= 0).all()
    assert processed["weekend_share"].between(0, 1).all()


def test_metrics_report_is_honest(trained_workspace) -> None:
    report = json.loads((trained_workspace.root / "reports" / "metrics.json").read_text())
    assert report["validation_window"]["train_end"] < report["validation_window"]["validation_start"]
    assert 0.5 < report["roc_auc"] < 0.99  # above chance, and no leak would push it to 1.0
    assert report["roc_auc"] > report["baselines"]["majority"]["roc_auc"]

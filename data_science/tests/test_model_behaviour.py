"""Behavioural tests of a trained model (Made-With-ML style).

The `model` tests judge the model ``--model-uri`` names (``./cli.sh test model --model-uri
models:/hotel-cancellation@champion``: the registry of MLFLOW_TRACKING_URI, as every command reads
it), conftest.py's ``champion``. Without it, the champion of the real pipeline run on synthetic
bookings whose cancellation rule is known (see data_engineering/src/synthetic.py), so each
expectation below is a fact of the data; on the real champion they are what its users rely on. The
tests of the pipeline's own outputs (test_pipeline_outputs.py) need that run, whatever the option.
"""

from __future__ import annotations

import io

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from data_engineering.src.schema import BOOKING_FIELDS, LEAKY_COLUMNS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import frame_to_columns, validate
from data_science.model import CancellationModel
from data_science.model_bundle import BOOSTER_FILE


def _validated(frame: pd.DataFrame, names=BOOKING_FIELDS) -> dict[str, np.ndarray]:
    result = validate({c: pa.array(frame[c].tolist(), pa.string()) for c in names}, names)
    assert not len(result.rejected), result.reasons[:3]
    return result.columns


@pytest.fixture(scope="module")
def bookings() -> dict[str, np.ndarray]:
    """Fresh bookings the model never saw, validated as every edge validates them."""
    return _validated(make_bookings(400, seed=99))


def _probabilities(model: CancellationModel, bookings: dict[str, np.ndarray], **changes) -> np.ndarray:
    n = len(bookings["hotel"])
    changed = {**bookings}
    for name, value in changes.items():
        changed[name] = np.full(n, value, dtype=object if isinstance(value, str) else np.float64)
    return model.predict(changed).probability


@pytest.mark.model
def test_the_saved_booster_was_trained_on_booking_time_features_only(champion_dir) -> None:
    """Read from the saved model file itself: the names XGBoost stored when it was trained."""
    booster = xgb.Booster()
    booster.load_model(champion_dir / BOOSTER_FILE)
    trained_on = set(booster.feature_names or [])
    assert trained_on, "the booster must record the features it was trained on"
    assert not trained_on & {*LEAKY_COLUMNS, "is_canceled", "booking_id", "arrival_date_year"}
    assert trained_on == set(CancellationModel.load(champion_dir).encoder.feature_names)


@pytest.mark.model
def test_invariance_arrival_day_of_month(champion: CancellationModel, bookings) -> None:
    # Moving a mid-month arrival by a couple of days is not a reason to change the forecast much.
    day = bookings["arrival_date_day_of_month"]
    mid = {k: v[(day >= 5) & (day <= 25)] for k, v in bookings.items()}
    base = champion.predict(mid).probability
    shifted = champion.predict(
        {**mid, "arrival_date_day_of_month": mid["arrival_date_day_of_month"] + 2}
    ).probability
    assert np.median(np.abs(shifted - base)) < 0.03


@pytest.mark.model
def test_direction_non_refundable_deposit_raises_risk(champion: CancellationModel, bookings) -> None:
    low = _probabilities(champion, bookings, deposit_type="No Deposit")
    high = _probabilities(champion, bookings, deposit_type="Non Refund")
    assert (high >= low).mean() > 0.9
    assert high.mean() - low.mean() > 0.15


@pytest.mark.model
def test_direction_previous_cancellations_raise_risk(champion: CancellationModel, bookings) -> None:
    none = _probabilities(champion, bookings, previous_cancellations=0)
    many = _probabilities(champion, bookings, previous_cancellations=3)
    assert (many >= none).mean() > 0.9
    assert many.mean() > none.mean()


@pytest.mark.model
def test_direction_special_requests_lower_risk(champion: CancellationModel, bookings) -> None:
    none = _probabilities(champion, bookings, total_of_special_requests=0)
    several = _probabilities(champion, bookings, total_of_special_requests=3)
    assert (several <= none).mean() > 0.9
    assert several.mean() < none.mean()


@pytest.fixture(scope="module")
def unseen_slice(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    """Labelled bookings the model never saw: ``--data-file`` when given. Otherwise fresh synthetic
    bookings, which only the synthetic pipeline's champion learnt the rule of: a model named by
    ``--model-uri`` is judged on bookings of its own kind or not at all."""
    given = request.config.getoption("--data-file")
    if given:
        # As ingest does, the rows that fail validation are set aside, not judged.
        frame = pd.read_csv(given, dtype=str, keep_default_na=False)
        return validate({c: pa.array(frame[c].tolist(), pa.string()) for c in frame.columns}).columns
    if request.config.getoption("--model-uri"):
        pytest.skip(
            "the quality floor of a given model needs labelled bookings it never saw: --data-file PATH"
        )
    frame = make_bookings(3000, seed=123)
    return _validated(frame, list(frame.columns))


@pytest.mark.model
def test_minimum_quality_on_unseen_slice(champion: CancellationModel, unseen_slice) -> None:
    fresh = unseen_slice
    p = champion.predict(fresh).probability
    assert roc_auc_score(fresh["is_canceled"], p) > 0.75
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.model
def test_one_booking_scores_as_it_does_in_a_batch(champion: CancellationModel, bookings) -> None:
    batch = champion.predict(bookings, reasons=True)
    assert batch.contributions is not None
    for i in (0, 7, 399):
        alone = champion.predict({k: v[i : i + 1] for k, v in bookings.items()}, reasons=True)
        assert alone.contributions is not None
        assert alone.probability[0] == pytest.approx(batch.probability[i], abs=1e-12)
        np.testing.assert_allclose(alone.contributions[0], batch.contributions[i], atol=1e-5)
    # Contributions add up to the margin (TreeSHAP's efficiency), bias included.
    np.testing.assert_allclose(batch.contributions.sum(axis=1), batch.margin, atol=1e-3)


@pytest.mark.model
def test_registered_pyfunc_takes_raw_fields(model_uri, champion, bookings) -> None:
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    frame = make_bookings(300, seed=5)
    typed = pd.read_csv(io.StringIO(frame.to_csv(index=False)))  # as pandas reads a CSV
    validated = validate(frame_to_columns(typed, BOOKING_FIELDS), BOOKING_FIELDS)
    assert not len(validated.rejected)
    expected = champion.predict(validated.columns).probability
    answers = pyfunc.predict(typed[list(BOOKING_FIELDS)])
    np.testing.assert_allclose(answers["cancel_probability"].to_numpy(), expected, atol=1e-12)
    with pytest.raises(Exception, match="adults: must be >= 0"):
        pyfunc.predict(typed[list(BOOKING_FIELDS)].assign(adults=-1))

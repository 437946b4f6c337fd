"""Behavioural tests of a trained model (Made-With-ML style) and data tests of its inputs.

The `model` tests judge the model ``--model-uri`` names (``./cli.sh test model --model-uri
models:/hotel-cancellation@champion``: the registry of MLFLOW_TRACKING_URI, as every command reads
it). Without it, the champion of the real pipeline run on synthetic bookings whose cancellation rule
is known (see data_engineering/src/synthetic.py), so each expectation below is a fact of the data;
on the real champion they are what its users rely on. The tests of the pipeline's own outputs
(processed data, the backtest report) need that run, whatever the option: they are `integration`.
"""

from __future__ import annotations

import io
import json

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from data_engineering.src.files.writing import read_processed
from data_engineering.src.schema import BOOKING_FIELDS, LEAKY_COLUMNS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import frame_to_columns, validate
from data_science.backtest.params import CREATION, ON_THE_BOOKS
from data_science.backtest.reports import read_oof
from data_science.model import CancellationModel
from data_science.model_bundle import BOOSTER_FILE
from data_science.tracking import MODEL_NAME, resolve


@pytest.fixture(scope="module")
def model_uri(request: pytest.FixtureRequest, monkeypatch_module: pytest.MonkeyPatch) -> str:
    """``--model-uri`` when given; else the synthetic pipeline's champion (the pipeline runs only
    then: looked up here rather than requested, so a model test does not count as integration)."""
    given = request.config.getoption("--model-uri")
    if given:
        return str(given)
    trained = request.getfixturevalue("trained_workspace")
    monkeypatch_module.setenv("MLFLOW_TRACKING_URI", trained.tracking_uri)
    return f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="module")
def champion_dir(model_uri: str):
    return resolve(model_uri).local_dir


@pytest.fixture(scope="module")
def champion(champion_dir) -> CancellationModel:
    return CancellationModel.load(champion_dir)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


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


# ---------------------------------------------------------------- data tests (processed dataset)


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
    from sklearn.metrics import f1_score, roc_auc_score

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


# ---------------------------------------------------------------- the as-of question


def _text(frame: pd.DataFrame) -> dict[str, pa.Array]:
    return {c: pa.array(frame[c].astype(str).tolist(), pa.string()) for c in frame.columns}


@pytest.fixture(scope="module")
def far_ahead() -> pd.DataFrame:
    """Bookings made at least 60 days ahead: each can be judged on a later day before arrival."""
    frame = make_bookings(600, seed=44).drop(columns=["reservation_status", "reservation_status_date"])
    return frame[frame["lead_time"].astype(int) >= 60].reset_index(drop=True)


@pytest.mark.model
def test_the_booking_date_is_the_default_and_its_head_answers_it(
    champion: CancellationModel, far_ahead
) -> None:
    assert champion.at_booking is not None  # today's pipeline answers at booking
    default = champion.answer(_text(far_ahead))
    booked = np.datetime_as_string(default.as_of, unit="D")
    explicit = champion.answer({**_text(far_ahead), "as_of": pa.array(booked.tolist(), pa.string())})
    np.testing.assert_array_equal(default.probability, explicit.probability)
    head = champion.at_booking.answer(_text(far_ahead))
    np.testing.assert_array_equal(default.probability, head.probability)
    assert not len(default.rejected)


@pytest.mark.model
def test_a_booking_that_survived_is_less_likely_to_cancel(champion: CancellationModel, far_ahead) -> None:
    """Most cancellations come early: judged 30 days after booking (still on the books), a booking's
    risk is lower than the day it was made, for most bookings and on average."""
    at_booking = champion.answer(_text(far_ahead))
    later = (at_booking.as_of + np.timedelta64(30, "D")).astype(str)
    survived = champion.answer({**_text(far_ahead), "as_of": pa.array(later.tolist(), pa.string())})
    assert not len(survived.rejected)
    assert survived.probability.mean() < at_booking.probability.mean()
    assert (survived.probability < at_booking.probability).mean() > 0.6


@pytest.mark.model
def test_a_booking_date_model_refuses_other_days(champion: CancellationModel, far_ahead) -> None:
    head = champion.at_booking
    assert head is not None
    later = (head.answer(_text(far_ahead)).as_of + np.timedelta64(10, "D")).astype(str)
    answers = head.answer({**_text(far_ahead), "as_of": pa.array(later.tolist(), pa.string())})
    assert len(answers.rejected) == len(far_ahead)
    assert "judges a booking only as of its booking date" in answers.refusals()[0]


@pytest.mark.model
def test_reasons_of_both_heads_add_up_to_their_margins(champion: CancellationModel, far_ahead) -> None:
    days = champion.answer(_text(far_ahead)).as_of
    mixed = np.where(np.arange(len(days)) % 2 == 0, days, days + np.timedelta64(20, "D")).astype(str)
    columns = {**_text(far_ahead), "as_of": pa.array(mixed.tolist(), pa.string())}
    answers = champion.answer(columns, reasons=3)
    assert answers.reasons is not None
    assert all(len(r) == 3 for r in answers.reasons)
    scores = champion.predict(answers.features, reasons=True)
    assert scores.contributions is not None
    assert scores.at_booking is not None
    assert scores.at_booking.any()
    assert (~scores.at_booking).any()
    np.testing.assert_allclose(scores.contributions.sum(axis=1), scores.margin, atol=1e-3)
    # The at-booking head never uses the as-of features: their contributions are zero for its rows.
    days_since = champion.feature_names.index("days_since_booking")
    assert (scores.contributions[scores.at_booking, days_since] == 0).all()

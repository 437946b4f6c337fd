"""Training building blocks: folds, recency weights, thresholds, calibration, and the backtest's
promise that every fold is scored by a model fitted on earlier arrivals only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.synthetic import make_bookings
from data_engineering.transformation import get_transformation
from data_science.backtest.folds import choose_threshold, make_folds, recency_weights
from data_science.backtest.params import CREATION, ON_THE_BOOKS, BacktestParams, ThresholdParams, TrainParams
from data_science.backtest.run import run_backtest
from data_science.calibration import fit_platt
from tests_support.bookings import processed as processed_bookings


def _arrivals(start: str, end: str) -> pd.Series:
    return pd.Series(pd.date_range(start, end, freq="D"))


def test_folds_are_consecutive_windows_ending_with_the_newest_month() -> None:
    folds = make_folds(_arrivals("2015-07-01", "2017-05-20"), BacktestParams(folds=4, fold_months=3))
    assert [f.window for f in folds] == [
        {"start": "2016-06-01", "end": "2016-08-31"},
        {"start": "2016-09-01", "end": "2016-11-30"},
        {"start": "2016-12-01", "end": "2017-02-28"},
        {"start": "2017-03-01", "end": "2017-05-31"},
    ]


def test_folds_refuse_data_without_a_past_to_train_on() -> None:
    with pytest.raises(ValueError, match="first fold would train on nothing"):
        make_folds(_arrivals("2016-06-01", "2017-05-31"), BacktestParams(folds=4, fold_months=3))


def test_recency_weights_halve_every_half_life_and_average_one() -> None:
    cutoff = pd.Timestamp("2017-06-01")
    arrival = pd.Series(pd.to_datetime(["2017-05-31", "2017-03-02", "2016-12-02"]))
    weights = recency_weights(arrival, cutoff, 90)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[0] / weights[1] == pytest.approx(2.0, rel=0.02)
    assert weights[1] / weights[2] == pytest.approx(2.0, rel=0.02)
    assert (recency_weights(arrival, cutoff, 0) == 1).all()


def test_f1_threshold_separates_perfectly_separable_scores() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    assert choose_threshold(y, p, ThresholdParams(strategy="f1")) == pytest.approx(0.7)


def test_cost_threshold_moves_down_when_misses_cost_more() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    cheap_misses = choose_threshold(y, p, ThresholdParams(strategy="cost", cost_missed_cancellation=0.5))
    dear_misses = choose_threshold(y, p, ThresholdParams(strategy="cost", cost_missed_cancellation=10))
    assert dear_misses < cheap_misses


def test_platt_recovers_a_known_logistic_relation() -> None:
    rng = np.random.default_rng(1)
    margin = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(0.5 * margin - 1)))).astype(int)
    a, b = fit_platt(margin, y)
    assert a == pytest.approx(0.5, abs=0.05)
    assert b == pytest.approx(-1, abs=0.1)


@pytest.fixture(scope="module")
def processed() -> pd.DataFrame:
    frame = processed_bookings(make_bookings(3000, seed=4))
    return frame.assign(arrival_date=lambda d: pd.to_datetime(d["arrival_date"]))


def test_every_fold_is_scored_by_a_model_of_earlier_arrivals(processed: pd.DataFrame) -> None:
    params = TrainParams(max_trees=60, checkpoint_every=20, half_life_days=90)
    result = run_backtest(processed, get_transformation("v4"), BacktestParams(folds=3, fold_months=2), params)
    arrival = processed.set_index("booking_id")["arrival_date"]
    for number, fold in enumerate(result.folds, start=1):
        rows = result.oof[(result.oof["fold"] == number) & (result.oof["population"] == CREATION)]
        books = result.oof[(result.oof["fold"] == number) & (result.oof["population"] == ON_THE_BOOKS)]
        start, end = pd.Timestamp(fold["start"]), pd.Timestamp(fold["end"])
        assert arrival.loc[rows["booking_id"]].between(start, end).all()
        assert fold["train_rows"] == int((processed["arrival_date"] < start).sum())
        assert fold["rows"] == len(rows)
        # The bookings on the books at the cut-off are a subset of the window's, judged as of its last day.
        assert set(books["booking_id"]) <= set(rows["booking_id"])
        assert (books["as_of"] == start - pd.Timedelta(days=1)).all()
        assert fold["rows_on_the_books"] == len(books) > 0
        # More snapshots than bookings: each booking also on later days it stayed on the books.
        assert fold["train_snapshots"] > fold["train_rows"]
    assert result.n_trees in (20, 40, 60)
    assert result.curve[result.n_trees] == max(result.curve.values())  # the size is the OOF-best
    assert 0 < result.threshold < 1
    assert result.means["roc_auc_mean"] == pytest.approx(np.mean([f["roc_auc"] for f in result.folds]))
    assert result.means["roc_auc_mean"] > 0.7  # the synthetic rule is learnable


def test_each_fold_is_reported_at_settings_chosen_without_its_own_bookings(processed: pd.DataFrame) -> None:
    """Cross-fitting: flip the outcomes of the last fold (bookings no model trains on) and its
    size, calibration and threshold stay the same, while the champion's, chosen on every fold, move."""
    params = TrainParams(max_trees=60, checkpoint_every=20, half_life_days=90)
    folds = BacktestParams(folds=3, fold_months=2)
    result = run_backtest(processed, get_transformation("v4"), folds, params)
    last = pd.Timestamp(result.folds[-1]["start"])
    flipped = processed.copy()
    in_last = flipped["arrival_date"] >= last
    flipped.loc[in_last, "is_canceled"] = 1 - flipped.loc[in_last, "is_canceled"]
    again = run_backtest(flipped, get_transformation("v4"), folds, params)
    for key in ("n_trees", "calibration", "threshold"):
        assert again.folds[-1][key] == result.folds[-1][key], key
    # Its own data did change.
    assert again.folds[-1]["roc_auc"] == pytest.approx(1 - result.folds[-1]["roc_auc"])
    assert (again.calibration, again.threshold) != (result.calibration, result.threshold)

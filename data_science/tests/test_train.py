"""Training building blocks: the time split, the threshold rules and calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_science.train import SplitParams, ThresholdParams, choose_threshold, fit_platt, time_split


def _frame() -> pd.DataFrame:
    dates = pd.date_range("2016-01-01", "2016-12-31", freq="D")
    return pd.DataFrame({"arrival_date": dates.date, "is_canceled": np.arange(len(dates)) % 2})


def test_time_split_validates_on_the_most_recent_months() -> None:
    train, valid, cutoff = time_split(_frame(), SplitParams(validation_months=3).validation_months)
    assert cutoff == pd.Timestamp("2016-10-01")
    assert pd.to_datetime(train["arrival_date"]).max() < cutoff
    assert pd.to_datetime(valid["arrival_date"]).min() == cutoff
    assert len(train) + len(valid) == 366


def test_time_split_refuses_an_empty_side() -> None:
    with pytest.raises(ValueError, match="one side would be empty"):
        time_split(_frame(), 12)


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

"""The test-data generator: the bookings the suites train and score on behave as stated."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from data_engineering.src.synthetic import make_bookings


def _cancel_rate_by_deposit(frame: pd.DataFrame) -> pd.Series:
    return frame["is_canceled"].astype(int).groupby(frame["deposit_type"]).mean()


def test_non_refundable_deposits_cancel_more_unless_the_risk_is_reversed() -> None:
    usual = _cancel_rate_by_deposit(make_bookings(4000, seed=3))
    reversed_ = _cancel_rate_by_deposit(make_bookings(4000, seed=3, reverse_risk=True))
    assert usual["Non Refund"] > usual["No Deposit"] + 0.3
    assert reversed_["Non Refund"] < reversed_["No Deposit"] - 0.3


def test_arrivals_fall_in_the_asked_window() -> None:
    frame = make_bookings(500, seed=4, start=dt.date(2017, 9, 1), end=dt.date(2018, 8, 31))
    months = {
        name: k for k, name in enumerate(pd.date_range("2000-01-01", periods=12, freq="MS").month_name(), 1)
    }
    arrival = pd.to_datetime(
        {
            "year": frame["arrival_date_year"].astype(int),
            "month": frame["arrival_date_month"].map(months),
            "day": frame["arrival_date_day_of_month"].astype(int),
        }
    )
    assert arrival.min() >= pd.Timestamp("2017-09-01")
    assert arrival.max() <= pd.Timestamp("2018-08-31")

"""The training examples of the as-of question: which (booking, day) snapshots exist, their labels,
and that no feature of a snapshot reads anything dated after its day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.synthetic import make_bookings
from data_engineering.transformation import get_transformation
from data_science.snapshots import last_day_on_the_books, on_the_books, snapshot_days, snapshots
from tests_support.bookings import processed

V4 = get_transformation("v4")
FEATURES = [*V4.numeric_features, *V4.categorical_features]


@pytest.fixture(scope="module")
def bookings() -> pd.DataFrame:
    return processed(make_bookings(1500, seed=21))


def _snapshot_of(rows: pd.DataFrame, booking: str, day: np.datetime64) -> pd.Series:
    match = rows[(rows["booking_id"] == booking) & (rows["as_of"] == day)]
    assert len(match) == 1
    return match.iloc[0]


def test_no_feature_reads_anything_dated_after_the_snapshot_day(bookings: pd.DataFrame) -> None:
    """Move cancellations later than their snapshots' days: every feature of those snapshots stays."""
    before = snapshots(bookings, V4, 20)
    cancelled = bookings[(bookings["reservation_status"] == "Canceled") & (bookings["lead_time"] > 60)]
    later = bookings.copy()
    later.loc[cancelled.index, "reservation_status_date"] = later.loc[
        cancelled.index, "arrival_date"
    ] - np.timedelta64(1, "D")
    after = snapshots(later, V4, 20)
    checked = 0
    for _, booking in cancelled.head(40).iterrows():
        days = before.loc[before["booking_id"] == booking["booking_id"], "as_of"].to_numpy()
        assert len(after[after["booking_id"] == booking["booking_id"]]) >= len(days)  # on the books longer
        for day in days:
            old, new = (
                _snapshot_of(before, booking["booking_id"], day),
                _snapshot_of(after, booking["booking_id"], day),
            )
            assert old[FEATURES].tolist() == new[FEATURES].tolist()
            assert old["is_canceled"] == new["is_canceled"] == 1  # cancelled after the day either way
            checked += 1
    assert checked > 40


def test_features_never_depend_on_the_outcome(bookings: pd.DataFrame) -> None:
    """The outcome decides which snapshots exist and their labels, never a feature value."""
    rows = snapshots(bookings, V4, 30)
    scrambled = rows.copy()
    for column in ("reservation_status", "reservation_status_date", "is_canceled"):
        scrambled[column] = scrambled[column].sample(frac=1.0, random_state=0).to_numpy()
    redone = pd.DataFrame(V4.transform({name: scrambled[name].to_numpy() for name in scrambled.columns}))
    pd.testing.assert_frame_equal(redone[FEATURES], rows[FEATURES], check_dtype=False)


def test_each_booking_at_its_booking_date_then_on_a_grid_while_on_the_books(bookings: pd.DataFrame) -> None:
    rows, days = snapshot_days(bookings, 30)
    booked = bookings["booking_date"].to_numpy(dtype="datetime64[D]")
    last = last_day_on_the_books(bookings)
    assert (days[: len(bookings)] == booked).all()  # every booking at its booking date first
    later_rows, later_days = rows[len(bookings) :], days[len(bookings) :]
    assert (later_days > booked[later_rows]).all()
    assert (later_days <= last[later_rows]).all()  # on the books at the end of each day
    steps = pd.DataFrame({"row": later_rows, "day": later_days}).groupby("row")["day"].diff().dropna()
    assert (steps == pd.Timedelta(days=30)).all()
    # A booking made a year ahead is on the books on many more mornings than a last-minute one.
    counts = np.bincount(later_rows, minlength=len(bookings))
    lead = bookings["lead_time"].to_numpy()
    assert counts[lead > 300].mean() > 5 * max(counts[lead < 30].mean(), 0.1)


def test_a_bookings_days_do_not_depend_on_the_other_bookings(bookings: pd.DataFrame) -> None:
    part = bookings.iloc[100:200].reset_index(drop=True)
    rows, days = snapshot_days(part, 30)
    full_rows, full_days = snapshot_days(bookings, 30)
    for k in range(len(part)):
        mine = np.sort(days[rows == k])
        theirs = np.sort(full_days[full_rows == k + 100])
        assert len(mine) == len(theirs)
        assert (mine == theirs).all()


def test_labels_and_who_is_on_the_books(bookings: pd.DataFrame) -> None:
    rows = snapshots(bookings, V4, 30)
    outcome = bookings.set_index("booking_id")["is_canceled"]
    assert (rows["is_canceled"].to_numpy() == outcome.loc[rows["booking_id"]].to_numpy()).all()
    day = pd.Timestamp("2016-06-30")
    books = on_the_books(bookings, day, V4)
    status_date = pd.to_datetime(bookings["reservation_status_date"])
    expected = (
        (pd.to_datetime(bookings["booking_date"]) <= day)
        & (pd.to_datetime(bookings["arrival_date"]) > day)
        & ~(bookings["reservation_status"].isin(["Canceled", "No-Show"]) & (status_date <= day))
    )
    assert set(books["booking_id"]) == set(bookings.loc[expected, "booking_id"])
    assert (books["as_of"] == day).all()
    assert (books["days_to_arrival"] == (pd.to_datetime(books["arrival_date"]) - day).dt.days).all()
    assert (books["days_since_booking"] == (day - pd.to_datetime(books["booking_date"])).dt.days).all()

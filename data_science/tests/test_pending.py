"""What the bookings not arrived at a cut-off teach the later head: only what was known at its end
(the leak tests), and how their snapshots are labelled."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.schema import TARGET
from data_engineering.src.synthetic import make_bookings
from data_engineering.transformation import get_transformation
from data_science.backtest import folds as folds_module
from data_science.backtest.folds import fit_with_pending, pending_rows
from data_science.backtest.params import BacktestParams, TrainParams
from data_science.backtest.run import fit_folds
from data_science.snapshots import as_known_at, snapshots
from data_science.train import train
from tests_support.bookings import processed

V4 = get_transformation("v4")
FEATURES = [*V4.numeric_features, *V4.categorical_features]
DAY = pd.Timestamp("2016-09-30")
PARAMS = TrainParams(max_trees=20, checkpoint_every=10, snapshot_every_days=20)


@pytest.fixture(scope="module")
def bookings() -> pd.DataFrame:
    return processed(make_bookings(3000, seed=8))


def _days(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype="datetime64[D]")


def test_the_bookings_known_at_a_day_are_those_made_by_it_and_not_arrived(bookings: pd.DataFrame) -> None:
    cancelled, on_books = as_known_at(bookings, DAY)
    day = np.datetime64(DAY.date())
    for part in (cancelled, on_books):
        assert (_days(part, "booking_date") <= day).all()
        assert (_days(part, "arrival_date") > day).all()
    assert (cancelled["reservation_status"].isin(["Canceled", "No-Show"])).all()
    assert (_days(cancelled, "reservation_status_date") <= day).all()
    # Still on the books that day: some cancelled later (which was not known then), most stayed.
    later = on_books["reservation_status"].eq("Canceled").to_numpy()
    assert later.any()
    assert (~later).any()
    assert (_days(on_books, "reservation_status_date")[later] > day).all()
    made = (_days(bookings, "booking_date") <= day) & (_days(bookings, "arrival_date") > day)
    assert len(cancelled) + len(on_books) == made.sum()


def test_nothing_after_the_day_changes_what_the_pending_bookings_teach(bookings: pd.DataFrame) -> None:
    """Leak test: give every booking on the books at the day another future (cancelled the day
    after, or staying); their snapshots, days and features stay the same, and carry no label."""
    _, on_books = as_known_at(bookings, DAY)
    other = bookings.copy()
    ids = other["booking_id"].isin(on_books["booking_id"])
    stayed = ids & other["reservation_status"].eq("Check-Out")
    other.loc[stayed, "reservation_status"] = "Canceled"
    other.loc[stayed, TARGET] = 1
    other.loc[stayed, "reservation_status_date"] = DAY + pd.Timedelta(days=1)
    went = ids & ~stayed
    other.loc[went, "reservation_status"] = "Check-Out"
    other.loc[went, TARGET] = 0
    before, after = pending_rows(bookings, DAY, V4, PARAMS), pending_rows(other, DAY, V4, PARAMS)
    pd.testing.assert_frame_equal(before[0], after[0])  # the cancelled by the day: untouched
    for name in ("today", "snapshots"):
        old, new = getattr(before[1], name), getattr(after[1], name)
        pd.testing.assert_frame_equal(
            old[[*FEATURES, "booking_id", "as_of"]], new[[*FEATURES, "booking_id", "as_of"]]
        )
        assert old[TARGET].isna().all()
        assert new[TARGET].isna().all()
        assert old["reservation_status"].isna().all()
    assert (before[1].owner == after[1].owner).all()


def test_pending_snapshots_are_the_full_grid_cut_at_the_day(bookings: pd.DataFrame) -> None:
    _, on_books = as_known_at(bookings, DAY)
    waiting = pending_rows(bookings, DAY, V4, PARAMS)[1]
    staying = on_books.assign(
        reservation_status="Check-Out", reservation_status_date=on_books["arrival_date"]
    )
    full = snapshots(staying, V4, PARAMS.snapshot_every_days, seed=PARAMS.seed)
    cut = full[_days(full, "as_of") <= np.datetime64(DAY.date())]
    assert sorted(zip(cut["booking_id"], _days(cut, "as_of"), strict=True)) == sorted(
        zip(waiting.snapshots["booking_id"], _days(waiting.snapshots, "as_of"), strict=True)
    )
    assert (waiting.today["booking_id"].to_numpy()[waiting.owner] == waiting.snapshots["booking_id"]).all()
    assert (_days(waiting.today, "as_of") == np.datetime64(DAY.date())).all()


def test_each_pending_snapshot_is_labelled_by_a_first_fit_of_finished_bookings_only(
    bookings: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second fit sees the finished bookings, the cancelled-by-the-day ones labelled 1, and the
    snapshots of those on the books labelled with the first fit's chance for them as of the day."""
    finished = bookings[_days(bookings, "arrival_date") <= np.datetime64(DAY.date())]
    rows = snapshots(finished, V4, PARAMS.snapshot_every_days, seed=PARAMS.seed)
    waiting = pending_rows(bookings, DAY, V4, PARAMS)
    seen: list[pd.DataFrame] = []
    fit = folds_module.fit_booster

    def recording(training: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        seen.append(training)
        return fit(training, *args, **kwargs)

    monkeypatch.setattr(folds_module, "fit_booster", recording)
    cutoff = DAY + pd.Timedelta(days=1)
    encoder, booster, _ = fit_with_pending(rows, V4, PARAMS, cutoff, 20, waiting=waiting)
    first, second = seen
    assert len(first) == len(rows)  # neither the cancellations nor the survivors of the unfinished
    assert len(second) == len(rows) + len(waiting[0]) + len(waiting[1].snapshots)
    assert (second[TARGET].iloc[len(rows) : len(rows) + len(waiting[0])] == 1).all()
    soft = second[TARGET].iloc[len(rows) + len(waiting[0]) :].to_numpy()
    assert ((soft > 0) & (soft < 1)).all()
    chance = (
        pd.Series(soft).groupby(second["booking_id"].iloc[len(rows) + len(waiting[0]) :].to_numpy()).nunique()
    )
    assert (chance == 1).all()  # one chance per booking, whatever the snapshot
    expected = fit(rows, V4, PARAMS, cutoff, 20)
    first_chance = expected[1].predict(folds_module.dmatrix(expected[0], waiting[1].today))
    np.testing.assert_allclose(np.sort(np.unique(soft)), np.sort(np.unique(first_chance)), rtol=1e-6)
    assert booster.num_boosted_rounds() == 20
    assert encoder.feature_names


def test_each_head_forgets_at_its_own_recency_half_life(
    bookings: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The at-booking head is weighted with ``half_life_days``, the later head with
    ``half_life_days_on_the_books``: in the backtest's folds and in the refit."""
    seen: list[float] = []
    weights = folds_module.recency_weights

    def recording(arrival: pd.Series, cutoff: pd.Timestamp, half_life_days: float) -> np.ndarray:
        seen.append(half_life_days)
        return weights(arrival, cutoff, half_life_days)

    monkeypatch.setattr(folds_module, "recency_weights", recording)
    params = PARAMS.model_copy(update={"half_life_days": 90, "half_life_days_on_the_books": 30})
    trained = train(bookings, BacktestParams(folds=2, fold_months=2), params, "v4")
    assert seen.count(90) == 2 + 1  # one fit per fold, and the refit
    assert seen.count(30) >= 2 * 2 + 1  # two per fold (first without the pending bookings), and the refit
    assert set(seen) == {90, 30}
    assert trained.model.metadata["half_life_days"] == 90
    assert trained.model.metadata["half_life_days_on_the_books"] == 30
    assert PARAMS.on_the_books() is PARAMS  # unset: the same half-life for both


def test_a_head_answering_at_booking_never_learns_from_its_windows_bookings(bookings: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="cannot learn from its window's own bookings"):
        fit_folds(bookings, V4, BacktestParams(folds=2, fold_months=2), PARAMS, pending_from=bookings)


def test_a_replay_as_of_a_day_learns_nothing_that_happened_after_it(bookings: pd.DataFrame) -> None:
    """``train(..., day=D)``, as ``holdout-check`` runs it: give every booking arriving after D
    another outcome, dated after D, and the model, its backtest and what it learnt stay the same."""
    day = pd.Timestamp("2017-04-30")
    params = TrainParams(max_trees=20, checkpoint_every=10, snapshot_every_days=20)
    folds = BacktestParams(folds=2, fold_months=2)
    later = bookings["arrival_date"].to_numpy(dtype="datetime64[D]") > np.datetime64(day.date())
    other = bookings.copy()
    cancelled_later = later & (
        other["reservation_status_date"].to_numpy(dtype="datetime64[D]") > np.datetime64(day.date())
    )
    flip = cancelled_later | (later & other["reservation_status"].eq("Check-Out").to_numpy())
    went = other["reservation_status"].eq("Check-Out").to_numpy() & flip
    other.loc[flip, "reservation_status"] = np.where(went[flip], "Canceled", "Check-Out")
    other.loc[flip, TARGET] = np.where(went[flip], 1, 0)
    other.loc[flip, "reservation_status_date"] = other.loc[flip, "arrival_date"]
    assert flip.sum() > 100
    first = train(bookings, folds, params, "v4", day=day)
    again = train(other, folds, params, "v4", day=day)
    window = first.model.metadata["window"]
    assert window["cutoff"] == "2017-05-01"
    assert window["not_arrived"]["on_the_books"] > 0
    assert again.model.metadata["window"] == window
    assert again.backtest.report() == first.backtest.report()
    probe = bookings[later].head(300)
    for as_of in (None, day):
        rows = probe if as_of is None else probe.assign(as_of=as_of)
        np.testing.assert_array_equal(
            again.model.predict(rows).probability, first.model.predict(rows).probability
        )


def test_a_hotels_live_export_is_learnt_from_as_of_its_newest_arrival(bookings: pd.DataFrame) -> None:
    """An export taken at the end of a day: guests arrived by then have their outcome, bookings
    cancelled by then too (some arrive months later), the rest are active (no outcome). The day
    the model is trained as of is the newest arrival, not a future cancelled one's."""
    taken = np.datetime64("2017-04-30")
    arrival = bookings["arrival_date"].to_numpy(dtype="datetime64[D]")
    booked = bookings["booking_date"].to_numpy(dtype="datetime64[D]")
    status_date = bookings["reservation_status_date"].to_numpy(dtype="datetime64[D]")
    cancelled = bookings["reservation_status"].isin(["Canceled", "No-Show"]).to_numpy() & (
        status_date <= taken
    )
    export = bookings[booked <= taken].copy()
    active = ((arrival > taken) & ~cancelled)[booked <= taken]
    export.loc[active, [TARGET, "reservation_status", "reservation_status_date"]] = [np.nan, None, pd.NaT]
    known_cancelled_later = ((arrival > taken) & cancelled)[booked <= taken]
    assert known_cancelled_later.sum() > 20
    assert active.sum() > 100
    trained = train(export, BacktestParams(folds=2, fold_months=2), PARAMS, "v4")
    window = trained.model.metadata["window"]
    came = export["reservation_status"].eq("Check-Out")
    newest = pd.to_datetime(export.loc[came, "arrival_date"]).max()
    assert newest <= pd.Timestamp(taken)
    assert window["cutoff"] == str((newest + pd.Timedelta(days=1)).date())
    assert window["train_end"] == str(newest.date())
    # The active bookings and the cancelled ones arriving later are learnt from as of that day.
    on_books_then, cancelled_then = as_known_at(export, newest)[1], as_known_at(export, newest)[0]
    assert window["not_arrived"]["on_the_books"] == len(on_books_then) > 0
    assert set(export.loc[active, "booking_id"]) & set(on_books_then["booking_id"])
    assert window["not_arrived"]["cancelled_snapshots"] >= len(cancelled_then) > 0

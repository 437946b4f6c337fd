"""Bookings as they stood on given days: the training examples of the "as of" question.

The model answers P(cancelled after day T | still on the books at T). Its training examples are
snapshots (booking, T) built from history:

- every booking at its booking date, labelled by whether it was cancelled at all (today's
  question, "will this booking cancel, judged the day it is made": a same-day cancellation
  counts, 15% of all cancellations in the public data);
- and the same booking on later days T while it was still on the books — made by T, not
  arrived, not cancelled on or before T — labelled by whether it was cancelled after T. A
  cancelled booking is on the books until the day before its cancellation, so every snapshot
  of it is labelled 1; one that arrived, 0.

Later days come on a calendar grid: one every ``every_days`` days after the booking, from a
phase drawn per booking (a hash of its id, so a booking's days do not depend on which other
bookings are in the data). That samples the bookings on the books on any day in proportion to
how long each stayed there, as the bookings on the books on a given morning are — a booking
made a year ahead is on the books on many mornings, a last-minute one on few.

Bookings still on the books at a cut-off (``pending``) teach something too: that they lasted
until it. Left out, the examples of the newest bookings for the coming months — the most like the
ones a model answers for — would be missing, and the level of cancellations it learns would lag by
a booking's whole lead time. ``pending`` gives their snapshots up to the cut-off; the label each
gets (the chance of cancelling after it) is estimated by the trainer (``backtest/folds.py``).

``reservation_status`` and ``reservation_status_date`` decide which snapshots exist and their
labels; they are never features. A snapshot's features are computed by the transformation as of
its day (``v4.at``), from the booking's own fields and T alone: nothing dated after T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data_engineering.src.schema import AS_OF, TARGET, ReservationStatus
from data_engineering.transformation import Transformation, v4

ONE_DAY = np.timedelta64(1, "D")
_CANCELLED = (ReservationStatus.CANCELED.value, ReservationStatus.NO_SHOW.value)


def known_outcome(frame: pd.DataFrame) -> np.ndarray:
    """Bookings whose outcome is recorded (arrived, cancelled or no-show): the only ones to learn from."""
    status = (
        frame["reservation_status"] if "reservation_status" in frame else pd.Series(None, index=frame.index)
    )
    known: np.ndarray = (status.notna() & frame[TARGET].notna()).to_numpy()
    return known


def last_day_on_the_books(frame: pd.DataFrame) -> np.ndarray:
    """The last day (``datetime64[D]``) each booking was on the books at the end of the day.

    The day before its arrival; for a cancellation (or a no-show recorded before arrival), the
    day before its status date, if earlier. A booking cancelled the day it was made was never on
    the books at the end of a day after it.
    """
    arrival = frame["arrival_date"].to_numpy(dtype="datetime64[D]")
    last = arrival - ONE_DAY
    status_date = frame["reservation_status_date"].to_numpy(dtype="datetime64[D]")
    cancelled = frame["reservation_status"].isin(_CANCELLED).to_numpy()
    left = np.where(cancelled & ~np.isnat(status_date), status_date - ONE_DAY, last)
    result: np.ndarray = np.minimum(left, last)
    return result


def _phase(ids: pd.Series, every_days: int, seed: int) -> np.ndarray:
    """1..every_days per booking, from its id: the same days for a booking in any data set."""
    hashed = pd.util.hash_pandas_object(ids.astype(str), index=False, hash_key=f"{seed:016d}"[:16])
    phase: np.ndarray = (hashed.to_numpy() % np.uint64(every_days)).astype(np.int64) + 1
    return phase


def snapshot_days(frame: pd.DataFrame, every_days: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(row positions, days): each booking at its booking date, then every ``every_days`` days on
    the books (none with ``every_days`` 0: the booking date only)."""
    n = len(frame)
    booked = frame["booking_date"].to_numpy(dtype="datetime64[D]")
    rows, days = [np.arange(n)], [booked]
    if every_days > 0:
        span = (last_day_on_the_books(frame) - booked).astype(np.int64)  # later days on the books
        phase = _phase(frame["booking_id"], every_days, seed)
        count = np.where(span >= phase, (span - phase) // every_days + 1, 0)
        row = np.repeat(np.arange(n), count)
        step = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
        rows.append(row)
        days.append(booked[row] + (phase[row] + step * every_days).astype("timedelta64[D]"))
    return np.concatenate(rows), np.concatenate(days)


def as_of(
    frame: pd.DataFrame, rows: np.ndarray, days: np.ndarray, transformation: Transformation
) -> pd.DataFrame:
    """The rows ``rows`` of a transformed frame, judged as of ``days`` (their as-of features recomputed)."""
    out = frame.iloc[rows].reset_index(drop=True)
    if transformation.as_of:
        for name, values in v4.at(out, days).items():
            out[name] = values
    else:
        out[AS_OF] = days
    return out


def snapshots(
    frame: pd.DataFrame, transformation: Transformation, every_days: int, seed: int = 0
) -> pd.DataFrame:
    """Training snapshots of bookings with a known outcome (see the module's docstring)."""
    known = frame[known_outcome(frame)].reset_index(drop=True)
    rows, days = snapshot_days(known, every_days, seed)
    return as_of(known, rows, days, transformation)


@dataclass(frozen=True)
class Pending:
    """The bookings on the books at the end of ``day``, as known then, and their snapshots up to it.

    ``snapshots`` carry no label: what a booking does after ``day`` is not known on it.
    ``owner`` is each snapshot's booking, a position in ``today`` (the bookings judged as of ``day``).
    """

    today: pd.DataFrame
    snapshots: pd.DataFrame
    owner: np.ndarray


def as_known_at(frame: pd.DataFrame, day: pd.Timestamp | np.datetime64) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Of the bookings made by the end of ``day`` and arriving after it, what was known then:
    (those cancelled on or before it, outcome known; those still on the books, outcome not known).

    A booking without a recorded outcome (an active one, loaded from a hotel's system) is on the
    books; one cancelled later than ``day`` was too, whatever the data says of it now.
    """
    day64 = np.asarray(pd.Timestamp(day).to_datetime64(), dtype="datetime64[D]")
    booked = frame["booking_date"].to_numpy(dtype="datetime64[D]")
    arrival = frame["arrival_date"].to_numpy(dtype="datetime64[D]")
    status_date = frame["reservation_status_date"].to_numpy(dtype="datetime64[D]")
    cancelled = frame["reservation_status"].isin(_CANCELLED).to_numpy() & (status_date <= day64)
    made = (booked <= day64) & (arrival > day64)
    return (
        frame[made & cancelled].reset_index(drop=True),
        frame[made & ~cancelled].reset_index(drop=True),
    )


def pending(
    on_books: pd.DataFrame,
    day: pd.Timestamp | np.datetime64,
    transformation: Transformation,
    every_days: int,
    seed: int = 0,
) -> Pending:
    """``on_books`` (still on the books at the end of ``day``, from ``as_known_at``): each at its
    booking date and on its snapshot grid up to ``day``, and each as of ``day``."""
    day64 = np.asarray(pd.Timestamp(day).to_datetime64(), dtype="datetime64[D]")
    # Nothing after the day is known on it: no outcome, so nothing can read one by mistake. Each
    # keeps the grid it would have had (the same phase), cut at the day.
    on_books = on_books.copy()
    on_books[TARGET] = np.nan
    on_books["reservation_status"] = None
    on_books["reservation_status_date"] = pd.NaT
    rows, days = snapshot_days(on_books, every_days, seed)
    kept = days <= day64
    return Pending(
        as_of(on_books, np.arange(len(on_books)), np.full(len(on_books), day64), transformation),
        as_of(on_books, rows[kept], days[kept], transformation),
        rows[kept],
    )


def on_the_books(
    frame: pd.DataFrame, day: pd.Timestamp | np.datetime64, transformation: Transformation
) -> pd.DataFrame:
    """The bookings on the books at the end of ``day`` (made by it, arriving after it, not
    cancelled on or before it), judged as of that day."""
    day64 = np.asarray(pd.Timestamp(day).to_datetime64(), dtype="datetime64[D]")
    booked = frame["booking_date"].to_numpy(dtype="datetime64[D]")
    arrival = frame["arrival_date"].to_numpy(dtype="datetime64[D]")
    status_date = frame["reservation_status_date"].to_numpy(dtype="datetime64[D]")
    cancelled = frame["reservation_status"].isin(_CANCELLED).to_numpy() & (status_date <= day64)
    rows = np.flatnonzero((booked <= day64) & (arrival > day64) & ~cancelled)
    return as_of(frame, rows, np.full(len(rows), day64), transformation)

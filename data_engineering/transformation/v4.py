"""v4: v3 plus where the booking stands on the day it is judged — the "as of" features.

A revenue manager asks every morning how many of the bookings *on the books* will still cancel.
A booking that has survived months and arrives next week is far less likely to cancel than the
day it was made (most cancellations come early), so the model is asked P(cancelled after T |
still on the books at T) for a day T between the booking date and the day before arrival:

- ``as_of``: T itself (the input's ``as_of``; missing means the booking date, today's question);
- ``days_to_arrival``: arrival − T, the horizon left;
- ``days_since_booking``: T − booking date, how long it has survived (0: just made).

Both are known at T and need nothing after it. ``at`` recomputes them for other days on rows this
transformation already produced: training builds its snapshots (one booking, several days T)
with it, so training and scoring share this one definition. ``lead_time`` stays the booking's
own (the sum of the two). The booking date itself (``booking_date_index``, from v3) stays too:
a model of what was known up to its cut-off, persisting into later days.
"""

from __future__ import annotations

import numpy as np

from data_engineering.src.schema import AS_OF
from data_engineering.transformation import v1, v3

FEATURES: dict[str, v1.ColumnType] = {"days_to_arrival": "int", "days_since_booking": "int"}
COLUMNS: dict[str, v1.ColumnType] = {**v3.COLUMNS, **FEATURES}
NUMERIC_FEATURES: tuple[str, ...] = (*v3.NUMERIC_FEATURES, *FEATURES)
CATEGORICAL_FEATURES: tuple[str, ...] = v3.CATEGORICAL_FEATURES


def at(frame: v1.Columns, as_of: np.ndarray) -> dict[str, np.ndarray]:
    """``as_of`` and the features it decides for rows of this transformation (NaT: the booking date)."""
    arrival = np.asarray(frame["arrival_date"], dtype="datetime64[D]")
    booking = np.asarray(frame["booking_date"], dtype="datetime64[D]")
    day = np.asarray(as_of, dtype="datetime64[D]")
    day = np.where(np.isnat(day), booking, day)
    return {
        AS_OF: day,
        "days_to_arrival": (arrival - day).astype(np.int64),
        "days_since_booking": (day - booking).astype(np.int64),
    }


def transform(bookings: v1.Columns) -> dict[str, np.ndarray]:
    frame = v3.transform(bookings)
    as_of = frame.get(AS_OF)
    frame.update(
        at(frame, as_of if as_of is not None else np.full(len(frame["lead_time"]), np.datetime64("NaT")))
    )
    return frame

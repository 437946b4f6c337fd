"""The Forecast page's numbers: scored bookings of one as-of day, turned into the nightly forecast.

The rows come from ``booking_scores`` (``./cli.sh score-db``: each booking on the books at the
end of a day, scored as of it) joined to the loaded bookings (``sql.scored_stays``). They go
through ``data_science.nightly`` — ``stays`` then ``forecast``, as the API's ``GET /forecast`` and
``./cli.sh forecast`` do — so the distribution, its 80% interval and the overbooking advice are
computed in one place. A replay of an earlier day adds what happened: a booking of that day was
cancelled after it when its status is now Canceled or No-Show, dated after that day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data_engineering.src.schema import TARGET, ReservationStatus
from data_science import nightly
from data_science.hotels import HotelsConfig, HotelsFileError, capacity_file, load_hotels

LEFT = (ReservationStatus.CANCELED.value, ReservationStatus.NO_SHOW.value)


@dataclass(frozen=True)
class Capacities:
    """The capacity file the dashboards read (``HOTEL_CAPACITY_FILE``), or why it cannot be used."""

    path: Path
    hotels: HotelsConfig | None
    problem: str | None


def capacities() -> Capacities:
    path = capacity_file()
    try:
        return Capacities(path, load_hotels(path), None)
    except HotelsFileError as exc:
        return Capacities(path, None, str(exc))


def days(values: pd.Series) -> np.ndarray:
    """Dates as the database returns them (PostgreSQL: dates; SQLite: ISO text) as datetime64[D]."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")


def cancelled_after(rows: pd.DataFrame, day: dt.date) -> np.ndarray:
    """1.0 for each booking whose status is now a cancellation (or no-show) dated after ``day``."""
    status_day = days(rows["reservation_status_date"])  # NaT while a booking is on the books
    left = rows["reservation_status"].isin(LEFT).to_numpy()
    return (left & (status_day > np.datetime64(day, "D"))).astype(np.float64)


def stays(rows: pd.DataFrame, replayed: dt.date | None = None) -> pd.DataFrame:
    """``nightly.stays`` of ``sql.scored_stays`` rows; with ``replayed``, each booking's outcome
    after that day too (what the forecast is then compared with)."""
    features = {name: rows[name].to_numpy() for name in nightly.GROUP_FIELDS}
    features |= {name: rows[name].to_numpy() for name in ("hotel", "total_nights", "adr")}
    features["arrival_date"] = days(rows["arrival_date"])
    features["booking_date"] = days(rows["booking_date"])
    if replayed is not None:
        features[TARGET] = cancelled_after(rows, replayed)
    return nightly.stays(features, rows["probability"].to_numpy(np.float64))


def nights(
    rows: pd.DataFrame,
    first: dt.date,
    last: dt.date,
    hotels: HotelsConfig | None,
    *,
    replayed: dt.date | None = None,
) -> pd.DataFrame:
    """One row per hotel and night from ``first`` to ``last``: ``nightly.forecast``'s columns (and
    ``realised_cancellations`` for a replay)."""
    return nightly.forecast(
        stays(rows, replayed),
        first_night=pd.Timestamp(first),
        last_night=pd.Timestamp(last),
        hotels=hotels,
    )

"""Booking dates from the dataset's fields: the one place the calendar arithmetic lives.

The dataset describes a stay by its arrival year, English month name and day of the month, and
the booking by its lead time (days from booking to arrival). The validator checks that those
dates exist and that an ``as_of`` date falls between booking and arrival; the transformations
compute features from them. Both call these functions, so they cannot disagree on a date.
Dates are the hotels' calendar days (``datetime64[D]``, no time zones).
"""

from __future__ import annotations

import numpy as np

from data_engineering.src.arrays import lookup
from data_engineering.src.schema import MONTH_NUMBER

_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def month_numbers(month_names: np.ndarray) -> np.ndarray:
    """1..12 per English month name (0 for anything else)."""
    return lookup(month_names, MONTH_NUMBER, 0, np.int64)


def last_day_of_month(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    """28..31: the number of days of each (year, month), leap years included (months 1..12)."""
    years = np.asarray(years, dtype=np.int64)
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    last: np.ndarray = _DAYS_IN_MONTH[np.asarray(months) - 1] + ((months == 2) & leap)
    return last


def arrival_dates(years: np.ndarray, month_names: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Arrival dates (``datetime64[D]``) of valid year / month name / day fields."""
    months = month_numbers(month_names)
    first = ((np.asarray(years, dtype=np.int64) - 1970) * 12 + months - 1).astype("datetime64[M]")
    arrival: np.ndarray = first.astype("datetime64[D]") + (np.asarray(days, dtype=np.int64) - 1)
    return arrival


def booking_dates(arrival: np.ndarray, lead_time: np.ndarray) -> np.ndarray:
    """The day each booking was made: its arrival minus its lead time."""
    booked: np.ndarray = arrival - np.asarray(lead_time, dtype=np.int64).astype("timedelta64[D]")
    return booked

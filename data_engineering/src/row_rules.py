"""Rules across the fields of one row: the arrival date exists, the outcome columns agree, and a
booking judged as of a date is on the books that day. Each is checked where every field it
reads is itself valid."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from data_engineering.src.arrays import map_unique
from data_engineering.src.dates import arrival_dates, booking_dates, last_day_of_month
from data_engineering.src.field_values import (
    OK,
)
from data_engineering.src.schema import (
    AS_OF,
    MONTH_NUMBER,
    ReservationStatus,
)

CANCELLED = (ReservationStatus.CANCELED.value, ReservationStatus.NO_SHOW.value)


def _arrival_date_missing(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    """Year, month name and day form no calendar date (31 April, 29 February 2017)."""
    year, month, day = (columns[n] for n in ARRIVAL_PARTS)
    month_number = map_unique(month, lambda m: MONTH_NUMBER.get(m, 1), np.int64)
    years = np.nan_to_num(year, nan=2000).astype(np.int64)
    missing: np.ndarray = usable & (day > last_day_of_month(years, month_number))
    return missing


def _present(values: np.ndarray) -> np.ndarray:
    """Rows that hold a value: a number (not NaN), a text (not None) or a date (not NaT)."""
    present: np.ndarray
    if values.dtype.kind == "f":
        present = ~np.isnan(values)
    elif values.dtype.kind == "M":
        present = ~np.isnat(values)
    else:
        present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    return present


def _is_cancellation(status: np.ndarray) -> np.ndarray:
    return map_unique(status, lambda s: s in CANCELLED, bool)


def _target_disagrees(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    """``is_canceled`` is 1 exactly for Canceled and No-Show reservations (where both are given)."""
    given = usable & _present(columns["is_canceled"]) & _present(columns["reservation_status"])
    disagrees: np.ndarray = given & (
        columns["is_canceled"] != _is_cancellation(columns["reservation_status"])
    )
    return disagrees


def _target_missing(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    failed: np.ndarray = usable & _present(columns["reservation_status"]) & ~_present(columns["is_canceled"])
    return failed


def _status_missing(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    failed: np.ndarray = usable & (columns["is_canceled"] == 1) & ~_present(columns["reservation_status"])
    return failed


def _status_date_missing(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    status, date = _present(columns["reservation_status"]), _present(columns["reservation_status_date"])
    failed: np.ndarray = usable & (status != date)
    return failed


def _dates(
    columns: Mapping[str, np.ndarray], usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows whose arrival date exists and as_of is given, their arrival dates, booking dates)."""
    checked = usable & ~_arrival_date_missing(columns, usable) & _present(columns[AS_OF])
    year = np.where(checked, columns["arrival_date_year"], 2000)
    day = np.where(checked, columns["arrival_date_day_of_month"], 1)
    month = np.where(checked, columns["arrival_date_month"], "January")
    arrival = arrival_dates(year, month, day)
    return checked, arrival, booking_dates(arrival, np.nan_to_num(columns["lead_time"]))


def _booked_after(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    checked, _, booked = _dates(columns, usable)
    failed: np.ndarray = checked & (columns[AS_OF] < booked)
    return failed


def _booked_after_reason(columns: Mapping[str, np.ndarray], row: int) -> str:
    _, arrival, booked = _dates({k: v[row : row + 1] for k, v in columns.items()}, np.ones(1, dtype=bool))
    return (
        f"as_of {columns[AS_OF][row]} is before the booking was made, on {booked[0]} "
        f"(arrival {arrival[0]} minus lead_time {int(columns['lead_time'][row])})"
    )


def _arrived(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    """On or after arrival: the guest has come. The booking date itself is always a valid day (a
    booking made for the same day is judged as it is made)."""
    checked, arrival, booked = _dates(columns, usable)
    failed: np.ndarray = checked & (columns[AS_OF] >= arrival) & (columns[AS_OF] != booked)
    return failed


def _arrived_reason(columns: Mapping[str, np.ndarray], row: int) -> str:
    _, arrival, _ = _dates({k: v[row : row + 1] for k, v in columns.items()}, np.ones(1, dtype=bool))
    return f"as_of {columns[AS_OF][row]} is on or after the arrival date {arrival[0]}: the guest has arrived"


def _cancelled_before(columns: Mapping[str, np.ndarray], usable: np.ndarray) -> np.ndarray:
    """Not on the books as of the date: cancelled (or marked a no-show) on or before it."""
    date, as_of = columns["reservation_status_date"], columns[AS_OF]
    known = usable & _present(as_of) & _present(date) & _is_cancellation(columns["reservation_status"])
    failed: np.ndarray = known & (date <= as_of)
    return failed


def _cancelled_before_reason(columns: Mapping[str, np.ndarray], row: int) -> str:
    status, date = columns["reservation_status"][row], columns["reservation_status_date"][row]
    return f"as_of {columns[AS_OF][row]}: not on the books, its status became {status} on {date}"


@dataclass(frozen=True)
class RowRule:
    """A rule across fields of one row, checked where every field it reads is itself valid."""

    reads: tuple[str, ...]
    check: Callable[[Mapping[str, np.ndarray], np.ndarray], np.ndarray]  # (typed columns, usable) -> failed
    reason: str | Callable[[Mapping[str, np.ndarray], int], str]  # the same for every row, or per row
    blamed: str  # the field a client is told to fix


ARRIVAL_PARTS = ("arrival_date_year", "arrival_date_month", "arrival_date_day_of_month")
_OUTCOME = ("is_canceled", "reservation_status")
_STATUS = ("reservation_status", "reservation_status_date")
ROW_RULES = (
    RowRule(ARRIVAL_PARTS, _arrival_date_missing, "arrival date does not exist", "arrival_date_day_of_month"),
    RowRule(_OUTCOME, _target_disagrees, "is_canceled disagrees with reservation_status", "is_canceled"),
    RowRule(
        _OUTCOME, _target_missing, "is_canceled is missing while reservation_status is given", "is_canceled"
    ),
    RowRule(
        _OUTCOME,
        _status_missing,
        "reservation_status is missing for a cancelled booking",
        "reservation_status",
    ),
    RowRule(
        _STATUS,
        _status_date_missing,
        "reservation_status and reservation_status_date go together: one is missing",
        "reservation_status_date",
    ),
    # As of a date, a booking must be on the books: made by then, not yet arrived, not cancelled.
    RowRule((*ARRIVAL_PARTS, "lead_time", AS_OF), _booked_after, _booked_after_reason, AS_OF),
    RowRule((*ARRIVAL_PARTS, "lead_time", AS_OF), _arrived, _arrived_reason, AS_OF),
    RowRule((*_STATUS, AS_OF), _cancelled_before, _cancelled_before_reason, AS_OF),
)


def row_rule_failures(
    typed: Mapping[str, np.ndarray], status: Mapping[str, np.ndarray], names: Sequence[str]
) -> list[tuple[np.ndarray, dict[int, str], str]]:
    """(failed rows, their reasons by row, the field blamed) of each row rule the columns allow."""
    out = []
    for rule in ROW_RULES:
        if not set(rule.reads) <= set(names):
            continue
        usable = np.logical_and.reduce([status[p] == OK for p in rule.reads])
        failed = rule.check(typed, usable)
        rows = np.flatnonzero(failed).tolist()
        reason = rule.reason
        if isinstance(reason, str):
            messages = dict.fromkeys(rows, reason)
        else:
            messages = {row: reason(typed, row) for row in rows}
        out.append((failed, messages, rule.blamed))
    return out

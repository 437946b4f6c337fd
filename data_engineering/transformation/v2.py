"""v2: v1 plus features known when the booking is made.

Every feature here is computable at booking time from the booking's own fields, so the API can
compute it for a booking that does not exist yet. Dates use the hotels' calendar (no time zones).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from data_engineering.src.schema import MONTH_NUMBER
from data_engineering.transformation import v1

HOME_COUNTRY = "PRT"  # both hotels of the dataset are in Portugal
SEASONS = {
    12: "winter", 1: "winter", 2: "winter",
    3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer",
    9: "autumn", 10: "autumn", 11: "autumn",
}  # fmt: skip
# (upper bound in days, label): revenue managers think in these bands.
LEAD_TIME_BANDS = (
    (7, "0-7 days"),
    (30, "8-30 days"),
    (90, "31-90 days"),
    (180, "91-180 days"),
    (365, "181-365 days"),
)
LONGEST_BAND = "over 365 days"

FEATURES: dict[str, str] = {
    "arrival_date": "date",
    "arrival_month": "int",
    "arrival_weekday": "int",
    "arrival_day_of_year": "int",
    "booking_date": "date",
    "booking_weekday": "int",
    "booking_month": "int",
    "season": "text",
    "lead_time_band": "text",
    "total_nights": "int",
    "weekend_share": "float",
    "total_guests": "int",
    "has_children": "int",
    "adr_per_guest": "float",
    "stay_value": "float",
    "is_domestic": "int",
    "has_agent": "int",
    "has_company": "int",
    "previous_cancellation_rate": "float",
}
COLUMNS: dict[str, str] = {**v1.COLUMNS, **FEATURES}


def lead_time_band(days: int) -> str:
    for upper, label in LEAD_TIME_BANDS:
        if days <= upper:
            return label
    return LONGEST_BAND


def _lead_time_bands(days: pd.Series) -> pd.Series:
    edges = [-1, *(upper for upper, _ in LEAD_TIME_BANDS), np.inf]
    labels = [label for _, label in LEAD_TIME_BANDS] + [LONGEST_BAND]
    return pd.cut(days.astype("int64"), bins=edges, labels=labels).astype("str")


def transform_frame(valid: pd.DataFrame) -> pd.DataFrame:
    frame = v1.transform_frame(valid)
    month = frame["arrival_date_month"].map(MONTH_NUMBER).astype("int64")
    arrival = pd.to_datetime(
        {"year": frame["arrival_date_year"], "month": month, "day": frame["arrival_date_day_of_month"]}
    )
    lead = frame["lead_time"].astype("int64")
    booking = arrival - pd.to_timedelta(lead, unit="D")
    weekend = frame["stays_in_weekend_nights"].astype("int64")
    nights = weekend + frame["stays_in_week_nights"].astype("int64")
    adults = frame["adults"].astype("int64")
    children = frame["children"].astype("int64")
    babies = frame["babies"].astype("int64")
    adr = frame["adr"].astype("float64")
    cancelled = frame["previous_cancellations"].astype("int64")
    history = cancelled + frame["previous_bookings_not_canceled"].astype("int64")

    frame["arrival_date"] = arrival.dt.date
    frame["arrival_month"] = month
    frame["arrival_weekday"] = arrival.dt.day_of_week.astype("int64")
    frame["arrival_day_of_year"] = arrival.dt.day_of_year.astype("int64")
    frame["booking_date"] = booking.dt.date
    frame["booking_weekday"] = booking.dt.day_of_week.astype("int64")
    frame["booking_month"] = booking.dt.month.astype("int64")
    frame["season"] = month.map(SEASONS).astype("str")
    frame["lead_time_band"] = _lead_time_bands(lead)
    frame["total_nights"] = nights
    frame["weekend_share"] = (weekend / nights.where(nights > 0, 1)).astype("float64")
    frame["total_guests"] = adults + children + babies
    frame["has_children"] = ((children + babies) > 0).astype("int64")
    frame["adr_per_guest"] = adr / (adults + children).clip(lower=1)
    frame["stay_value"] = adr * nights
    frame["is_domestic"] = (frame["country"] == HOME_COUNTRY).astype("int64")
    frame["has_agent"] = (frame["agent"] != v1.NO_ID).astype("int64")
    frame["has_company"] = (frame["company"] != v1.NO_ID).astype("int64")
    frame["previous_cancellation_rate"] = (cancelled / history.where(history > 0, 1)).astype("float64")
    return frame


def transform_record(booking: Mapping[str, Any]) -> dict[str, Any]:
    record = v1.transform_record(booking)
    month = MONTH_NUMBER[record["arrival_date_month"]]
    arrival = dt.date(record["arrival_date_year"], month, record["arrival_date_day_of_month"])
    lead = record["lead_time"]
    booking_day = arrival - dt.timedelta(days=lead)
    weekend = record["stays_in_weekend_nights"]
    nights = weekend + record["stays_in_week_nights"]
    adults, children, babies = record["adults"], record["children"], record["babies"]
    adr = record["adr"]
    cancelled = record["previous_cancellations"]
    history = cancelled + record["previous_bookings_not_canceled"]

    record["arrival_date"] = arrival
    record["arrival_month"] = month
    record["arrival_weekday"] = arrival.weekday()
    record["arrival_day_of_year"] = arrival.timetuple().tm_yday
    record["booking_date"] = booking_day
    record["booking_weekday"] = booking_day.weekday()
    record["booking_month"] = booking_day.month
    record["season"] = SEASONS[month]
    record["lead_time_band"] = lead_time_band(lead)
    record["total_nights"] = nights
    record["weekend_share"] = weekend / (nights if nights > 0 else 1)
    record["total_guests"] = adults + children + babies
    record["has_children"] = int(children + babies > 0)
    record["adr_per_guest"] = adr / max(adults + children, 1)
    record["stay_value"] = adr * nights
    record["is_domestic"] = int(record["country"] == HOME_COUNTRY)
    record["has_agent"] = int(record["agent"] != v1.NO_ID)
    record["has_company"] = int(record["company"] != v1.NO_ID)
    record["previous_cancellation_rate"] = cancelled / (history if history > 0 else 1)
    return record


def transform_columns(bookings: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Many bookings at once, column by column with numpy: the API's batch path.

    Same rules and values as ``transform_frame`` and ``transform_record`` (a test holds all three
    to equality on every row), for the columns the model reads, without building a DataFrame:
    for 10,000 bookings this is several times faster than either per-booking calls or pandas.
    """

    def ints(name: str, missing: int | None = None) -> np.ndarray:
        if missing is None:
            return np.fromiter((b[name] for b in bookings), dtype=np.int64, count=len(bookings))
        values = (missing if b.get(name) is None else b[name] for b in bookings)
        return np.fromiter(values, dtype=np.int64, count=len(bookings))

    def texts(name: str, clean: Callable[[Any], str] = str) -> np.ndarray:
        return np.array([clean(b.get(name)) for b in bookings], dtype=object)

    columns: dict[str, np.ndarray] = {
        name: ints(name, 0 if name == "children" else None) for name in _INT_INPUTS
    }
    columns["adr"] = np.fromiter((b["adr"] for b in bookings), dtype=np.float64, count=len(bookings))
    for name in (
        "hotel",
        "market_segment",
        "distribution_channel",
        "reserved_room_type",
        "deposit_type",
        "customer_type",
    ):
        columns[name] = texts(name)
    columns["meal"] = texts("meal", v1.clean_meal)
    columns["country"] = texts("country", v1.clean_country)
    columns["agent"] = texts("agent", v1.clean_identifier)
    columns["company"] = texts("company", v1.clean_identifier)

    month = np.fromiter(
        (MONTH_NUMBER[str(b["arrival_date_month"])] for b in bookings), dtype=np.int64, count=len(bookings)
    )
    first_of_month = ((columns["arrival_date_year"] - 1970) * 12 + month - 1).astype("datetime64[M]")
    arrival = first_of_month.astype("datetime64[D]") + (columns["arrival_date_day_of_month"] - 1)
    booking = arrival - columns["lead_time"]
    weekend, adr = columns["stays_in_weekend_nights"], columns["adr"]
    nights = weekend + columns["stays_in_week_nights"]
    adults, children, babies = columns["adults"], columns["children"], columns["babies"]
    cancelled = columns["previous_cancellations"]
    history = cancelled + columns["previous_bookings_not_canceled"]

    columns["arrival_month"] = month
    columns["arrival_weekday"] = _weekday(arrival)
    columns["arrival_day_of_year"] = (arrival - arrival.astype("datetime64[Y]")).astype(np.int64) + 1
    columns["booking_weekday"] = _weekday(booking)
    columns["total_nights"] = nights
    columns["weekend_share"] = weekend / np.where(nights > 0, nights, 1)
    columns["total_guests"] = adults + children + babies
    columns["has_children"] = ((children + babies) > 0).astype(np.int64)
    columns["adr_per_guest"] = adr / np.maximum(adults + children, 1)
    columns["stay_value"] = adr * nights
    columns["is_domestic"] = (columns["country"] == HOME_COUNTRY).astype(np.int64)
    columns["has_agent"] = (columns["agent"] != v1.NO_ID).astype(np.int64)
    columns["has_company"] = (columns["company"] != v1.NO_ID).astype(np.int64)
    columns["previous_cancellation_rate"] = cancelled / np.where(history > 0, history, 1)
    return columns


# Integer inputs every booking has (the week number is optional and no model input).
_INT_INPUTS = tuple(name for name in v1.INT_COLUMNS if name != "arrival_date_week_number")


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0, as ``date.weekday()``: 1970-01-01, day 0, was a Thursday (3)."""
    return (days.astype(np.int64) + 3) % 7

"""v2: v1 plus features known when the booking is made.

Every feature here is computable at booking time from the booking's own fields, so the API can
compute it for a booking that does not exist yet. Dates use the hotels' calendar (no time zones).
"""

from __future__ import annotations

import numpy as np

from data_engineering.src.arrays import lookup, object_array
from data_engineering.src.dates import arrival_dates, booking_dates, month_numbers
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
_BAND_EDGES = np.array([upper for upper, _ in LEAD_TIME_BANDS])
_BAND_LABELS = object_array([label for _, label in LEAD_TIME_BANDS] + [LONGEST_BAND])

FEATURES: dict[str, v1.ColumnType] = {
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
COLUMNS: dict[str, v1.ColumnType] = {**v1.COLUMNS, **FEATURES}

# The model's inputs. Deliberately not inputs: identifiers, absolute time (arrival_date_year,
# dates: a model must not learn "2016" when it will score 2018), the dataset's inconsistent week
# numbers, and every outcome or post-booking column (see encoding.py's guard).
NUMERIC_FEATURES: tuple[str, ...] = (
    "lead_time",
    "arrival_month",
    "arrival_date_day_of_month",
    "arrival_weekday",
    "arrival_day_of_year",
    "booking_weekday",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "total_nights",
    "weekend_share",
    "adults",
    "children",
    "babies",
    "total_guests",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "previous_cancellation_rate",
    "days_in_waiting_list",
    "adr",
    "adr_per_guest",
    "stay_value",
    "required_car_parking_spaces",
    "total_of_special_requests",
    "is_domestic",
    "has_agent",
    "has_company",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "hotel",
    "meal",
    "country",
    "market_segment",
    "distribution_channel",
    "reserved_room_type",
    "deposit_type",
    "customer_type",
    "agent",
    "company",
)


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0, as ``date.weekday()``: 1970-01-01, day 0, was a Thursday (3)."""
    return (days.astype(np.int64) + 3) % 7


def transform(bookings: v1.Columns) -> dict[str, np.ndarray]:
    frame = v1.transform(bookings)
    month = month_numbers(frame["arrival_date_month"])
    arrival = arrival_dates(
        frame["arrival_date_year"], frame["arrival_date_month"], frame["arrival_date_day_of_month"]
    )
    lead = frame["lead_time"]
    booking = booking_dates(arrival, lead)
    weekend = frame["stays_in_weekend_nights"]
    nights = weekend + frame["stays_in_week_nights"]
    adults, children, babies = frame["adults"], frame["children"], frame["babies"]
    adr = frame["adr"]
    cancelled = frame["previous_cancellations"]
    history = cancelled + frame["previous_bookings_not_canceled"]

    frame["arrival_date"] = arrival
    frame["arrival_month"] = month
    frame["arrival_weekday"] = weekday(arrival)
    frame["arrival_day_of_year"] = (arrival - arrival.astype("datetime64[Y]")).astype(np.int64) + 1
    frame["booking_date"] = booking
    frame["booking_weekday"] = weekday(booking)
    frame["booking_month"] = booking.astype("datetime64[M]").astype(np.int64) % 12 + 1
    frame["season"] = lookup(month, SEASONS, None, object)
    frame["lead_time_band"] = _BAND_LABELS[np.searchsorted(_BAND_EDGES, lead, side="left")]
    frame["total_nights"] = nights
    frame["weekend_share"] = weekend / np.maximum(nights, 1)
    frame["total_guests"] = adults + children + babies
    frame["has_children"] = ((children + babies) > 0).astype(np.int64)
    frame["adr_per_guest"] = adr / np.maximum(adults + children, 1)
    frame["stay_value"] = adr * nights
    frame["is_domestic"] = (frame["country"] == HOME_COUNTRY).astype(np.int64)
    frame["has_agent"] = (frame["agent"] != v1.NO_ID).astype(np.int64)
    frame["has_company"] = (frame["company"] != v1.NO_ID).astype(np.int64)
    frame["previous_cancellation_rate"] = cancelled / np.maximum(history, 1)
    return frame

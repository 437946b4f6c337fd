"""v1: typed and cleaned raw columns.

- ``NULL``/``NA``/empty were already turned into nulls by validation;
- ``children`` missing -> 0 (4 rows in the full file; the stay is priced on adults);
- ``country`` missing -> ``UNK``; the alpha-2 ``CN`` the hotels sometimes wrote -> ``CHN``;
- ``agent``/``company`` are ids, not quantities: kept as text, missing -> ``none``;
- ``meal`` ``Undefined`` -> ``SC`` (the dataset's authors: both mean "no meal package");
- the outcome columns ``reservation_status*`` are dropped; the target and the post-booking facts
  (``assigned_room_type``, ``booking_changes``) are kept for analysis when present, and never used
  as model inputs (see ``encoding.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from data_engineering.src.schema import COUNTRY_ALIASES

ID = "booking_id"
UNKNOWN_COUNTRY = "UNK"
NO_ID = "none"

INT_COLUMNS = (
    "lead_time",
    "arrival_date_year",
    "arrival_date_week_number",
    "arrival_date_day_of_month",
    "stays_in_weekend_nights",
    "stays_in_week_nights",
    "adults",
    "children",
    "babies",
    "is_repeated_guest",
    "previous_cancellations",
    "previous_bookings_not_canceled",
    "days_in_waiting_list",
    "required_car_parking_spaces",
    "total_of_special_requests",
)
TEXT_COLUMNS = (
    "hotel",
    "arrival_date_month",
    "meal",
    "country",
    "market_segment",
    "distribution_channel",
    "reserved_room_type",
    "deposit_type",
    "agent",
    "company",
    "customer_type",
)
FLOAT_COLUMNS = ("adr",)
OPTIONAL: frozenset[str] = frozenset({"is_canceled", "assigned_room_type", "booking_changes"})

COLUMNS: dict[str, str] = {
    ID: "int",
    "is_canceled": "int",
    **dict.fromkeys(INT_COLUMNS, "int"),
    **dict.fromkeys(TEXT_COLUMNS, "text"),
    **dict.fromkeys(FLOAT_COLUMNS, "float"),
    "assigned_room_type": "text",
    "booking_changes": "int",
}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def clean_country(value: Any) -> str:
    if _missing(value):
        return UNKNOWN_COUNTRY
    text = str(value)
    return COUNTRY_ALIASES.get(text, text)


def clean_identifier(value: Any) -> str:
    if _missing(value):
        return NO_ID
    return str(int(value))  # "009", 9 and 9.0 name the same agent


def _identifier_or_none(value: Any) -> str:
    return value if value == NO_ID else clean_identifier(value)


def clean_meal(value: Any) -> str:
    text = str(value)
    return "SC" if text == "Undefined" else text


def transform_frame(valid: pd.DataFrame) -> pd.DataFrame:
    """Clean a validated frame (typed columns as produced by ``validate_raw``)."""
    out: dict[str, pd.Series] = {}
    if ID in valid:
        out[ID] = valid[ID].astype("int64")
    if "is_canceled" in valid:
        out["is_canceled"] = valid["is_canceled"].astype("int64")
    for name in INT_COLUMNS:
        column = valid[name]
        if name == "children":
            column = column.fillna(0)
        # Int64 keeps a missing week number (optional in the API) as null instead of a float.
        out[name] = column.astype("Int64")
    out["hotel"] = valid["hotel"].astype("str")
    out["arrival_date_month"] = valid["arrival_date_month"].astype("str")
    out["meal"] = valid["meal"].astype("str").replace("Undefined", "SC")
    country = valid["country"].astype("object").where(valid["country"].notna(), UNKNOWN_COUNTRY)
    out["country"] = country.replace(COUNTRY_ALIASES).astype("str")
    for name in ("market_segment", "distribution_channel", "reserved_room_type", "deposit_type"):
        out[name] = valid[name].astype("str")
    for name in ("agent", "company"):
        ids = valid[name].astype("object").where(valid[name].notna(), NO_ID)
        out[name] = ids.map(_identifier_or_none).astype("str")
    out["customer_type"] = valid["customer_type"].astype("str")
    out["adr"] = valid["adr"].astype("float64")
    if "assigned_room_type" in valid:
        out["assigned_room_type"] = valid["assigned_room_type"].astype("str")
    if "booking_changes" in valid:
        out["booking_changes"] = valid["booking_changes"].astype("Int64")
    frame = pd.DataFrame(out, index=valid.index)
    return frame[[c for c in COLUMNS if c in frame.columns]]


def transform_record(booking: Mapping[str, Any]) -> dict[str, Any]:
    """Clean one booking (the API's path): the same rules as ``transform_frame``."""
    out: dict[str, Any] = {}
    if ID in booking:
        out[ID] = int(booking[ID])
    if booking.get("is_canceled") is not None:
        out["is_canceled"] = int(booking["is_canceled"])
    for name in INT_COLUMNS:
        value = booking.get(name)
        if value is None:
            out[name] = 0 if name == "children" else None
        else:
            out[name] = int(value)
    out["hotel"] = str(booking["hotel"])
    out["arrival_date_month"] = str(booking["arrival_date_month"])
    out["meal"] = clean_meal(booking["meal"])
    out["country"] = clean_country(booking.get("country"))
    out["market_segment"] = str(booking["market_segment"])
    out["distribution_channel"] = str(booking["distribution_channel"])
    out["reserved_room_type"] = str(booking["reserved_room_type"])
    out["deposit_type"] = str(booking["deposit_type"])
    out["agent"] = clean_identifier(booking.get("agent"))
    out["company"] = clean_identifier(booking.get("company"))
    out["customer_type"] = str(booking["customer_type"])
    out["adr"] = float(booking["adr"])
    if booking.get("assigned_room_type") is not None:
        out["assigned_room_type"] = str(booking["assigned_room_type"])
    if booking.get("booking_changes") is not None:
        out["booking_changes"] = int(booking["booking_changes"])
    return out

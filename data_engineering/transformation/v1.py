"""v1: typed and cleaned raw columns.

- ``children`` missing -> 0 (4 rows in the full file; the stay is priced on adults);
- ``country`` missing -> ``UNK``; the alpha-2 ``CN`` the hotels sometimes wrote -> ``CHN``;
- ``agent``/``company`` are ids, not quantities: kept as text (``"9"``), missing -> ``none``;
- ``meal`` ``Undefined`` -> ``SC`` (the public dataset's authors: both mean "no meal package"),
  where the vocabulary in use has both (another hotel group's ``Undefined`` may mean anything);
- the hotel's reservation id (``booking_id``), the target, the outcome (``reservation_status*``:
  training builds its "as of" snapshots from them) and the post-booking facts
  (``assigned_room_type``, ``booking_changes``) are kept when present — missing for a booking still
  on the books — and are never model inputs (see ``encoding.py``); so is ``as_of``, the day a
  booking is scored as of.

Input: validated bookings (``data_engineering.src.validate``), or v1's own output: cleaning is
idempotent (``none`` stays ``none``, ``UNK`` stays ``UNK``), so a processed file can be scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from data_engineering.src.arrays import map_unique
from data_engineering.src.schema import AS_OF, BOOKING_ID, COUNTRY_ALIASES, VOCABULARY

if TYPE_CHECKING:
    import pandas as pd

# A column's type in a version's output. Defined in the first version, which every later one and
# the registry build on, so none of them imports the registry back.
ColumnType = Literal["int", "float", "text", "date"]
ID = BOOKING_ID
UNKNOWN_COUNTRY = "UNK"
NO_ID = "none"
# The public dataset's codes for "no meal package", merged only in a vocabulary that has both.
_PUBLIC_MEAL_ALIASES = {"Undefined": "SC"}
MEAL_ALIASES: dict[str, str] = {
    old: new for old, new in _PUBLIC_MEAL_ALIASES.items() if {old, new} <= set(VOCABULARY["meal"])
}

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
# Carried through when the input has them (every transformation's optional columns).
OUTCOME_COLUMNS: dict[str, ColumnType] = {
    "is_canceled": "int",
    "reservation_status": "text",
    "reservation_status_date": "date",
    "assigned_room_type": "text",
    "booking_changes": "int",
}
OPTIONAL: frozenset[str] = frozenset({ID, AS_OF, *OUTCOME_COLUMNS})

COLUMNS: dict[str, ColumnType] = {
    ID: "text",
    AS_OF: "date",
    "is_canceled": "int",
    **dict.fromkeys(INT_COLUMNS, "int"),
    **dict.fromkeys(TEXT_COLUMNS, "text"),
    **dict.fromkeys(FLOAT_COLUMNS, "float"),
    **{name: kind for name, kind in OUTCOME_COLUMNS.items() if name != "is_canceled"},
}
_NUMPY = {"int": np.float64, "text": object, "date": "datetime64[D]"}  # outcomes may be missing: NaN

# name -> values: numpy arrays, pandas Series or lists (a DataFrame is such a mapping)
Columns: TypeAlias = "Mapping[str, Any] | pd.DataFrame"


def column(bookings: Columns, name: str, dtype: Any) -> np.ndarray:
    """One column as a numpy array of ``dtype`` (missing: NaN for numbers, None otherwise)."""
    values = bookings[name]
    if hasattr(values, "to_numpy"):  # a pandas Series (a processed file read back)
        kind = np.dtype(dtype).kind
        missing = np.nan if kind == "f" else np.datetime64("NaT") if kind == "M" else None
        # pandas takes None as na_value; pandas-stubs' signature leaves it out.
        array: np.ndarray = values.to_numpy(dtype=dtype, na_value=missing)  # type: ignore[arg-type]
        return array
    return np.asarray(values, dtype=dtype)


def clean_country(value: str | None) -> str:
    if value is None:
        return UNKNOWN_COUNTRY
    return COUNTRY_ALIASES.get(value, value)


def clean_identifier(value: str | None) -> str:
    return NO_ID if value is None else str(value)


def clean_meal(value: str | None) -> str:
    return MEAL_ALIASES.get(str(value), str(value))


def transform(bookings: Columns) -> dict[str, np.ndarray]:
    """Clean validated bookings, column by column (one booking is a batch of one)."""
    out: dict[str, np.ndarray] = {}
    if ID in bookings:
        out[ID] = column(bookings, ID, object)
    if AS_OF in bookings:
        out[AS_OF] = column(bookings, AS_OF, "datetime64[D]")
    for name, kind in OUTCOME_COLUMNS.items():
        if name in bookings:
            out[name] = column(bookings, name, _NUMPY[kind])
    for name in INT_COLUMNS:
        values = column(bookings, name, np.float64)
        if name == "children":
            values = np.nan_to_num(values, nan=0.0)
        out[name] = values.astype(np.int64)
    for name in TEXT_COLUMNS:
        out[name] = column(bookings, name, object)
    out["meal"] = map_unique(out["meal"], clean_meal)
    out["country"] = map_unique(out["country"], clean_country)
    out["agent"] = map_unique(out["agent"], clean_identifier)
    out["company"] = map_unique(out["company"], clean_identifier)
    out["adr"] = column(bookings, "adr", np.float64)
    return {name: out[name] for name in COLUMNS if name in out}

"""The ``Booking`` and ``BatchRequest`` components of the API's OpenAPI schema.

The booking's JSON Schema is generated from ``data_engineering.src.schema.RAW_COLUMNS`` — the
spec the validator (``data_engineering.src.validate``) is generated from — and published as the
OpenAPI ``Booking`` component; the routes validate bodies with that validator, not with this
schema, and the two agree exactly (schemathesis and a property test hold them to it):

- numbers as JSON numbers in the spec's range (``9.0`` is a whole number), or as text in the
  field's ``text_pattern`` (what a CSV file holds: ``"9.0"``, ``" 12 "``, ``"NULL"`` where the
  field may be missing);
- text fields as strings: one of the categories, or matching the field's pattern;
- the arrival date must exist: ``if``/``then`` rules cap the day for April, June, September,
  November and February, and a 29 February needs a leap year.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_engineering.src import text_patterns
from data_engineering.src.arrays import is_missing
from data_engineering.src.schema import (
    AS_OF,
    BOOKING_FIELDS,
    BOOKING_ID,
    COLUMNS_BY_NAME,
    SCORING_FIELDS,
    Month,
)

MAX_BATCH = 10_000
OPTIONAL_FIELDS: frozenset[str] = frozenset(n for n in SCORING_FIELDS if COLUMNS_BY_NAME[n].nullable)
BOOKING_FIELD_SET: frozenset[str] = frozenset(SCORING_FIELDS)

_DESCRIPTIONS = {
    "lead_time": "days between booking and arrival",
    "children": "number of children (missing means 0)",
    "country": "ISO 3166-1 alpha-3 country of origin (alpha-2 CN is read as CHN); null if unknown",
    "agent": "id of the travel agency that made the booking; null for none",
    "company": "id of the company paying for the booking; null for none",
    "adr": "average daily rate (EUR)",
    "days_in_waiting_list": "days the booking waited before it was confirmed",
    BOOKING_ID: "the hotel's reservation id: echoed in the answer and logged, never a model input",
    AS_OF: (
        "the day (YYYY-MM-DD) to judge the booking as of, from its booking date (arrival minus lead_time) to "
        "the day before arrival: the answer is the probability it is cancelled after that day, given it is "
        "still on the books then. Default: the booking date. Another day is refused with 422 naming as_of."
    ),
}


def _number(low: float, high: float, *, whole: bool) -> dict[str, Any]:
    return {"type": "integer" if whole else "number", "minimum": low, "maximum": high}


def _number_or_text(low: int, high: int, *, whole: bool, nullable: bool = False) -> dict[str, Any]:
    text = {
        "type": "string",
        "pattern": text_patterns.anchored(
            text_patterns.number_text(low, high, whole=whole), nullable=nullable
        ),
    }
    variants: list[dict[str, Any]] = [_number(low, high, whole=whole), text]
    if nullable:
        variants.append({"type": "null"})
    return {"anyOf": variants}


def field_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one booking field."""
    column = COLUMNS_BY_NAME[name]
    whole = column.kind != "float"
    if column.kind in ("int", "float", "id"):
        high = int(column.max) if column.max is not None else 10**9
        out = _number_or_text(int(column.min or 0), high, whole=whole, nullable=column.nullable)
    else:
        text = {"type": "string", "pattern": text_patterns.text_pattern(name)}
        variants: list[dict[str, Any]] = [text]
        if column.categories is not None:
            variants.insert(0, {"type": "string", "enum": list(column.categories)})
        if column.nullable:
            variants.append({"type": "null"})
        out = {"anyOf": variants} if len(variants) > 1 else text
    description = _DESCRIPTIONS.get(name)
    return {"title": name, **({"description": description} if description else {}), **out}


def _month_is(months: Sequence[str]) -> dict[str, Any]:
    pattern = text_patterns.anchored("|".join(months))
    return {"properties": {"arrival_date_month": {"type": "string", "pattern": pattern}}}


def _day_at_most(last: int) -> dict[str, Any]:
    return {"properties": {"arrival_date_day_of_month": _number_or_text(1, last, whole=True)}}


def date_rules() -> list[dict[str, Any]]:
    """JSON Schema ``if``/``then`` for "the arrival date exists", generated from the calendar."""
    years = COLUMNS_BY_NAME["arrival_date_year"]
    low, high = int(years.min or 0), int(years.max or 9999)
    leap = [y for y in range(low, high + 1) if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)]
    thirty = [m.value for m in Month if m.value in ("April", "June", "September", "November")]
    february = [Month.FEBRUARY.value]
    leap_text = {
        "type": "string",
        "pattern": text_patterns.anchored(text_patterns.whole_number_text(f"(?:{'|'.join(map(str, leap))})")),
    }
    day_29_text = {"type": "string", "pattern": text_patterns.anchored(text_patterns.number_text(29, 29))}
    day_29 = {"properties": {"arrival_date_day_of_month": {"anyOf": [{"const": 29}, day_29_text]}}}
    return [
        {"if": _month_is(thirty), "then": _day_at_most(30)},
        {"if": _month_is(february), "then": _day_at_most(29)},
        {
            "if": {"allOf": [_month_is(february), day_29]},
            "then": {"properties": {"arrival_date_year": {"anyOf": [{"enum": leap}, leap_text]}}},
        },
    ]


def booking_schema() -> dict[str, Any]:
    """The ``Booking`` component: what one booking may look like in a request."""
    return {
        "title": "Booking",
        "description": (
            "One booking as the hotel knows it when it is made (the booking-time fields), optionally with the "
            "hotel's booking_id and the as_of day to judge it as of."
        ),
        "type": "object",
        "properties": {name: field_schema(name) for name in SCORING_FIELDS},
        "required": [name for name in BOOKING_FIELDS if name not in OPTIONAL_FIELDS],
        "additionalProperties": False,
        "allOf": date_rules(),
    }


def batch_schema() -> dict[str, Any]:
    return {
        "title": "BatchRequest",
        "type": "object",
        "properties": {
            "bookings": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Booking"},
                "maxItems": MAX_BATCH,
                "description": f"up to {MAX_BATCH:,} bookings, answered in the same order",
            }
        },
        "required": ["bookings"],
        "additionalProperties": False,
    }


def bookings_as_json(columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Validated bookings as a JSON client sends them: whole numbers as integers, missing as null.

    For the benchmark and tests, which replay real files through the API.
    """
    out: dict[str, list[Any]] = {}
    for name in BOOKING_FIELDS:
        kind = COLUMNS_BY_NAME[name].kind
        values = columns[name].tolist()
        if kind in ("int", "id"):  # numbers (NaN: missing) or id texts (None: missing)
            out[name] = [None if is_missing(v) else int(v) for v in values]
        else:
            out[name] = [None if is_missing(v) else v for v in values]
    return [dict(zip(BOOKING_FIELDS, row, strict=True)) for row in zip(*out.values(), strict=True)]

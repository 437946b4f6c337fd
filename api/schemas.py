"""Request and response models of the API.

The booking model is generated from ``data_engineering.src.schema.RAW_COLUMNS`` — the same spec
that validates the training data — so the API accepts exactly the categories, ranges and
patterns ingest accepts: a field added or a range changed there changes the API with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.fields import FieldInfo

# pydantic needs typing_extensions' TypedDict on Python < 3.12 (a dependency of pydantic).
from typing_extensions import TypedDict

from data_engineering.src import schema as spec
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME, MONTH_NUMBER, NULL_TOKENS

_ENUMS: tuple[type[StrEnum], ...] = (
    spec.Hotel,
    spec.Month,
    spec.Meal,
    spec.MarketSegment,
    spec.DistributionChannel,
    spec.RoomType,
    spec.DepositType,
    spec.CustomerType,
)
# Fields a booking may omit or send as null: nullable in the raw file (the hotel may not know
# them yet), or, for the week number, not a model input at all.
_OPTIONAL = {"children", "country", "agent", "company", "arrival_date_week_number"}
_ID_MAX = 999_999_999  # ID_PATTERN: up to nine digits

_DESCRIPTIONS = {
    "lead_time": "days between booking and arrival",
    "arrival_date_week_number": "ISO week of arrival (optional: not a model input)",
    "children": "number of children (missing means 0)",
    "country": "ISO 3166-1 alpha-3 country of origin (alpha-2 CN is read as CHN); null if unknown",
    "agent": "id of the travel agency that made the booking; null for none",
    "company": "id of the company paying for the booking; null for none",
    "adr": "average daily rate (EUR)",
    "days_in_waiting_list": "days the booking waited before it was confirmed",
}


def _enum_for(categories: tuple[str, ...]) -> type[StrEnum]:
    for enum in _ENUMS:
        if tuple(member.value for member in enum) == categories:
            return enum
    raise LookupError(f"no enum in data_engineering.src.schema has the categories {categories}")


def _field(name: str) -> tuple[Any, FieldInfo]:
    column = COLUMNS_BY_NAME[name]
    description = _DESCRIPTIONS.get(name)
    bounds = {"ge": column.min, "le": column.max}
    if column.kind == "category":
        annotation: Any = _enum_for(column.categories or ())
        bounds = {}
    elif column.kind == "int":
        annotation = int
    elif column.kind == "float":
        annotation = float
        bounds |= {"allow_inf_nan": False}
    elif column.pattern == spec.ID_PATTERN:
        # The raw file writes agent/company as digits; JSON clients send the id as a number.
        annotation, bounds = int, {"ge": 0, "le": _ID_MAX}
    else:
        annotation, bounds = str, {"pattern": column.pattern}
    bounds = {key: value for key, value in bounds.items() if value is not None}
    if name in _OPTIONAL:
        return annotation | None, Field(None, description=description, **bounds)
    return annotation, Field(description=description, **bounds)


def _booking_type() -> type:
    fields: dict[str, Any] = {}
    for name in BOOKING_FIELDS:
        annotation, info = _field(name)
        kind = Annotated[annotation, info]
        fields[name] = NotRequired[kind] if name in _OPTIONAL else kind
    booking = TypedDict("Booking", fields)  # type: ignore[operator]
    booking.__doc__ = "One booking as the hotel knows it when it is made (the booking-time fields)."
    # A TypedDict, not a BaseModel: validation then yields the plain dict the transformation and
    # the prediction log take, with no model instance per booking (10,000 bookings validate in
    # 51 ms instead of 73 ms). Enum members become their text for the same reason.
    booking.__pydantic_config__ = ConfigDict(extra="forbid", use_enum_values=True)  # type: ignore[attr-defined]
    return booking


Booking = _booking_type()
BOOKING_ADAPTER: TypeAdapter[dict[str, Any]] = TypeAdapter(Booking)
MAX_BATCH = 10_000


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bookings: Annotated[list[Booking], Field(max_length=MAX_BATCH)]  # type: ignore[valid-type]


BATCH_ADAPTER: TypeAdapter[BatchRequest] = TypeAdapter(BatchRequest)


def arrival_date_error(booking: dict[str, Any]) -> str | None:
    """Why the arrival date does not exist (31 April), or None when it does.

    Checked after field validation, on the plain dicts: the fields it combines are then known
    to be in range, and a per-booking Python validator inside pydantic would double its cost.
    """
    day = booking["arrival_date_day_of_month"]
    month = booking["arrival_date_month"]
    year = booking["arrival_date_year"]
    try:
        dt.date(year, MONTH_NUMBER[month], day)
    except ValueError:
        return f"arrival date does not exist ({day} {month} {year})"
    return None


class Reason(BaseModel):
    feature: str = Field(description="model feature (see GET /model)")
    text: str = Field(description="the reason in words, e.g. 'Non-refundable deposit raises the risk'")
    direction: Literal["raises", "lowers"]
    contribution: float = Field(description="change of the calibrated log-odds due to this feature")
    probability_change: float = Field(
        description="cancel_probability minus what it would be without this contribution"
    )


class Prediction(BaseModel):
    request_id: str
    cancel_probability: float = Field(ge=0, le=1)
    will_cancel: bool = Field(description="cancel_probability >= threshold")
    threshold: float
    model_version: str | None
    reasons: list[Reason] = Field(description="the strongest contributions, strongest first")


class BatchItem(BaseModel):
    request_id: str
    cancel_probability: float = Field(ge=0, le=1)
    will_cancel: bool
    reasons: list[Reason] | None = Field(None, description="present when ?reasons=true")


class BatchPrediction(BaseModel):
    model_version: str | None
    threshold: float
    count: int
    predictions: list[BatchItem] = Field(description="one per booking, in request order")


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    index: int | None = Field(None, description="position of the offending booking in a batch")
    field: str | None = Field(None, description="the offending booking field")


class ValidationErrorResponse(BaseModel):
    message: str
    detail: list[ErrorItem]


class Message(BaseModel):
    detail: str


class Health(BaseModel):
    status: Literal["ok"]


class LogStatus(BaseModel):
    enabled: bool
    queued: int
    written: int
    dropped: int
    failed_writes: int
    last_error: str | None


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    reasons: list[str] = Field(description="why the service is not ready (empty when ready)")
    model_version: str | None
    database_reachable: bool | None = Field(description="null when the prediction log is off")
    prediction_log: LogStatus


class ModelInfo(BaseModel):
    name: str | None
    version: str | None
    aliases: list[str]
    uri: str
    run_id: str | None
    trained_at: str | None
    algorithm: str | None
    transformation: str
    n_trees: int | None
    validation_window: dict[str, Any]
    validation_metrics: dict[str, float]
    threshold: float
    calibration: list[float]
    features: list[str]
    numeric_features: list[str]
    categorical_features: list[str]
    loaded_at: str


class ReloadResult(BaseModel):
    previous_version: str | None
    model_version: str | None
    changed: bool
    model: ModelInfo


def booking_from_raw(row: Mapping[str, Any]) -> dict[str, Any]:
    """A booking as JSON clients send it, from a row of the raw CSV (every field text).

    For the benchmark and tests, which replay the real file through the API: numbers become
    numbers, the file's null tokens (``NULL``, ``NA``) become null.
    """
    booking: dict[str, Any] = {}
    for name in BOOKING_FIELDS:
        text = str(row[name]).strip()
        column = COLUMNS_BY_NAME[name]
        if text in NULL_TOKENS:
            booking[name] = None
        elif column.kind == "int" or column.pattern == spec.ID_PATTERN:
            booking[name] = int(float(text))
        elif column.kind == "float":
            booking[name] = float(text)
        else:
            booking[name] = text
    return booking

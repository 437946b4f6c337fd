"""The raw booking columns: one declarative spec from which the validation schema is built.

The enums here are the platform's vocabulary: the pandera schema, the transformations, the API's
request model and the dashboard's what-if form all use them, so a category allowed in one place
is allowed everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # pandas/pandera load lazily: ingest needs only the column names, and fast
    import pandas as pd
    import pandera.pandas as pa


class Hotel(StrEnum):
    CITY = "City Hotel"
    RESORT = "Resort Hotel"


class Month(StrEnum):
    JANUARY = "January"
    FEBRUARY = "February"
    MARCH = "March"
    APRIL = "April"
    MAY = "May"
    JUNE = "June"
    JULY = "July"
    AUGUST = "August"
    SEPTEMBER = "September"
    OCTOBER = "October"
    NOVEMBER = "November"
    DECEMBER = "December"


MONTH_NUMBER = {month.value: number for number, month in enumerate(Month, start=1)}


class Meal(StrEnum):
    BB = "BB"
    HB = "HB"
    FB = "FB"
    SC = "SC"
    UNDEFINED = "Undefined"


class MarketSegment(StrEnum):
    ONLINE_TA = "Online TA"
    OFFLINE_TA_TO = "Offline TA/TO"
    GROUPS = "Groups"
    DIRECT = "Direct"
    CORPORATE = "Corporate"
    COMPLEMENTARY = "Complementary"
    AVIATION = "Aviation"
    UNDEFINED = "Undefined"


class DistributionChannel(StrEnum):
    TA_TO = "TA/TO"
    DIRECT = "Direct"
    CORPORATE = "Corporate"
    GDS = "GDS"
    UNDEFINED = "Undefined"


class RoomType(StrEnum):
    """Room type codes (the hotels anonymise them as letters)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the dataset's own code
    K = "K"
    L = "L"
    P = "P"


class DepositType(StrEnum):
    NO_DEPOSIT = "No Deposit"
    NON_REFUND = "Non Refund"
    REFUNDABLE = "Refundable"


class CustomerType(StrEnum):
    TRANSIENT = "Transient"
    TRANSIENT_PARTY = "Transient-Party"
    CONTRACT = "Contract"
    GROUP = "Group"


class ReservationStatus(StrEnum):
    CANCELED = "Canceled"
    CHECK_OUT = "Check-Out"
    NO_SHOW = "No-Show"


Kind = Literal["int", "float", "category", "text", "date"]
# booking: known when the booking is made (model inputs); target: is_canceled;
# outcome: the outcome itself; post_booking: recorded after the booking was made.
Role = Literal["booking", "target", "outcome", "post_booking"]

COUNTRY_PATTERN = r"^[A-Z]{2,3}$"
ID_PATTERN = r"^[0-9]{1,9}$"


@dataclass(frozen=True)
class RawColumn:
    name: str
    kind: Kind
    role: Role = "booking"
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    pattern: str | None = None


def _enum(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


RAW_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn("hotel", "category", categories=_enum(Hotel)),
    RawColumn("is_canceled", "int", role="target", min=0, max=1),
    RawColumn("lead_time", "int", min=0, max=1000),
    RawColumn("arrival_date_year", "int", min=2000, max=2100),
    RawColumn("arrival_date_month", "category", categories=_enum(Month)),
    RawColumn("arrival_date_week_number", "int", min=1, max=53),
    RawColumn("arrival_date_day_of_month", "int", min=1, max=31),
    RawColumn("stays_in_weekend_nights", "int", min=0, max=100),
    RawColumn("stays_in_week_nights", "int", min=0, max=300),
    RawColumn("adults", "int", min=0, max=100),
    RawColumn("children", "int", nullable=True, min=0, max=20),
    RawColumn("babies", "int", min=0, max=20),
    RawColumn("meal", "category", categories=_enum(Meal)),
    RawColumn("country", "text", nullable=True, pattern=COUNTRY_PATTERN),
    RawColumn("market_segment", "category", categories=_enum(MarketSegment)),
    RawColumn("distribution_channel", "category", categories=_enum(DistributionChannel)),
    RawColumn("is_repeated_guest", "int", min=0, max=1),
    RawColumn("previous_cancellations", "int", min=0, max=100),
    RawColumn("previous_bookings_not_canceled", "int", min=0, max=500),
    RawColumn("reserved_room_type", "category", categories=_enum(RoomType)),
    RawColumn("assigned_room_type", "category", role="post_booking", categories=_enum(RoomType)),
    RawColumn("booking_changes", "int", role="post_booking", min=0, max=100),
    RawColumn("deposit_type", "category", categories=_enum(DepositType)),
    RawColumn("agent", "text", nullable=True, pattern=ID_PATTERN),
    RawColumn("company", "text", nullable=True, pattern=ID_PATTERN),
    RawColumn("days_in_waiting_list", "int", min=0, max=1000),
    RawColumn("customer_type", "category", categories=_enum(CustomerType)),
    RawColumn("adr", "float", min=0, max=10_000),
    RawColumn("required_car_parking_spaces", "int", min=0, max=10),
    RawColumn("total_of_special_requests", "int", min=0, max=10),
    RawColumn("reservation_status", "category", role="outcome", categories=_enum(ReservationStatus)),
    RawColumn("reservation_status_date", "date", role="outcome"),
)

RAW_COLUMN_NAMES: tuple[str, ...] = tuple(col.name for col in RAW_COLUMNS)
COLUMNS_BY_NAME = {col.name: col for col in RAW_COLUMNS}
TARGET = "is_canceled"
BOOKING_FIELDS: tuple[str, ...] = tuple(col.name for col in RAW_COLUMNS if col.role == "booking")
# Never model inputs: the outcome itself, or facts recorded after the booking was made.
LEAKY_COLUMNS: tuple[str, ...] = tuple(
    col.name for col in RAW_COLUMNS if col.role in ("outcome", "post_booking")
)
# Columns a scoring input may carry or omit (they are ignored when present).
NON_BOOKING_COLUMNS: tuple[str, ...] = (TARGET, *LEAKY_COLUMNS)
# Raw tokens that mean "no value" in the published files.
NULL_TOKENS = frozenset({"", "NULL", "NA", "N/A", "NaN", "nan", "null"})
# Hotels' systems sometimes write ISO alpha-2 where alpha-3 is expected.
COUNTRY_ALIASES = {"CN": "CHN"}


class ColumnsError(ValueError):
    """The file's header does not match the dataset's columns."""

    def __init__(self, missing: list[str], unexpected: list[str]):
        self.missing = missing
        self.unexpected = unexpected
        parts = []
        if missing:
            parts.append(f"missing column(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected column(s): {', '.join(unexpected)}")
        super().__init__("; ".join(parts))


def check_columns(columns: list[str], *, scoring: bool = False) -> tuple[str, ...]:
    """Return the dataset columns present, or raise ColumnsError naming every problem.

    Training data needs exactly the dataset's columns. Scoring input may omit the target and the
    outcome/post-booking columns, and may carry columns of its own (a hotel's booking reference),
    which scoring ignores and passes through.
    """
    present = set(columns)
    required = [c for c in RAW_COLUMN_NAMES if not (scoring and c in NON_BOOKING_COLUMNS)]
    missing = [c for c in required if c not in present]
    unexpected = [] if scoring else [c for c in columns if c not in COLUMNS_BY_NAME]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if missing or unexpected or duplicated:
        raise ColumnsError(missing, unexpected + [f"{c} (repeated)" for c in duplicated])
    return tuple(c for c in RAW_COLUMN_NAMES if c in present)


def _column_checks(col: RawColumn) -> list[pa.Check]:
    import pandera.pandas as pa

    checks: list[pa.Check] = []
    if col.min is not None:
        checks.append(pa.Check.ge(col.min, error=f"must be >= {col.min:g}"))
    if col.max is not None:
        checks.append(pa.Check.le(col.max, error=f"must be <= {col.max:g}"))
    if col.categories is not None:
        shown = ", ".join(col.categories)
        checks.append(pa.Check.isin(col.categories, error=f"must be one of: {shown}"))
    if col.pattern is not None:
        checks.append(pa.Check.str_matches(col.pattern, error=f"must match {col.pattern}"))
    return checks


_PANDAS_DTYPE = {
    "int": "Int64",
    "float": "Float64",
    "category": "str",
    "text": "str",
    "date": "datetime64[s]",
}


def _arrival_date_exists(frame: pd.DataFrame) -> pd.Series:
    """Year, month name and day of month must form a real calendar date (no 31 April)."""
    import pandas as pd

    month = frame["arrival_date_month"].map(MONTH_NUMBER)
    dates = pd.to_datetime(
        {"year": frame["arrival_date_year"], "month": month, "day": frame["arrival_date_day_of_month"]},
        errors="coerce",
    )
    # Rows whose parts already failed their own checks are reported there, not twice.
    parts_missing = month.isna() | frame["arrival_date_year"].isna()
    return dates.notna() | parts_missing


def _status_agrees_with_target(frame: pd.DataFrame) -> pd.Series:
    """is_canceled is 1 exactly for Canceled and No-Show reservations."""
    status = frame["reservation_status"]
    expected = status.isin([ReservationStatus.CANCELED, ReservationStatus.NO_SHOW]).astype("Int64")
    return status.isna() | frame["is_canceled"].isna() | (frame["is_canceled"] == expected)


@functools.cache  # one schema per column set: building it costs more than validating a few rows
def build_schema(columns: tuple[str, ...]) -> pa.DataFrameSchema:
    """Pandera schema for the given raw columns, after they were parsed to their types."""
    import pandera.pandas as pa

    checks = []
    if {"arrival_date_year", "arrival_date_month", "arrival_date_day_of_month"} <= set(columns):
        checks.append(pa.Check(_arrival_date_exists, error="arrival date does not exist"))
    if {"is_canceled", "reservation_status"} <= set(columns):
        checks.append(
            pa.Check(
                _status_agrees_with_target,
                error="is_canceled disagrees with reservation_status",
            )
        )
    return pa.DataFrameSchema(
        {
            name: pa.Column(
                _PANDAS_DTYPE[COLUMNS_BY_NAME[name].kind],
                checks=_column_checks(COLUMNS_BY_NAME[name]),
                nullable=COLUMNS_BY_NAME[name].nullable,
            )
            for name in columns
        },
        checks=checks,
        strict=True,
        ordered=False,
    )

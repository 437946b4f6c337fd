"""The raw booking columns: one declarative spec from which every check is generated.

The validator (``validate.py``), the API's request schema, the MLflow signature and the
dashboard's what-if form are all generated from ``RAW_COLUMNS``, so a category allowed in one
place is allowed everywhere.

The categories themselves — hotels, room types, meal plans, market segments, channels, customer
and deposit types — are data, not code: ``data_engineering/vocabulary.yaml`` holds the public
dataset's; a hotel group points ``HOTEL_VOCABULARY`` at a file of its own, derived from its
export with ``./cli.sh vocabulary FILE --write PATH``. Months and reservation statuses are the
calendar's and the dataset's fixed meanings and stay enums here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml

from data_engineering.src.settings import VocabularySettings, env_name, repo_path
from data_engineering.src.yaml_file import read_yaml

# The default vocabulary sits beside this package (and travels with the MLflow model's code).
VOCABULARY_FILE = repo_path(VocabularySettings.model_fields["vocabulary"].default)
VOCABULARY_ENV = env_name(VocabularySettings, "vocabulary")
# Vocabulary -> the columns whose values it lists.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "hotel": ("hotel",),
    "meal": ("meal",),
    "market_segment": ("market_segment",),
    "distribution_channel": ("distribution_channel",),
    "room_type": ("reserved_room_type", "assigned_room_type"),
    "deposit_type": ("deposit_type",),
    "customer_type": ("customer_type",),
}


class VocabularyFileError(ValueError):
    """The vocabulary file is missing, not YAML, or lacks a list of categories."""


def vocabulary_file() -> Path:
    """``HOTEL_VOCABULARY`` (relative paths from the repository root), else the default file."""
    return VocabularySettings().vocabulary


def vocabulary_in_use() -> str:
    """The vocabulary file the column spec reads, and why that one (for messages)."""
    path = vocabulary_file()
    if path == VOCABULARY_FILE:
        return f"{path.relative_to(VOCABULARY_FILE.parents[1])} (the default: the public dataset's)"
    return f"{path} (from {VOCABULARY_ENV})"


def load_vocabulary(path: Path) -> dict[str, tuple[str, ...]]:
    """Each vocabulary's categories, checked: a list of distinct, non-empty texts."""
    document = read_yaml(path, "the vocabulary file", VocabularyFileError)
    if not isinstance(document, dict):
        raise VocabularyFileError(f"the vocabulary file {path} must map each vocabulary to a list")
    missing = [name for name in VOCABULARIES if name not in document]
    unknown = [name for name in document if name not in VOCABULARIES]
    if missing or unknown:
        problems = [f"missing: {', '.join(missing)}"] * bool(missing) + [
            f"unknown: {', '.join(map(str, unknown))}"
        ] * bool(unknown)
        raise VocabularyFileError(f"the vocabulary file {path}: {'; '.join(problems)}")
    out = {}
    for name in VOCABULARIES:
        values = document[name]
        if not isinstance(values, list) or not values:
            raise VocabularyFileError(f"the vocabulary file {path}: {name} must be a non-empty list")
        # YAML reads 007 as 7, 1.10 as 1.1 and Yes as true: only quoted text is taken as written.
        typed = [v for v in values if not isinstance(v, str)]
        if typed:
            raise VocabularyFileError(
                f"the vocabulary file {path}: {name} has {typed[0]!r}, which YAML read as "
                f"{type(typed[0]).__name__}, not text: quote it as it appears in the bookings"
            )
        texts = [v.strip() for v in values]
        if any(not t for t in texts) or len(set(texts)) != len(texts):
            raise VocabularyFileError(f"the vocabulary file {path}: {name} has empty or repeated values")
        out[name] = tuple(texts)
    return out


def dump_vocabulary(vocabulary: Mapping[str, Sequence[str]], header: Sequence[str]) -> str:
    """The vocabulary file: ``header`` as comment lines, then ``name: [value, ...]`` per vocabulary,
    values sorted, one line each (quoted where YAML would read them as anything but that text)."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header)
    body = {name: sorted(vocabulary[name]) for name in VOCABULARIES}
    return comment + yaml.safe_dump(
        body, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1 << 20
    )


VOCABULARY = load_vocabulary(vocabulary_file())


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


class ReservationStatus(StrEnum):
    CANCELED = "Canceled"
    CHECK_OUT = "Check-Out"
    NO_SHOW = "No-Show"


# int/float: numbers; id: a whole number naming something (agent, company), cleaned to its text;
# category: one of a closed list; text: free text matching a pattern; date: YYYY-MM-DD.
Kind = Literal["int", "float", "id", "category", "text", "date"]
# booking: known when the booking is made (model inputs); target: is_canceled;
# outcome: the outcome itself; post_booking: recorded after the booking was made;
# key: the hotel's reservation id; question: the date a booking is scored as of.
Role = Literal["booking", "target", "outcome", "post_booking", "key", "question"]

COUNTRY_PATTERN = r"^[A-Z]{2,3}$"
# A hotel system's reservation id: letters, digits and a few separators, starting with a letter or
# a digit (so that no id can start a spreadsheet formula), at most 64 characters.
BOOKING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,63}$"
ID_MAX = 999_999_999  # ids have at most nine digits


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


_V = VOCABULARY


RAW_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn("hotel", "category", categories=_V["hotel"]),
    # The outcome columns may be empty (or absent): a booking still on the books has no outcome yet.
    RawColumn("is_canceled", "int", role="target", nullable=True, min=0, max=1),
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
    RawColumn("meal", "category", categories=_V["meal"]),
    RawColumn("country", "text", nullable=True, pattern=COUNTRY_PATTERN),
    RawColumn("market_segment", "category", categories=_V["market_segment"]),
    RawColumn("distribution_channel", "category", categories=_V["distribution_channel"]),
    RawColumn("is_repeated_guest", "int", min=0, max=1),
    RawColumn("previous_cancellations", "int", min=0, max=100),
    RawColumn("previous_bookings_not_canceled", "int", min=0, max=500),
    RawColumn("reserved_room_type", "category", categories=_V["room_type"]),
    RawColumn(
        "assigned_room_type", "category", role="post_booking", nullable=True, categories=_V["room_type"]
    ),
    RawColumn("booking_changes", "int", role="post_booking", nullable=True, min=0, max=100),
    RawColumn("deposit_type", "category", categories=_V["deposit_type"]),
    RawColumn("agent", "id", nullable=True, min=0, max=ID_MAX),
    RawColumn("company", "id", nullable=True, min=0, max=ID_MAX),
    RawColumn("days_in_waiting_list", "int", min=0, max=1000),
    RawColumn("customer_type", "category", categories=_V["customer_type"]),
    RawColumn("adr", "float", min=0, max=10_000),
    RawColumn("required_car_parking_spaces", "int", min=0, max=10),
    RawColumn("total_of_special_requests", "int", min=0, max=10),
    RawColumn(
        "reservation_status", "category", role="outcome", nullable=True, categories=_enum(ReservationStatus)
    ),
    RawColumn("reservation_status_date", "date", role="outcome", nullable=True),
)
BOOKING_ID = "booking_id"
AS_OF = "as_of"
# Not columns of the public dataset: a hotel's export may carry its reservation id (the key a
# re-export updates, echoed with every answer, never a feature), and a scoring request may say
# which day the booking is to be judged as of (default: its booking date).
EXTRA_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn(BOOKING_ID, "text", role="key", nullable=True, pattern=BOOKING_ID_PATTERN),
    RawColumn(AS_OF, "date", role="question", nullable=True),
)

RAW_COLUMN_NAMES: tuple[str, ...] = tuple(col.name for col in RAW_COLUMNS)
COLUMNS_BY_NAME = {col.name: col for col in (*RAW_COLUMNS, *EXTRA_COLUMNS)}
TARGET = "is_canceled"
BOOKING_FIELDS: tuple[str, ...] = tuple(col.name for col in RAW_COLUMNS if col.role == "booking")
# What a scoring request (an API body, a predict-batch row, the pyfunc's frame) may say of a booking.
SCORING_FIELDS: tuple[str, ...] = (*BOOKING_FIELDS, BOOKING_ID, AS_OF)
# What a file of bookings to load may hold: the dataset's columns and the hotel's reservation id.
LOAD_COLUMNS: tuple[str, ...] = (*RAW_COLUMN_NAMES, BOOKING_ID)
# Never model inputs: the outcome itself, or facts recorded after the booking was made.
LEAKY_COLUMNS: tuple[str, ...] = tuple(
    col.name for col in RAW_COLUMNS if col.role in ("outcome", "post_booking")
)
# The outcome and post-booking columns: a file may carry them (a historical replay) or not (bookings
# still on the books).
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
    """Return the spec's columns present (in spec order), or raise ColumnsError naming every problem.

    Every file needs the booking fields. The outcome and post-booking columns may be absent (or
    empty: bookings still on the books), and so may the hotel's reservation id. A file to load
    holds nothing else; scoring input may also say ``as_of``, and may carry columns of its own,
    which scoring passes through.
    """
    present = set(columns)
    missing = [c for c in BOOKING_FIELDS if c not in present]
    allowed = set(SCORING_FIELDS) | set(NON_BOOKING_COLUMNS) if scoring else set(LOAD_COLUMNS)
    unexpected = [] if scoring else [c for c in columns if c not in allowed]
    counts = Counter(columns)  # linear: a header of many columns is checked in one pass
    duplicated = sorted(c for c, n in counts.items() if n > 1)
    if missing or unexpected or duplicated:
        raise ColumnsError(missing, unexpected + [f"{c} (repeated)" for c in duplicated])
    return tuple(c for c in COLUMNS_BY_NAME if c in present and c in allowed)

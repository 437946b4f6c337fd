"""The one booking validator, generated from the column spec and used at every edge.

Ingest and ``initialize-data`` (CSV text), ``predict-batch`` (CSV text, streamed), ``score-db``
(the database's raw text), the API (JSON values) and the MLflow pyfunc (a pandas DataFrame) all
call ``validate``: they accept and refuse exactly the same bookings, with the same reasons.

Every field is first read into one form, whatever it came as:

- text (a CSV field, a JSON string): whitespace stripped; ``NULL``, ``NA``, empty... mean "no
  value"; ``parse_token`` is the only place text becomes a number, so ``"9.0"`` is 9 everywhere;
- JSON numbers and numeric DataFrame columns are taken as they are (``9.0`` is 9);
- booleans, lists and objects are refused: ``true`` is not a count of special requests, and a
  number is not a room type.

Then the spec's rules run: whole numbers, ranges, categories, patterns and missing values, all
numeric columns at once on one matrix (a booking is a row of it, so a single booking costs
about what a thousand do), and two row rules: the arrival date exists, and ``is_canceled``
agrees with ``reservation_status``. A row with any failure is rejected with all of its reasons;
the others come out typed: numbers as float64 (NaN = missing), ids as their canonical text
(``"009"``, ``9`` and ``"9.0"`` are ``"9"``), categories and text as str (None = missing), dates
as ``datetime64[D]``.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_engineering.src.arrays import SMALL, gather, is_missing, map_unique, object_array
from data_engineering.src.dates import arrival_dates, booking_dates, last_day_of_month
from data_engineering.src.schema import (
    AS_OF,
    COLUMNS_BY_NAME,
    MONTH_NUMBER,
    NULL_TOKENS,
    RawColumn,
    ReservationStatus,
    text_pattern,
)

ID_COLUMN = "booking_id"
LINE_COLUMN = "source_line"
REASONS_COLUMN = "rejection_reasons"

# A decimal number as hotels' systems write it: 9, 9.0, -2, .5, 1e3 (no "inf", "nan", "1_000").
NUMBER_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER_PATTERN)
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CANCELLED = (ReservationStatus.CANCELED.value, ReservationStatus.NO_SHOW.value)
NUMERIC_KINDS = ("int", "float", "id")

# Failure codes of one field (0: fine). Every reason a field can fail for is here.
(
    OK,
    WRONG_TYPE,
    NOT_A_NUMBER,
    NOT_WHOLE,
    TOO_LOW,
    TOO_HIGH,
    MISSING,
    NOT_TEXT,
    UNKNOWN,
    MISMATCH,
    NOT_DATE,
    NOT_PLAIN,
) = range(12)

ColumnInput: TypeAlias = pa.Array | pa.ChunkedArray | np.ndarray | Sequence[Any]


class Problem(NamedTuple):
    field: str  # the field to fix (for a row rule: the one a client is told to change)
    message: str  # "must be >= 0 (got -2)"; for a row rule the whole reason
    row_rule: bool = False
    unknown: str | None = None  # the text, when it is not one of the field's categories

    def __str__(self) -> str:
        return self.message if self.row_rule else f"{self.field}: {self.message}"


@dataclass
class Validated:
    """The outcome of one ``validate`` call: ``len(accepted) + len(rejected)`` rows in."""

    columns: dict[str, np.ndarray]  # typed values of the accepted rows, in input order
    accepted: np.ndarray  # positions (in the input) of the accepted rows
    rejected: np.ndarray  # positions of the rejected rows
    reasons: list[str]  # why, one "; "-joined string per rejected row
    reason_counts: Counter[str] = field(default_factory=Counter)
    # The same, structured: per rejected row, each problem.
    details: list[list[Problem]] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.rejected)


def reason_key(reason: str) -> str:
    """A reason without the offending value, for counting (``adults: must be >= 0``)."""
    return reason.split(" (got ", 1)[0]


# ------------------------------------------------------------------------------------- reading
def parse_token(text: str) -> tuple[str | None, float]:
    """One field's text: (stripped text, or None for a null token; its number, or NaN).

    The only place text becomes a number, whether it came from a CSV file, the database or a
    JSON string. Whether the field *accepts* the text is ``schema.text_pattern``'s business.
    """
    stripped = text.strip(" \t")
    if stripped in NULL_TOKENS:
        return None, math.nan
    return stripped, float(stripped) if _NUMBER.fullmatch(stripped) else math.nan


@dataclass
class _Values:
    """One column split by what each row holds: a number, a text, nothing, or something else."""

    numbers: np.ndarray  # float64: the value of rows that hold a number (JSON, DataFrame), else NaN
    tokens: list[str | None]  # the distinct texts (None for rows without one)
    codes: np.ndarray | None  # each row's index in ``tokens`` (None: row i is ``tokens[i]``)
    null: np.ndarray  # bool: None, NaN, NA...
    wrong_type: np.ndarray  # bool: a boolean, list, object...


def _split_values(values: list[Any]) -> _Values:
    """JSON-like Python values (the API's bookings, an object column of a DataFrame)."""
    n = len(values)
    kinds = set(map(type, values))
    if kinds <= {int, float, type(None)}:  # numbers (None -> NaN): no Python loop
        numbers = np.array(values, dtype=np.float64)
        return _Values(numbers, [None] * n, None, np.isnan(numbers), np.zeros(n, dtype=bool))
    if kinds <= {str, type(None)}:
        null = np.fromiter((v is None for v in values), dtype=bool, count=n)
        if n <= SMALL:
            return _Values(np.full(n, np.nan), values, None, null, np.zeros(n, dtype=bool))
        codes, uniques = pd.factorize(object_array(values), use_na_sentinel=False)
        tokens: list[str | None] = [None if is_missing(u) else u for u in uniques]
        return _Values(np.full(n, np.nan), tokens, codes, null, np.zeros(n, dtype=bool))
    numbers = np.full(n, np.nan)
    tokens = [None] * n
    null = np.zeros(n, dtype=bool)
    wrong_type = np.zeros(n, dtype=bool)
    for i, value in enumerate(values):
        if isinstance(value, bool | np.bool_):
            wrong_type[i] = True
        elif is_missing(value):
            null[i] = True
        elif isinstance(value, int | float | np.integer | np.floating):
            numbers[i] = value
        elif isinstance(value, str):
            tokens[i] = value
        else:
            wrong_type[i] = True
    return _Values(numbers, tokens, None, null, wrong_type)


def _split(values: ColumnInput) -> _Values:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        kind = values.type.value_type if pa.types.is_dictionary(values.type) else values.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            # CSV or database text: pyarrow's dictionary encoding gives the distinct values.
            encoded = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
            tokens = encoded.dictionary.cast(pa.string()).to_pylist()
            codes = pc.fill_null(encoded.indices, len(tokens)).to_numpy(zero_copy_only=False)
            n = len(values)
            null = codes == len(tokens)
            return _Values(np.full(n, np.nan), [*tokens, None], codes, null, np.zeros(n, dtype=bool))
        values = values.to_numpy(zero_copy_only=False)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        numbers = values.astype(np.float64)
        n = len(numbers)
        return _Values(numbers, [None] * n, None, np.isnan(numbers), np.zeros(n, dtype=bool))
    if isinstance(values, np.ndarray):
        values = values.tolist()  # booleans, text and objects: value by value
    return _split_values(list(values))


def _per_token(values: _Values, fn: Any, width: int) -> list[np.ndarray]:
    """``fn(token)`` (a tuple of ``width`` results) gathered to the rows: once per distinct token."""
    results = [fn(token) for token in values.tokens]
    return [gather(np.array([r[k] for r in results]), values.codes) for k in range(width)]


@functools.cache
def _accepted_text(name: str) -> re.Pattern[str]:
    return re.compile(text_pattern(name))


def _read_numbers(spec: RawColumn, values: _Values) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, missing, wrong type, written unplainly) of a numeric field."""
    pattern = _accepted_text(spec.name)

    def token(text: str | None) -> tuple[float, bool, bool]:
        if text is None:
            return math.nan, False, False
        stripped, number = parse_token(text)
        return number, stripped is None, not pattern.fullmatch(text)

    parsed, token_null, unplain = _per_token(values, token, 3)
    has_token = ~values.null & np.isnan(values.numbers) & ~values.wrong_type
    numbers = np.where(has_token, parsed, values.numbers)
    missing = values.null | (has_token & token_null)
    return numbers, missing, values.wrong_type, has_token & unplain & ~token_null


# ------------------------------------------------------------------------------------- rules
@dataclass(frozen=True)
class _NumericBlock:
    """The spec's rules for a set of numeric columns, as vectors: one operation checks them all."""

    names: tuple[str, ...]
    whole: np.ndarray  # bool per column: int or id
    low: np.ndarray  # minimum per column (-inf: none)
    high: np.ndarray  # maximum per column (inf: none)
    nullable: np.ndarray

    @classmethod
    @functools.cache
    def of(cls, names: tuple[str, ...]) -> _NumericBlock:
        specs = [COLUMNS_BY_NAME[n] for n in names]
        return cls(
            tuple(names),
            np.array([s.kind in ("int", "id") for s in specs], dtype=bool),
            np.array([-math.inf if s.min is None else s.min for s in specs]),
            np.array([math.inf if s.max is None else s.max for s in specs]),
            np.array([s.nullable for s in specs], dtype=bool),
        )

    def check(
        self, numbers: np.ndarray, missing: np.ndarray, wrong: np.ndarray, unplain: np.ndarray
    ) -> np.ndarray:
        """Failure codes (n, k) of a matrix of numbers; NaN where a row has no number."""
        status = np.zeros(numbers.shape, dtype=np.int8)
        status[unplain] = NOT_PLAIN  # a sign, an exponent: refused even where the value is fine
        status[~missing & ~np.isfinite(numbers)] = NOT_A_NUMBER
        status[numbers < self.low] = TOO_LOW  # NaN compares false: no number, no range failure
        status[numbers > self.high] = TOO_HIGH
        status[(np.floor(numbers) != numbers) & self.whole & np.isfinite(numbers)] = NOT_WHOLE
        status[missing & ~self.nullable] = MISSING
        status[wrong] = WRONG_TYPE
        return status

    def reason(self, column: int, code: int) -> str:
        spec = COLUMNS_BY_NAME[self.names[column]]
        if code == TOO_LOW:
            return f"must be >= {spec.min:g}"
        if code == TOO_HIGH:
            return f"must be <= {spec.max:g}"
        return _REASONS[code]


_REASONS = {
    WRONG_TYPE: "must be a number",
    NOT_A_NUMBER: "not a number",
    NOT_WHOLE: "not a whole number",
    MISSING: "missing value",
    NOT_TEXT: "must be text",
    NOT_DATE: "not a date (YYYY-MM-DD)",
    NOT_PLAIN: "write it plainly: digits and a decimal point, no sign or exponent, at most 10 spaces around",
}


def _parse_date(text: str) -> tuple[dt.date | None, int]:
    if _DATE.fullmatch(text):
        try:
            return dt.date.fromisoformat(text), OK
        except ValueError:
            pass
    return None, NOT_DATE


@functools.cache
def _text_rule(spec: RawColumn) -> Callable[[str | None], tuple[Any, int]]:
    """(value, code) of one text token under the spec's rules for ``spec``; None: no text."""
    accepted = _accepted_text(spec.name)
    allowed = frozenset(spec.categories) if spec.categories is not None else None
    pattern = re.compile(spec.pattern) if spec.pattern is not None else None

    def rule(token: str | None) -> tuple[Any, int]:
        if token is None:
            return None, OK  # rows without text are sorted out by the caller
        text, _ = parse_token(token)
        if text is None:
            return None, (OK if spec.nullable else MISSING)
        code = OK
        if allowed is not None and text not in allowed:
            code = UNKNOWN
        elif pattern is not None and not pattern.fullmatch(text):
            code = MISMATCH
        elif not accepted.fullmatch(token):
            code = NOT_DATE if spec.kind == "date" else NOT_PLAIN
        elif spec.kind == "date":
            return _parse_date(text)
        return (text if code == OK else None), code

    return rule


def _check_text_values(spec: RawColumn, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``_check_text`` for a handful of JSON values, value by value: the same rules, no arrays
    to build per column (one booking in the API costs a few microseconds here, not a hundred)."""
    rule = _text_rule(spec)
    typed, codes = [], []
    for given in values:
        if isinstance(given, str):
            value, code = rule(given)
        elif given is None or (not isinstance(given, bool) and is_missing(given)):
            value, code = None, OK if spec.nullable else MISSING
        else:  # booleans, numbers, lists: a text field takes text
            value, code = None, NOT_TEXT
        typed.append(value)
        codes.append(code)
    out = object_array(typed)
    if spec.kind == "date":
        out = np.array([v or np.datetime64("NaT") for v in typed], dtype="datetime64[D]")
    return out, np.array(codes, dtype=np.int8)


def _check_text(spec: RawColumn, values: _Values) -> tuple[np.ndarray, np.ndarray]:
    """Typed values and failure codes of one text column (the rule runs once per distinct text)."""
    rule = _text_rule(spec)
    pairs = [rule(token) for token in values.tokens]
    status = gather(np.array([code for _, code in pairs], dtype=np.int8), values.codes)
    if spec.kind == "date":
        table = np.array([value or np.datetime64("NaT") for value, _ in pairs], dtype="datetime64[D]")
    else:
        table = object_array([value for value, _ in pairs])
    typed = gather(table, values.codes)
    status = status.copy()
    if not spec.nullable:
        status[values.null] = MISSING
    # Text fields take text: a JSON number where a room type or a country is expected is refused.
    status[values.wrong_type | ~np.isnan(values.numbers)] = NOT_TEXT
    return typed, status


def _check_text_column(spec: RawColumn, values: ColumnInput, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, list) and n <= SMALL:
        return _check_text_values(spec, values)
    return _check_text(spec, _split(values))


def _text_reason(spec: RawColumn, code: int) -> str:
    if code == UNKNOWN:
        return f"must be one of: {', '.join(spec.categories or ())}"
    if code == MISMATCH:
        return f"must match {spec.pattern}"
    if code == NOT_PLAIN:
        return "at most 10 spaces or tabs around the text"
    return _REASONS[code]


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
    return map_unique(status, lambda s: s in _CANCELLED, bool)


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


def _numbers_of_records(columns: Mapping[str, ColumnInput], names: Sequence[str]) -> np.ndarray | None:
    """The numeric columns as one matrix when every value is a plain number or None (JSON)."""
    lists = [columns[name] for name in names]
    if not lists or not all(isinstance(values, list) for values in lists):
        return None
    kinds = {type(value) for values in lists for value in values}
    if not kinds <= {int, float, type(None)}:
        return None
    return np.array(lists, dtype=np.float64).T  # None -> NaN


def _numeric_matrix(
    columns: Mapping[str, ColumnInput], numeric: Sequence[str], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, missing, wrong type, unplain text), each (n, k), of the numeric columns."""
    numbers = _numbers_of_records(columns, numeric)
    if numbers is not None:
        nothing = np.zeros(numbers.shape, dtype=bool)
        return numbers, np.isnan(numbers), nothing, nothing
    if not numeric:
        empty = np.empty((n, 0), dtype=bool)
        return np.empty((n, 0)), empty, empty, empty
    reads = [_read_numbers(COLUMNS_BY_NAME[name], _split(columns[name])) for name in numeric]
    values, missing, wrong_type, unplain = (np.column_stack([r[k] for r in reads]) for k in range(4))
    return values, missing, wrong_type, unplain


def validate(columns: Mapping[str, ColumnInput], names: Iterable[str] | None = None) -> Validated:
    """Check the spec's columns ``names`` (default: those of ``columns`` in the spec) on every row.

    ``columns`` maps a column name to its values (pyarrow text, a numpy array or a list of
    Python values, all of the same length). Columns outside the spec are not looked at.
    """
    names = [n for n in (names if names is not None else columns) if n in COLUMNS_BY_NAME]
    if not names:
        raise ValueError("no booking column to validate")
    n = len(columns[names[0]])
    numeric = [name for name in names if COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS]
    text = [name for name in names if name not in numeric]
    for name in names:
        if len(columns[name]) != n:
            raise ValueError(f"column {name} has {len(columns[name])} values, expected {n}")

    block = _NumericBlock.of(tuple(numeric))
    numbers, missing, wrong, unplain = _numeric_matrix(columns, numeric, n)
    number_status = block.check(numbers, missing, wrong, unplain)
    typed: dict[str, np.ndarray] = {}
    clean = np.where(number_status == OK, numbers, np.nan)
    for j, name in enumerate(numeric):
        typed[name] = clean[:, j]
    text_status = np.zeros((n, len(text)), dtype=np.int8)
    for j, name in enumerate(text):
        typed[name], text_status[:, j] = _check_text_column(COLUMNS_BY_NAME[name], columns[name], n)

    bad = (number_status != OK).any(axis=1) | (text_status != OK).any(axis=1)
    status = dict(zip(numeric, number_status.T, strict=True)) | dict(zip(text, text_status.T, strict=True))
    rule_failures = _row_rule_failures(typed, status, names)
    for failed, _, _ in rule_failures:
        bad |= failed

    rejected = np.flatnonzero(bad)
    accepted = np.flatnonzero(~bad)
    if len(rejected):
        typed = {name: values[accepted] for name, values in typed.items()}
    for name in numeric:
        if COLUMNS_BY_NAME[name].kind == "id":
            # "009", 9 and "9.0" name the same agent: its canonical text is "9".
            typed[name] = map_unique(typed[name], lambda v: None if v is None else str(int(v)))
    if not len(rejected):
        return Validated(typed, accepted, rejected, [], Counter())
    details = _details(rejected, names, status, block, columns, rule_failures=rule_failures)
    counts: Counter[str] = Counter()
    reasons = []
    for row in details:
        messages = [str(problem) for problem in row]
        counts.update({reason_key(m) for m in messages})
        reasons.append("; ".join(messages))
    return Validated(typed, accepted, rejected, reasons, counts, details)


def _row_rule_failures(
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


def _shown(values: ColumnInput, row: int) -> Any:
    value = values[int(row)]
    if isinstance(value, pa.Scalar):
        value = value.as_py()
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _details(
    rejected: np.ndarray,
    names: Sequence[str],
    status: Mapping[str, np.ndarray],
    block: _NumericBlock,
    columns: Mapping[str, ColumnInput],
    *,
    rule_failures: list[tuple[np.ndarray, dict[int, str], str]],
) -> list[list[Problem]]:
    """Each rejected row's problems, field by field in column order, then the row rules."""
    details: list[list[Problem]] = [[] for _ in rejected]
    for name in names:
        codes = status[name][rejected]
        spec = COLUMNS_BY_NAME[name]
        for position in np.flatnonzero(codes):
            code = int(codes[position])
            if spec.kind in NUMERIC_KINDS:
                reason = block.reason(block.names.index(name), code)
            else:
                reason = _text_reason(spec, code)
            value = None if code == MISSING else _shown(columns[name], rejected[position])
            shown = "" if code == MISSING else f" (got {value!r})"
            unknown = parse_token(value)[0] if code == UNKNOWN and isinstance(value, str) else None
            details[position].append(Problem(name, reason + shown, unknown=unknown))
    for failed, reasons, blamed in rule_failures:
        for position in np.flatnonzero(failed[rejected]):
            details[position].append(Problem(blamed, reasons[int(rejected[position])], row_rule=True))
    return details


def records_to_columns(records: Sequence[Mapping[Any, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    """JSON bookings (dicts, or database rows' mappings) as columns; an absent field is a missing value."""
    return {name: [record.get(name) for record in records] for name in names}


def frame_to_columns(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, ColumnInput]:
    """A DataFrame's columns as the validator reads them; an absent column is all missing."""
    out: dict[str, ColumnInput] = {}
    for name in names:
        if name not in frame:
            out[name] = [None] * len(frame)
            continue
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, pd.StringDtype):
            # pandas takes any na_value; pandas-stubs' overloads leave None out.
            out[name] = pa.array(column.to_numpy(dtype=object, na_value=None), pa.string())  # type: ignore[call-overload]
        elif dtype.kind in "iuf":
            out[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:  # object, booleans, categoricals: value by value
            out[name] = column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]  # as above
    return out

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

The pieces, lowest first: ``field_values`` (a field's values read into one form, failure
codes), ``field_rules`` (one field's rules) and ``row_rules`` (rules across a row's fields).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from data_engineering.src.arrays import map_unique
from data_engineering.src.field_rules import (
    NumericBlock,
    check_text_column,
    text_reason,
)
from data_engineering.src.field_values import (
    MISSING,
    OK,
    UNKNOWN,
    ColumnInput,
    numeric_matrix,
    parse_token,
)
from data_engineering.src.row_rules import (
    row_rule_failures,
)
from data_engineering.src.schema import (
    COLUMNS_BY_NAME,
)

ID_COLUMN = "booking_id"
LINE_COLUMN = "source_line"
REASONS_COLUMN = "rejection_reasons"

NUMERIC_KINDS = ("int", "float", "id")


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

    block = NumericBlock.of(tuple(numeric))
    numbers, missing, wrong, unplain = numeric_matrix(columns, numeric, n)
    number_status = block.check(numbers, missing, wrong, unplain)
    typed: dict[str, np.ndarray] = {}
    clean = np.where(number_status == OK, numbers, np.nan)
    for j, name in enumerate(numeric):
        typed[name] = clean[:, j]
    text_status = np.zeros((n, len(text)), dtype=np.int8)
    for j, name in enumerate(text):
        typed[name], text_status[:, j] = check_text_column(COLUMNS_BY_NAME[name], columns[name], n)

    bad = (number_status != OK).any(axis=1) | (text_status != OK).any(axis=1)
    status = dict(zip(numeric, number_status.T, strict=True)) | dict(zip(text, text_status.T, strict=True))
    rule_failures = row_rule_failures(typed, status, names)
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
    block: NumericBlock,
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
                reason = text_reason(spec, code)
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

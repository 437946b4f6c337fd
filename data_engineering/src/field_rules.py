"""The spec's rules for one field: numeric columns all at once as a matrix (``NumericBlock``),
text columns once per distinct text; each failure code with its reason."""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_engineering.src.arrays import SMALL, gather, is_missing, object_array
from data_engineering.src.field_values import (
    DATE_TEXT,
    MISMATCH,
    MISSING,
    NOT_A_NUMBER,
    NOT_DATE,
    NOT_PLAIN,
    NOT_TEXT,
    NOT_WHOLE,
    OK,
    TOO_HIGH,
    TOO_LOW,
    UNKNOWN,
    WRONG_TYPE,
    ColumnInput,
    Values,
    accepted_text,
    parse_token,
    split,
)
from data_engineering.src.schema import (
    COLUMNS_BY_NAME,
    RawColumn,
)


@dataclass(frozen=True)
class NumericBlock:
    """The spec's rules for a set of numeric columns, as vectors: one operation checks them all."""

    names: tuple[str, ...]
    whole: np.ndarray  # bool per column: int or id
    low: np.ndarray  # minimum per column (-inf: none)
    high: np.ndarray  # maximum per column (inf: none)
    nullable: np.ndarray

    @classmethod
    @functools.cache
    def of(cls, names: tuple[str, ...]) -> NumericBlock:
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
        return REASONS[code]


REASONS = {
    WRONG_TYPE: "must be a number",
    NOT_A_NUMBER: "not a number",
    NOT_WHOLE: "not a whole number",
    MISSING: "missing value",
    NOT_TEXT: "must be text",
    NOT_DATE: "not a date (YYYY-MM-DD)",
    NOT_PLAIN: "write it plainly: digits and a decimal point, no sign or exponent, at most 10 spaces around",
}


def parse_date(text: str) -> tuple[dt.date | None, int]:
    if DATE_TEXT.fullmatch(text):
        try:
            return dt.date.fromisoformat(text), OK
        except ValueError:
            pass
    return None, NOT_DATE


@functools.cache
def text_rule(spec: RawColumn) -> Callable[[str | None], tuple[Any, int]]:
    """(value, code) of one text token under the spec's rules for ``spec``; None: no text."""
    accepted = accepted_text(spec.name)
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
            return parse_date(text)
        return (text if code == OK else None), code

    return rule


def check_text_values(spec: RawColumn, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``check_text`` for a handful of JSON values, value by value: the same rules, no arrays
    to build per column (one booking in the API costs a few microseconds here, not a hundred)."""
    rule = text_rule(spec)
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


def check_text(spec: RawColumn, values: Values) -> tuple[np.ndarray, np.ndarray]:
    """Typed values and failure codes of one text column (the rule runs once per distinct text)."""
    rule = text_rule(spec)
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


def check_text_column(spec: RawColumn, values: ColumnInput, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, list) and n <= SMALL:
        return check_text_values(spec, values)
    return check_text(spec, split(values))


def text_reason(spec: RawColumn, code: int) -> str:
    if code == UNKNOWN:
        return f"must be one of: {', '.join(spec.categories or ())}"
    if code == MISMATCH:
        return f"must match {spec.pattern}"
    if code == NOT_PLAIN:
        return "at most 10 spaces or tabs around the text"
    return REASONS[code]

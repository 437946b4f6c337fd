"""One field's values read into one form, whatever they came as (CSV or database text, JSON
values, DataFrame columns), and the failure codes the validator's rules give them."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_engineering.src.arrays import SMALL, gather, is_missing, object_array
from data_engineering.src.schema import (
    COLUMNS_BY_NAME,
    NULL_TOKENS,
    RawColumn,
)
from data_engineering.src.text_patterns import text_pattern

# A decimal number as hotels' systems write it: 9, 9.0, -2, .5, 1e3 (no "inf", "nan", "1_000").
NUMBER_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
NUMBER = re.compile(NUMBER_PATTERN)
DATE_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

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


def parse_token(text: str) -> tuple[str | None, float]:
    """One field's text: (stripped text, or None for a null token; its number, or NaN).

    The only place text becomes a number, whether it came from a CSV file, the database or a
    JSON string. Whether the field *accepts* the text is ``text_patterns.text_pattern``'s business.
    """
    stripped = text.strip(" \t")
    if stripped in NULL_TOKENS:
        return None, math.nan
    return stripped, float(stripped) if NUMBER.fullmatch(stripped) else math.nan


@dataclass
class Values:
    """One column split by what each row holds: a number, a text, nothing, or something else."""

    numbers: np.ndarray  # float64: the value of rows that hold a number (JSON, DataFrame), else NaN
    tokens: list[str | None]  # the distinct texts (None for rows without one)
    codes: np.ndarray | None  # each row's index in ``tokens`` (None: row i is ``tokens[i]``)
    null: np.ndarray  # bool: None, NaN, NA...
    wrong_type: np.ndarray  # bool: a boolean, list, object...


def split_values(values: list[Any]) -> Values:
    """JSON-like Python values (the API's bookings, an object column of a DataFrame)."""
    n = len(values)
    kinds = set(map(type, values))
    if kinds <= {int, float, type(None)}:  # numbers (None -> NaN): no Python loop
        numbers = np.array(values, dtype=np.float64)
        return Values(numbers, [None] * n, None, np.isnan(numbers), np.zeros(n, dtype=bool))
    if kinds <= {str, type(None)}:
        null = np.fromiter((v is None for v in values), dtype=bool, count=n)
        if n <= SMALL:
            return Values(np.full(n, np.nan), values, None, null, np.zeros(n, dtype=bool))
        codes, uniques = pd.factorize(object_array(values), use_na_sentinel=False)
        tokens: list[str | None] = [None if is_missing(u) else u for u in uniques]
        return Values(np.full(n, np.nan), tokens, codes, null, np.zeros(n, dtype=bool))
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
    return Values(numbers, tokens, None, null, wrong_type)


def split(values: ColumnInput) -> Values:
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
            return Values(np.full(n, np.nan), [*tokens, None], codes, null, np.zeros(n, dtype=bool))
        values = values.to_numpy(zero_copy_only=False)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        numbers = values.astype(np.float64)
        n = len(numbers)
        return Values(numbers, [None] * n, None, np.isnan(numbers), np.zeros(n, dtype=bool))
    if isinstance(values, np.ndarray):
        values = values.tolist()  # booleans, text and objects: value by value
    return split_values(list(values))


def per_token(values: Values, fn: Any, width: int) -> list[np.ndarray]:
    """``fn(token)`` (a tuple of ``width`` results) gathered to the rows: once per distinct token."""
    results = [fn(token) for token in values.tokens]
    return [gather(np.array([r[k] for r in results]), values.codes) for k in range(width)]


@functools.cache
def accepted_text(name: str) -> re.Pattern[str]:
    return re.compile(text_pattern(name))


def read_numbers(spec: RawColumn, values: Values) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, missing, wrong type, written unplainly) of a numeric field."""
    pattern = accepted_text(spec.name)

    def token(text: str | None) -> tuple[float, bool, bool]:
        if text is None:
            return math.nan, False, False
        stripped, number = parse_token(text)
        return number, stripped is None, not pattern.fullmatch(text)

    parsed, token_null, unplain = per_token(values, token, 3)
    has_token = ~values.null & np.isnan(values.numbers) & ~values.wrong_type
    numbers = np.where(has_token, parsed, values.numbers)
    missing = values.null | (has_token & token_null)
    return numbers, missing, values.wrong_type, has_token & unplain & ~token_null


def numbers_of_records(columns: Mapping[str, ColumnInput], names: Sequence[str]) -> np.ndarray | None:
    """The numeric columns as one matrix when every value is a plain number or None (JSON)."""
    lists = [columns[name] for name in names]
    if not lists or not all(isinstance(values, list) for values in lists):
        return None
    kinds = {type(value) for values in lists for value in values}
    if not kinds <= {int, float, type(None)}:
        return None
    return np.array(lists, dtype=np.float64).T  # None -> NaN


def numeric_matrix(
    columns: Mapping[str, ColumnInput], numeric: Sequence[str], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, missing, wrong type, unplain text), each (n, k), of the numeric columns."""
    numbers = numbers_of_records(columns, numeric)
    if numbers is not None:
        nothing = np.zeros(numbers.shape, dtype=bool)
        return numbers, np.isnan(numbers), nothing, nothing
    if not numeric:
        empty = np.empty((n, 0), dtype=bool)
        return np.empty((n, 0)), empty, empty, empty
    reads = [read_numbers(COLUMNS_BY_NAME[name], split(columns[name])) for name in numeric]
    values, missing, wrong_type, unplain = (np.column_stack([r[k] for r in reads]) for k in range(4))
    return values, missing, wrong_type, unplain

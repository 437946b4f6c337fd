"""Columnar primitives shared by the validator and the transformations.

Booking columns repeat a few values many times (two hotels, five meal plans, a few hundred lead
times), so work per value is done once per *distinct* value and gathered back to the rows. For a
handful of rows (the API's single booking) factorising would cost more than it saves, so small
columns are mapped directly: the same function, the same result, whatever the size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

SMALL = 64  # below this many rows a direct loop beats hashing


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA/NaT: no value."""
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def distinct(values: np.ndarray | list[Any]) -> tuple[np.ndarray | None, list[Any]]:
    """(codes, distinct values), missing ones as None: ``values == distinct[codes]``.

    Small inputs are their own distinct values (codes None): hashing them would cost more.
    """
    if len(values) <= SMALL:
        return None, [None if is_missing(v) else v for v in values]
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    return codes, [None if is_missing(u) else u for u in uniques]


def gather(table: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """The rows' values from one value per distinct value (see ``distinct``)."""
    return table if codes is None else table[codes]


def map_unique(values: np.ndarray | list[Any], fn: Callable[[Any], Any], dtype: Any = object) -> np.ndarray:
    """``fn(value)`` for every value, computed once per distinct value; ``fn(None)`` if missing."""
    codes, uniques = distinct(values)
    table = np.empty(len(uniques), dtype=dtype)
    for i, value in enumerate(uniques):
        table[i] = fn(value)
    return gather(table, codes)


def lookup(values: np.ndarray, table: dict[Any, Any], default: Any, dtype: Any = np.float64) -> np.ndarray:
    """``table.get(value, default)`` for every value (category codes, month numbers...)."""
    return map_unique(values, lambda value: table.get(value, default), dtype)


def object_array(items: list[Any]) -> np.ndarray:
    """A 1-d object array of ``items`` (numpy would nest sequences or infer a type otherwise)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out

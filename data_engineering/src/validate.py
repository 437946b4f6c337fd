"""Validate raw bookings row by row: bad rows are set aside with their reasons, never dropped.

Two phases, because a value that cannot be parsed cannot be range-checked:
1. parse every column from text to its type; a value that does not parse is a reason;
2. run the pandera schema (ranges, categories, month names, real dates) on what parsed.
Columns are checked before any row: a missing or unexpected column stops everything, since it
means the file is not the dataset we think it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from data_engineering.src.schema import (
    COLUMNS_BY_NAME,
    NULL_TOKENS,
    build_schema,
    check_columns,
)

ID_COLUMN = "booking_id"
LINE_COLUMN = "source_line"
FIELDS_COLUMN = "source_field_count"  # set by io.read_raw: fields the line really had
REASONS_COLUMN = "rejection_reasons"


@dataclass
class ValidationResult:
    """Outcome of one validation run. ``rows_in == len(valid) + len(rejected)`` always holds."""

    valid: pd.DataFrame  # typed columns plus booking_id and source_line
    rejected: pd.DataFrame  # the raw text of each bad row plus its reasons
    columns: tuple[str, ...]
    reason_counts: Counter[str] = field(default_factory=Counter)
    exact_duplicates: int = 0

    @property
    def rows_in(self) -> int:
        return len(self.valid) + len(self.rejected)

    def report(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "rows_loaded": len(self.valid),
            "rows_rejected": len(self.rejected),
            "rejection_reasons": dict(sorted(self.reason_counts.items())),
            "exact_duplicate_rows": self.exact_duplicates,
            "duplicate_policy": "kept (see data_engineering/README.md#duplicates)",
        }


def row_hashes(raw: pd.DataFrame) -> pd.Series:
    """64-bit hash of each row's text (pandas' fixed-key hash: the same in every process)."""
    return pd.util.hash_pandas_object(raw, index=False)


def booking_ids(row_hash: pd.Series) -> pd.Series:
    """A stable 63-bit key per row: the hash of the row's text and its rank among identical rows.

    The dataset has no booking number. Hashing the content gives a booking the same id in the
    103,505-row extract and in the full 119,390-row file; the rank keeps exact duplicates apart.
    """
    rank = row_hash.groupby(row_hash.to_numpy(), sort=False).cumcount()
    keyed = pd.DataFrame({"hash": row_hash.to_numpy(), "rank": rank.to_numpy()})
    combined = pd.util.hash_pandas_object(keyed, index=False).to_numpy()
    return pd.Series((combined >> np.uint64(1)).astype(np.int64), index=row_hash.index, name=ID_COLUMN)


def _parse(raw: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Parse text columns to typed ones; values that do not parse become reasons."""
    reasons: dict[int, list[str]] = {}
    typed = {}
    for name in columns:
        spec = COLUMNS_BY_NAME[name]
        text = raw[name].astype("str").str.strip()
        is_null = text.isin(NULL_TOKENS)
        if spec.kind in ("int", "float"):
            numbers = pd.to_numeric(text.where(~is_null), errors="coerce")
            bad = numbers.isna() & ~is_null
            if spec.kind == "int":
                fractional = numbers.notna() & (numbers % 1 != 0)
                bad |= fractional
                numbers = numbers.where(~bad).round().astype("Int64")
                message = "not a whole number"
            else:
                numbers = numbers.where(~bad).astype("Float64")
                message = "not a number"
            column = numbers
        elif spec.kind == "date":
            dates = pd.to_datetime(text.where(~is_null), format="%Y-%m-%d", errors="coerce")
            bad = dates.isna() & ~is_null
            column = dates.astype("datetime64[s]")
            message = "not a date (YYYY-MM-DD)"
        else:
            column = text.where(~is_null)
            bad = pd.Series(False, index=text.index)
            message = ""
        for idx in bad[bad].index:
            reasons.setdefault(idx, []).append(f"{name}: {message} ({raw.at[idx, name]!r})")
        typed[name] = column
    return pd.DataFrame(typed, index=raw.index), reasons


def _schema_failures(typed: pd.DataFrame, columns: tuple[str, ...]) -> dict[int, list[str]]:
    reasons: dict[int, list[str]] = {}
    try:
        build_schema(columns).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna()]
        for row in cases.itertuples(index=False):
            check = "missing value" if row.check == "not_nullable" else row.check
            if row.schema_context == "DataFrameSchema":
                message = check  # a row-level rule: reported once, not once per column
            else:
                value = row.failure_case.item() if hasattr(row.failure_case, "item") else row.failure_case
                message = f"{row.column}: {check} (got {value!r})"
            bucket = reasons.setdefault(int(row.index), [])
            if message not in bucket:
                bucket.append(message)
    return reasons


def reason_key(reason: str) -> str:
    """The reason without the offending value, for counting (``adults: must be >= 0``)."""
    return reason.split(" (", 1)[0]


def validate_raw(raw: pd.DataFrame, *, scoring: bool = False) -> ValidationResult:
    """Validate a frame of raw text (as read from the CSV, every column a string).

    ``raw`` must carry a ``source_line`` column (the row's line number in the file) so that a
    rejected row can be found in the original file.
    """
    data_columns = [c for c in raw.columns if c not in (LINE_COLUMN, FIELDS_COLUMN)]
    columns = check_columns(data_columns, scoring=scoring)
    raw = raw.reset_index(drop=True)
    if LINE_COLUMN not in raw:
        raw.insert(0, LINE_COLUMN, np.arange(2, len(raw) + 2))  # line 1 is the header
    hashes = row_hashes(raw[list(columns)])
    ids = booking_ids(hashes)
    typed, reasons = _parse(raw, columns)
    if FIELDS_COLUMN in raw:
        # A line with the wrong number of fields is misaligned: its other "errors" are noise.
        width = len(data_columns)
        misaligned = raw.index[raw[FIELDS_COLUMN] != width]
        for idx in misaligned:
            reasons[idx] = [f"line has {raw.at[idx, FIELDS_COLUMN]} fields, expected {width}"]
    # Values that did not parse are null now; the schema must not also call them missing.
    parse_failed = set(reasons)
    for idx, messages in _schema_failures(typed, columns).items():
        if FIELDS_COLUMN in raw and raw.at[idx, FIELDS_COLUMN] != len(data_columns):
            continue
        parsed_columns = {m.split(":", 1)[0] for m in reasons[idx]} if idx in parse_failed else set()
        reasons.setdefault(idx, []).extend(m for m in messages if m.split(":", 1)[0] not in parsed_columns)
    bad_index = np.array(sorted(i for i, msgs in reasons.items() if msgs), dtype=np.int64)
    bad_mask = np.zeros(len(raw), dtype=bool)
    bad_mask[bad_index] = True

    valid = typed.loc[~bad_mask].copy()
    valid.insert(0, ID_COLUMN, ids.loc[~bad_mask].to_numpy())
    valid.insert(1, LINE_COLUMN, raw.loc[~bad_mask, LINE_COLUMN].to_numpy())

    rejected = raw.loc[bad_mask, [LINE_COLUMN, *columns]].copy()
    rejected.insert(0, ID_COLUMN, ids.loc[bad_mask].to_numpy())
    rejected[REASONS_COLUMN] = ["; ".join(reasons[i]) for i in bad_index]

    counts: Counter[str] = Counter()
    for i in bad_index:
        counts.update({reason_key(r) for r in reasons[i]})
    duplicates = int(hashes.duplicated().sum())
    return ValidationResult(
        valid=valid.reset_index(drop=True),
        rejected=rejected.reset_index(drop=True),
        columns=columns,
        reason_counts=counts,
        exact_duplicates=duplicates,
    )

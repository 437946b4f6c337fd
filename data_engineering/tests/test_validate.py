"""The one validator: bad rows are rejected with their reasons, the rest go on, nothing is lost."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pytest

from data_engineering.src.schema import (
    RAW_COLUMN_NAMES,
    ColumnsError,
    check_columns,
)
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate


def text_columns(frame: pd.DataFrame) -> dict[str, pa.Array]:
    """A frame of text as the CSV reader hands it over."""
    return {c: pa.array(frame[c].astype(str).tolist(), pa.string()) for c in frame.columns}


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_bookings(500, seed=1)


def test_clean_data_is_all_accepted(clean: pd.DataFrame) -> None:
    result = validate(text_columns(clean))
    assert result.rows_in == len(clean) == len(result.accepted)
    assert not len(result.rejected)
    assert result.reason_counts == {}
    assert set(result.columns) == set(RAW_COLUMN_NAMES)


BROKEN = {
    # row index -> (column, bad value, expected reason)
    3: ("arrival_date_month", "Febtember", "arrival_date_month: must be one of"),
    10: ("adults", "-2", "adults: must be >= 0 (got '-2')"),
    20: ("lead_time", "soon", "lead_time: not a number (got 'soon')"),
    30: ("hotel", "", "hotel: missing value"),
    40: ("arrival_date_day_of_month", "31", "arrival date does not exist"),
    50: ("agent", "9.5", "agent: not a whole number (got '9.5')"),
    60: ("lead_time", "1e2", "lead_time: write it plainly"),
}


@pytest.fixture(scope="module")
def broken(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.copy()
    for idx, (column, value, _) in BROKEN.items():
        frame.loc[idx, column] = value
    frame.loc[40, "arrival_date_month"] = "April"  # 31 April does not exist
    return frame


def test_exactly_the_broken_rows_are_rejected_with_their_reasons(broken: pd.DataFrame) -> None:
    result = validate(text_columns(broken))
    assert result.rows_in == len(broken)
    assert result.rejected.tolist() == sorted(BROKEN)
    reasons = dict(zip(result.rejected.tolist(), result.reasons, strict=True))
    for idx, (_, _, fragment) in BROKEN.items():
        assert fragment in reasons[idx], reasons[idx]
    assert result.reason_counts["adults: must be >= 0"] == 1
    assert sum(result.reason_counts.values()) == len(BROKEN)
    # The structured form names the field a client has to fix, row rules included.
    details = dict(zip(result.rejected.tolist(), result.details, strict=True))
    assert details[40][0].field == "arrival_date_day_of_month"
    assert details[40][0].row_rule


def test_several_reasons_on_one_row_are_all_reported(clean: pd.DataFrame) -> None:
    frame = clean.head(5).copy()
    frame.loc[0, ["adults", "meal", "adr"]] = ["-1", "Brunch", "cheap"]
    reasons = validate(text_columns(frame)).reasons[0]
    assert "adults: must be >= 0" in reasons
    assert "meal: must be one of" in reasons
    assert "adr: not a number (got 'cheap')" in reasons


def test_null_tokens_are_missing_values_where_allowed(clean: pd.DataFrame) -> None:
    frame = clean.head(3).copy()
    frame.loc[0, ["children", "agent", "company", "country"]] = ["NA", "NULL", "", "NULL"]
    result = validate(text_columns(frame))
    assert not len(result.rejected)
    assert math.isnan(result.columns["children"][0])
    assert result.columns["agent"][0] is None
    assert result.columns["company"][0] is None
    assert result.columns["country"][0] is None


def test_target_must_agree_with_reservation_status(clean: pd.DataFrame) -> None:
    frame = clean.head(3).copy()
    frame.loc[0, ["is_canceled", "reservation_status"]] = ["0", "Canceled"]
    assert "is_canceled disagrees with reservation_status" in validate(text_columns(frame)).reasons[0]


def test_missing_and_unexpected_columns_are_named() -> None:
    columns = [c for c in RAW_COLUMN_NAMES if c != "adr"] + ["discount"]
    with pytest.raises(ColumnsError) as error:
        check_columns(columns)
    assert error.value.missing == ["adr"]
    assert "discount" in str(error.value)

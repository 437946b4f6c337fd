"""Row validation: bad rows are rejected with their reasons, the rest go on, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_engineering.src.io import read_raw
from data_engineering.src.schema import RAW_COLUMN_NAMES, ColumnsError, check_columns
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate_raw


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return make_bookings(500, seed=1)


def test_clean_data_is_all_loaded(clean: pd.DataFrame) -> None:
    result = validate_raw(clean)
    assert result.rows_in == len(clean) == len(result.valid)
    assert result.rejected.empty
    report = result.report()
    assert report["rows_in"] == report["rows_loaded"] + report["rows_rejected"]
    assert report["rejection_reasons"] == {}
    assert result.valid["booking_id"].is_unique


BROKEN = {
    # row index -> (column, bad value, expected reason fragment)
    3: ("arrival_date_month", "Febtember", "arrival_date_month: must be one of"),
    10: ("adults", "-2", "adults: must be >= 0"),
    20: ("lead_time", "soon", "lead_time: not a whole number ('soon')"),
    30: ("hotel", "", "hotel: missing value"),
    40: ("arrival_date_day_of_month", "31", "arrival date does not exist"),
}


@pytest.fixture(scope="module")
def broken(clean: pd.DataFrame) -> pd.DataFrame:
    frame = clean.copy()
    for idx, (column, value, _) in BROKEN.items():
        frame.loc[idx, column] = value
    frame.loc[40, "arrival_date_month"] = "April"  # 31 April does not exist
    return frame


def test_exactly_the_broken_rows_are_rejected(broken: pd.DataFrame) -> None:
    result = validate_raw(broken)
    assert result.rows_in == len(broken)
    assert len(result.rejected) == len(BROKEN)
    assert len(result.valid) == len(broken) - len(BROKEN)
    lines = dict(zip(result.rejected["source_line"], result.rejected["rejection_reasons"], strict=True))
    for idx, (_, _, fragment) in BROKEN.items():
        assert fragment in lines[idx + 2], lines[idx + 2]  # line 1 is the header
    counts = result.report()["rejection_reasons"]
    assert sum(counts.values()) == len(BROKEN)
    assert counts["adults: must be >= 0"] == 1


def test_rejected_rows_keep_their_raw_text(broken: pd.DataFrame) -> None:
    rejected = validate_raw(broken).rejected.set_index("source_line")
    assert rejected.loc[22, "lead_time"] == "soon"
    assert list(rejected.columns[1 : 1 + len(RAW_COLUMN_NAMES)]) == list(RAW_COLUMN_NAMES)


def test_several_reasons_on_one_row_are_all_reported(clean: pd.DataFrame) -> None:
    frame = clean.head(5).copy()
    frame.loc[0, ["adults", "meal", "adr"]] = ["-1", "Brunch", "cheap"]
    reasons = validate_raw(frame).rejected.loc[0, "rejection_reasons"]
    assert "adults: must be >= 0" in reasons
    assert "meal: must be one of" in reasons
    assert "adr: not a number" in reasons


def test_null_tokens_are_nulls_where_allowed(clean: pd.DataFrame) -> None:
    frame = clean.head(3).copy()
    frame.loc[0, ["children", "agent", "company", "country"]] = ["NA", "NULL", "NULL", "NULL"]
    result = validate_raw(frame)
    assert result.rejected.empty
    assert result.valid.loc[0, ["children", "agent", "country"]].isna().all()


def test_target_must_agree_with_reservation_status(clean: pd.DataFrame) -> None:
    frame = clean.head(3).copy()
    frame.loc[0, ["is_canceled", "reservation_status"]] = ["0", "Canceled"]
    assert "is_canceled disagrees with reservation_status" in validate_raw(frame).rejected.iloc[0, -1]


def test_missing_and_unexpected_columns_are_named() -> None:
    columns = [c for c in RAW_COLUMN_NAMES if c != "adr"] + ["discount"]
    with pytest.raises(ColumnsError) as error:
        check_columns(columns)
    assert error.value.missing == ["adr"]
    assert "discount" in str(error.value)


def test_scoring_input_may_omit_outcome_columns(clean: pd.DataFrame) -> None:
    booking_only = clean.drop(columns=["is_canceled", "reservation_status", "reservation_status_date"])
    result = validate_raw(booking_only, scoring=True)
    assert len(result.valid) == len(clean)
    with pytest.raises(ColumnsError):
        validate_raw(booking_only)


def test_duplicates_are_counted_and_kept_with_distinct_ids(clean: pd.DataFrame) -> None:
    frame = pd.concat([clean.head(10), clean.head(3)], ignore_index=True)
    result = validate_raw(frame)
    assert result.exact_duplicates == 3
    assert len(result.valid) == 13
    assert result.valid["booking_id"].is_unique


def test_booking_ids_do_not_depend_on_row_position(clean: pd.DataFrame) -> None:
    ids = validate_raw(clean).valid.set_index("source_line")["booking_id"]
    shuffled = clean.sample(frac=1, random_state=3)
    shuffled_ids = validate_raw(shuffled.reset_index(drop=True)).valid["booking_id"]
    assert set(ids) == set(shuffled_ids)


def test_misaligned_lines_are_rejected_not_dropped(tmp_path: Path, clean: pd.DataFrame) -> None:
    path = tmp_path / "raw.csv"
    clean.head(4).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[2] += ",surplus"
    lines[3] = ",".join(lines[3].split(",")[:-2])
    path.write_text("\n".join(lines) + "\n\n")
    result = validate_raw(read_raw(path))
    assert result.rows_in == 4
    reasons = dict(zip(result.rejected["source_line"], result.rejected["rejection_reasons"], strict=True))
    assert reasons == {3: "line has 33 fields, expected 32", 4: "line has 30 fields, expected 32"}

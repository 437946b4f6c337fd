"""The one validator: bad rows are rejected with their reasons, the rest go on, nothing is lost,
and every representation of a booking (CSV text, JSON values, a pandas DataFrame) is judged alike."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_engineering.src.files.reader import RawReader
from data_engineering.src.schema import (
    BOOKING_FIELDS,
    COLUMNS_BY_NAME,
    RAW_COLUMN_NAMES,
    ColumnsError,
    check_columns,
)
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.text_patterns import text_pattern
from data_engineering.src.validate import frame_to_columns, records_to_columns, validate


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


# ------------------------------------------------------------ one validator, every representation
BASE = make_bookings(1, seed=5)[list(BOOKING_FIELDS)].iloc[0].to_dict()
# value as JSON sends it, and whether it is a valid booking: the same cases go through every edge.
CASES: list[tuple[str, object, bool]] = [
    ("agent", 9.0, True),
    ("agent", "9.0", True),
    ("agent", "009", True),
    ("agent", 9.5, False),
    ("agent", "9.5", False),
    ("lead_time", 14.0, True),
    ("lead_time", " 12 ", True),
    ("lead_time", "1e2", False),
    ("lead_time", -1, False),
    ("lead_time", 1001, False),
    ("total_of_special_requests", True, False),
    ("total_of_special_requests", False, False),
    ("children", None, True),
    ("children", "NA", True),
    ("adults", None, False),
    ("hotel", " City Hotel ", True),
    ("hotel", "city hotel", False),
    ("reserved_room_type", 5, False),
    ("country", "CN", True),
    ("country", "Portugal", False),
    ("adr", 10000.5, False),
    ("adr", "98.12", True),
]


def _typed_bookings() -> list[dict]:
    base = {str(name): value for name, value in BASE.items()}
    typed = {}
    for name, value in base.items():
        kind = COLUMNS_BY_NAME[name].kind
        typed[name] = (
            None if value in ("NULL", "NA") else (float(value) if kind in ("int", "float") else value)
        )
    return [{**typed, field: value} for field, value, _ in CASES]


def test_json_values_are_judged_as_the_cases_say() -> None:
    bookings = _typed_bookings()
    result = validate(records_to_columns(bookings, BOOKING_FIELDS), BOOKING_FIELDS)
    accepted = set(result.accepted.tolist())
    for i, (field, value, valid) in enumerate(CASES):
        assert (i in accepted) == valid, (field, value, result.reasons)
    assert result.columns["agent"][:3].tolist() == ["9", "9", "9"]  # 9.0, "9.0", "009": one agent


def test_the_api_pyfunc_and_csv_edges_accept_the_same_bookings(tmp_path: Path) -> None:
    """JSON values, a DataFrame of them, and the same bookings written to a CSV file."""
    bookings = _typed_bookings()
    as_json = validate(records_to_columns(bookings, BOOKING_FIELDS), BOOKING_FIELDS)
    frame = pd.DataFrame(bookings)
    as_frame = validate(frame_to_columns(frame, BOOKING_FIELDS), BOOKING_FIELDS)
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    path = tmp_path / "cases.csv"
    text.to_csv(path, index=False)
    with RawReader(path, scoring=True) as reader:
        chunk = next(iter(reader))
    as_csv = validate({c: chunk.table[c] for c in BOOKING_FIELDS}, BOOKING_FIELDS)
    # Text cannot tell True from "True" nor 5 from "5": the typed edges refuse those cases for
    # their type, the CSV edge because "True" is no number; a room type 5 is "5", unknown there too.
    assert as_json.accepted.tolist() == as_frame.accepted.tolist() == as_csv.accepted.tolist()
    for name in BOOKING_FIELDS:
        left, right = as_json.columns[name], as_csv.columns[name]
        if left.dtype.kind == "f":
            np.testing.assert_array_equal(left, right)
        else:
            assert left.tolist() == right.tolist(), name


def test_a_pandas_written_csv_is_accepted_row_for_row(tmp_path: Path) -> None:
    """pandas reads ids as floats (9.0) and writes missing values as empty fields."""
    source = tmp_path / "raw.csv"
    make_bookings(300, seed=8).to_csv(source, index=False)
    written = tmp_path / "pandas.csv"
    frame = pd.read_csv(source)
    assert frame["agent"].dtype == "float64"
    frame.to_csv(written, index=False)
    with RawReader(written) as reader:
        chunk = next(iter(reader))
    result = validate({c: chunk.table[c] for c in reader.columns})
    assert not len(result.rejected), result.reasons[:3]
    again = validate(frame_to_columns(frame, reader.columns), reader.columns)
    assert not len(again.rejected), again.reasons[:3]


@pytest.mark.parametrize("field", [f for f in BOOKING_FIELDS if COLUMNS_BY_NAME[f].kind != "date"])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_text_is_accepted_exactly_when_it_matches_the_published_pattern(field: str, data) -> None:
    """The pattern the API publishes for a field is the validator's rule for its text."""
    pattern = text_pattern(field)
    matching = data.draw(st.from_regex(pattern, fullmatch=True))
    other = data.draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=12))
    for text in (matching, other):
        row = {**BASE, field: text}
        result = validate({name: [row[name]] for name in BOOKING_FIELDS}, BOOKING_FIELDS)
        field_ok = not any(
            p.field == field and not p.row_rule for problems in result.details for p in problems
        )
        assert field_ok == bool(re.fullmatch(pattern, text)), (field, text, result.reasons)


# ---------------------------------------------------------------- as of a day, and the outcome


def _one_booking(**fields: str) -> dict[str, list[str]]:
    """A booking arriving 2017-03-10, booked 2017-01-09 (lead time 60), with ``fields`` changed."""
    row = make_bookings(1, seed=3).iloc[0].to_dict()
    row.update(
        arrival_date_year="2017",
        arrival_date_month="March",
        arrival_date_day_of_month="10",
        arrival_date_week_number="10",
        lead_time="60",
        is_canceled="0",
        reservation_status="Check-Out",
        reservation_status_date="2017-03-12",
    )
    row.update(fields)
    return {str(name): [str(value)] for name, value in row.items()}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"as_of": "2017-01-08"}, "as_of 2017-01-08 is before the booking was made, on 2017-01-09"),
        ({"as_of": "2017-03-10"}, "as_of 2017-03-10 is on or after the arrival date 2017-03-10"),
        ({"as_of": "2017-04-01"}, "the guest has arrived"),
        (
            {
                "as_of": "2017-02-01",
                "is_canceled": "1",
                "reservation_status": "Canceled",
                "reservation_status_date": "2017-02-01",
            },
            "as_of 2017-02-01: not on the books, its status became Canceled on 2017-02-01",
        ),
        ({"as_of": "2017-13-01"}, "as_of: not a date (YYYY-MM-DD)"),
    ],
)
def test_as_of_outside_the_days_on_the_books_is_refused_naming_it(
    fields: dict[str, str], reason: str
) -> None:
    result = validate(_one_booking(**fields))
    assert len(result.rejected) == 1
    assert reason in result.reasons[0]
    assert [problem.field for problem in result.details[0]] == ["as_of"]


@pytest.mark.parametrize(
    "fields",
    [
        {"as_of": "2017-01-09"},  # the booking date itself
        {"as_of": "2017-03-09"},  # the day before arrival
        # cancelled after the day: still on the books then (a historical replay's label)
        {
            "as_of": "2017-02-01",
            "is_canceled": "1",
            "reservation_status": "Canceled",
            "reservation_status_date": "2017-02-02",
        },
        {"as_of": ""},  # missing: the booking date
        # made and due the same day: judged as it is made
        {"as_of": "2017-03-10", "lead_time": "0"},
    ],
)
def test_as_of_on_the_books_is_accepted(fields: dict[str, str]) -> None:
    result = validate(_one_booking(**fields))
    assert not len(result.rejected), result.reasons


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"is_canceled": "", "reservation_status": "Canceled"},
            "is_canceled is missing while reservation_status is given",
        ),
        (
            {"is_canceled": "1", "reservation_status": "", "reservation_status_date": ""},
            "reservation_status is missing for a cancelled booking",
        ),
        ({"reservation_status_date": ""}, "reservation_status and reservation_status_date go together"),
        ({"is_canceled": "1"}, "is_canceled disagrees with reservation_status"),
    ],
)
def test_an_outcome_is_all_there_or_not_at_all(fields: dict[str, str], reason: str) -> None:
    result = validate(_one_booking(**fields))
    assert len(result.rejected) == 1
    assert reason in result.reasons[0]


def test_a_booking_still_on_the_books_has_no_outcome() -> None:
    empty = dict.fromkeys(
        (
            "is_canceled",
            "reservation_status",
            "reservation_status_date",
            "assigned_room_type",
            "booking_changes",
        ),
        "",
    )
    result = validate(_one_booking(**empty))
    assert not len(result.rejected), result.reasons
    assert np.isnan(result.columns["is_canceled"][0])
    assert result.columns["reservation_status"][0] is None


def test_files_may_omit_the_outcome_and_carry_a_booking_id() -> None:
    columns = [*BOOKING_FIELDS, "booking_id"]
    assert set(check_columns(columns)) == set(columns)
    with pytest.raises(ColumnsError, match="unexpected column"):
        check_columns([*BOOKING_FIELDS, "as_of"])  # a day to judge by is a scoring question, not data
    assert "as_of" in check_columns([*BOOKING_FIELDS, "as_of"], scoring=True)


@pytest.mark.parametrize(
    ("text", "ok"), [("RES-2017/00042", True), ("12345", True), ("=HYPERLINK(1)", False), ("a b", False)]
)
def test_a_booking_id_is_a_reservation_number_not_free_text(text: str, ok: bool) -> None:
    result = validate(_one_booking(booking_id=text))
    assert (len(result.rejected) == 0) is ok
    if ok:
        assert result.columns["booking_id"][0] == text
    else:
        assert "booking_id: must match" in result.reasons[0]

"""One validator, every representation: a booking as CSV text, as JSON values and in a pandas
DataFrame is judged alike, and text exactly as the pattern the API publishes says."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_engineering.src.files.reader import RawReader
from data_engineering.src.schema import (
    BOOKING_FIELDS,
    COLUMNS_BY_NAME,
)
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.text_patterns import text_pattern
from data_engineering.src.validate import frame_to_columns, records_to_columns, validate

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

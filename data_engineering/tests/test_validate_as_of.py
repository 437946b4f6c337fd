"""The validator on the days a booking is on the books, its outcome and its booking id."""

from __future__ import annotations

import numpy as np
import pytest

from data_engineering.src.schema import (
    BOOKING_FIELDS,
    ColumnsError,
    check_columns,
)
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate


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

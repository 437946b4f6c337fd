"""Schemathesis against /openapi.json (in-process ASGI), with every check it has.

Positive cases (requests the schema allows) must be answered 2xx, negative ones (anything it
refuses: wrong types, out-of-range numbers, unknown fields, impossible dates, booleans for
counts) must be refused with a declared 4xx, and every response must match its declared schema,
status and content type. The booking's schema and the validator are both generated from the
column spec; this is what holds them to each other.

Two rules relate a value to *other* fields, which JSON Schema cannot say, so the schema admits
values the API rightly refuses:

- a booking's ``as_of`` must fall between its booking date (arrival minus lead time) and the day
  before arrival (the booking date itself when it was made for the same day);
- ``GET /forecast``'s nights follow its ``as_of``: ``from`` after it, ``to`` not before ``from``,
  at most 366 nights, and a day must follow ``as_of`` at all (not 9999-12-31).

The hooks below move those generated values into their valid range — each a function of the
value drawn, so Hypothesis still explores and shrinks them — and leave every other value as
drawn. A value the schema refuses is never touched (an ``as_of`` that is no date, a booking the
validator refuses for another field: its case stays negative and must still be a 422).
Schemathesis re-checks every case a hook changed against the schema, so a mapped case keeps its
positive or negative label honestly. The refusals themselves (as_of outside the books, a range
of nights that does not follow as_of) are asserted in test_as_of.py and test_forecast.py.

The app reads bookings loaded by ``initialize-data db``, so ``GET /forecast`` answers 200, not the
503 of an empty database (which the not-a-server-error check would rightly count).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.tests.helpers import api_settings
from data_engineering.src.dates import arrival_dates, booking_dates
from data_engineering.src.schema import AS_OF, BOOKING_FIELDS
from data_engineering.src.validate import records_to_columns, validate

FORECAST_MAX_NIGHTS = 366


def _day(value: Any) -> dt.date | None:
    """A date as the schema writes one (spaces around allowed), else None."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _shift(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=min(days, (dt.date.max - day).days))


def _books(booking: dict[str, Any]) -> tuple[dt.date, dt.date] | None:
    """(booking date, arrival) of a booking the validator accepts but for its as_of; else None."""
    fields = {name: booking[name] for name in BOOKING_FIELDS if name in booking}
    validated = validate(records_to_columns([fields], list(BOOKING_FIELDS)), list(BOOKING_FIELDS))
    if len(validated.rejected):
        return None
    typed = validated.columns
    arrival = arrival_dates(
        typed["arrival_date_year"], typed["arrival_date_month"], typed["arrival_date_day_of_month"]
    )
    booked = booking_dates(arrival, typed["lead_time"])
    return booked[0].astype(dt.date), arrival[0].astype(dt.date)


def _on_the_books(booking: Any) -> Any:
    """The booking with its drawn as_of moved into [booking date, arrival) (or onto the booking
    date for a same-day booking)."""
    if not isinstance(booking, dict) or (drawn := _day(booking.get(AS_OF))) is None:
        return booking
    books = _books(booking)
    if books is None:
        return booking
    booked, arrival = books
    span = max(1, (arrival - booked).days)
    return {**booking, AS_OF: (booked + dt.timedelta(days=drawn.toordinal() % span)).isoformat()}


def _bookings_on_the_books(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("bookings"), list):
        return {**body, "bookings": [_on_the_books(b) for b in body["bookings"]]}
    return _on_the_books(body)


def _nights_after_as_of(query: dict[str, Any]) -> dict[str, Any]:
    query = dict(query)
    day = _day(query.get("as_of")) if "as_of" in query else dt.datetime.now(dt.UTC).date()
    if day is None:
        return query
    if day == dt.date.max:  # no night follows the calendar's last day
        day = dt.date.max - dt.timedelta(days=1)
        query["as_of"] = day.isoformat()
    first = day + dt.timedelta(days=1)
    if "from" in query and (drawn := _day(query["from"])) is not None:
        if drawn <= day:
            query["from"] = _shift(first, drawn.toordinal() % 30).isoformat()
        first = dt.date.fromisoformat(query["from"].strip())
    drawn = _day(query.get("to"))
    if drawn is not None and (drawn < first or (drawn - first).days >= FORECAST_MAX_NIGHTS):
        query["to"] = _shift(first, drawn.toordinal() % FORECAST_MAX_NIGHTS).isoformat()
    return query


def map_case(context: Any, case: Any) -> Any:
    """A case hook (the coverage phase applies case hooks only, the fuzzing phase all of them)."""
    if case.operation.path == "/forecast":
        case.query = _nights_after_as_of(case.query or {})
    elif case.operation.path.startswith("/predict"):
        case.body = _bookings_on_the_books(case.body)
    return case


@pytest.fixture(scope="module")
def loaded_client(served_workspace, loaded_sqlite_url) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api_settings(loaded_sqlite_url, admin_key="test-admin-key"))) as client:
        yield client


@pytest.fixture(scope="module")
def api_schema(loaded_client):
    schema = schemathesis.openapi.from_asgi("/openapi.json", loaded_client.app)
    schema.hook(map_case)  # this schema's only: no other test sees it
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_openapi_schema(case) -> None:
    case.call_and_validate()


def test_the_hooks_move_only_what_the_schema_cannot_constrain() -> None:
    """The mapping itself: an as_of inside the books, nights after as_of, the rest as drawn."""
    booking = {
        "hotel": "City Hotel",
        "lead_time": 10,
        "arrival_date_year": 2017,
        "arrival_date_month": "March",
        "arrival_date_week_number": 10,
        "arrival_date_day_of_month": 11,
        "stays_in_weekend_nights": 1,
        "stays_in_week_nights": 2,
        "adults": 2,
        "babies": 0,
        "meal": "BB",
        "market_segment": "Direct",
        "distribution_channel": "Direct",
        "is_repeated_guest": 0,
        "previous_cancellations": 0,
        "previous_bookings_not_canceled": 0,
        "reserved_room_type": "A",
        "deposit_type": "No Deposit",
        "days_in_waiting_list": 0,
        "customer_type": "Transient",
        "adr": 90.0,
        "required_car_parking_spaces": 0,
        "total_of_special_requests": 0,
    }
    days = {_day(_on_the_books({**booking, AS_OF: f"2001-01-{d:02d}"})[AS_OF]) for d in range(1, 32)}
    assert days == {dt.date(2017, 3, 1) + dt.timedelta(days=k) for k in range(10)}
    same_day = _on_the_books({**booking, "lead_time": 0, AS_OF: "1999-05-05"})
    assert same_day[AS_OF] == "2017-03-11"
    untouched = [{**booking, AS_OF: "2017-02-30"}, {**booking, "adults": 500, AS_OF: "2001-01-01"}]
    assert [_on_the_books(b) for b in untouched] == untouched

    mapped = _nights_after_as_of({"as_of": "2017-03-01", "from": "2017-02-01", "to": "2016-01-01"})
    first, last = dt.date.fromisoformat(mapped["from"]), dt.date.fromisoformat(mapped["to"])
    assert dt.date(2017, 3, 1) < first <= last < first + dt.timedelta(days=FORECAST_MAX_NIGHTS)
    assert _nights_after_as_of({"as_of": "9999-12-31"})["as_of"] == "9999-12-30"
    valid = {"as_of": "2017-03-01", "from": "2017-03-05", "to": "2017-04-01", "hotel": "City Hotel"}
    assert _nights_after_as_of(valid) == valid

"""``booking_id`` and ``as_of`` on /predict and /predict/batch: accepted, echoed, logged; an as_of
outside the days the booking is on the books is a 422 naming it (and its index in a batch).

The booking and arrival dates are computed here with ``datetime`` from the booking's own fields,
not with the platform's date helpers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from api.prediction_table import predictions
from data_engineering.src.ports import wait_until


def days_of(booking: dict) -> tuple[dt.date, dt.date]:
    """(booking date, arrival) of a booking sent as JSON numbers and names."""
    month = list(calendar.month_name).index(booking["arrival_date_month"])
    arrival = dt.date(int(booking["arrival_date_year"]), month, int(booking["arrival_date_day_of_month"]))
    return arrival - dt.timedelta(days=int(booking["lead_time"])), arrival


@pytest.fixture
def early(bookings) -> dict:
    """A booking made at least a month before its arrival."""
    return dict(next(b for b in bookings if int(b["lead_time"]) >= 30))


def _refusal(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["detail"][0]


def test_booking_id_and_as_of_are_echoed_and_logged(app_client, early, sqlite_log_url) -> None:
    booked, arrival = days_of(early)
    day = booked + dt.timedelta(days=(arrival - booked).days // 2)
    sent = {**early, "booking_id": "RES-2017/0042", "as_of": day.isoformat()}
    body = app_client.post("/predict", json=sent).json()
    assert (body["booking_id"], body["as_of"]) == ("RES-2017/0042", day.isoformat())

    # Monitoring joins outcomes by the id the API logged with the booking (and the day it was judged).
    def logged() -> dict | None:
        engine = sa.create_engine(sqlite_log_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(predictions.c.booking).where(predictions.c.request_id == body["request_id"])
                ).first()
        finally:
            engine.dispose()
        return None if row is None else row[0]

    assert wait_until(lambda: logged() is not None, 10), "the prediction was not logged"
    booking = logged()
    assert booking is not None
    assert (booking["booking_id"], booking["as_of"]) == ("RES-2017/0042", day.isoformat())


def test_the_default_as_of_is_the_booking_date(app_client, early) -> None:
    booked, arrival = days_of(early)
    default = app_client.post("/predict", json=early).json()
    assert default["as_of"] == booked.isoformat()
    assert default["booking_id"] is None
    explicit = app_client.post("/predict", json={**early, "as_of": booked.isoformat()}).json()
    assert explicit["cancel_probability"] == default["cancel_probability"]
    # A later day is another question (it survived so far), with its own answer.
    later = app_client.post("/predict", json={**early, "as_of": (arrival - dt.timedelta(days=1)).isoformat()})
    assert later.status_code == 200
    assert later.json()["cancel_probability"] != default["cancel_probability"]


@pytest.mark.parametrize(
    ("when", "words"),
    [
        ("the day before the booking", "is before the booking was made"),
        ("the arrival", "is on or after the arrival date"),
        ("a week after arrival", "is on or after the arrival date"),
    ],
)
def test_an_as_of_off_the_books_is_a_422_naming_it(app_client, bookings, early, when, words) -> None:
    booked, arrival = days_of(early)
    day = {
        "the day before the booking": booked - dt.timedelta(days=1),
        "the arrival": arrival,
        "a week after arrival": arrival + dt.timedelta(days=7),
    }[when]
    detail = _refusal(app_client.post("/predict", json={**early, "as_of": day.isoformat()}))
    assert (detail["field"], detail["loc"]) == ("as_of", ["body", "as_of"])
    assert words in detail["msg"]
    assert day.isoformat() in detail["msg"]

    batch = [dict(b) for b in bookings[:5]]
    batch[3] = {**early, "as_of": day.isoformat(), "booking_id": "RES-3"}
    response = app_client.post("/predict/batch", json={"bookings": batch})
    detail = _refusal(response)
    assert (detail["index"], detail["field"], detail["loc"]) == (3, "as_of", ["body", "bookings", 3, "as_of"])
    assert response.json()["message"].startswith("booking 3: as_of:")


def test_a_same_day_booking_is_judged_on_its_arrival_day(app_client, early) -> None:
    """Made on the day of arrival, the booking date is the one day it can be judged as of."""
    _, arrival = days_of(early)
    same_day = {**early, "lead_time": 0}
    assert app_client.post("/predict", json={**same_day, "as_of": arrival.isoformat()}).status_code == 200
    assert app_client.post("/predict", json=same_day).json()["as_of"] == arrival.isoformat()


@pytest.mark.parametrize(
    ("text", "is_a_day"),
    [
        ("2016-02-29", True),  # a leap year's
        ("2017-02-29", False),
        ("2017-04-31", False),
        ("2017-13-01", False),
        ("0000-00-00", False),
        ("2017-3-1", False),
        (" 2016-03-01\t", True),  # the spaces any text field may have around it
    ],
)
def test_as_of_is_a_day_of_the_calendar_as_the_published_schema_says(
    app_client, early, text, is_a_day
) -> None:
    booking = {  # on the books from 2016-02-10 to 2016-03-10, so every real day above is inside
        **early,
        "arrival_date_year": 2016,
        "arrival_date_month": "March",
        "arrival_date_day_of_month": 11,
        "lead_time": 30,
    }
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["Booking"]
    published = next(v["pattern"] for v in schema["properties"]["as_of"]["anyOf"] if "pattern" in v)
    assert bool(re.fullmatch(published, text)) is is_a_day
    response = app_client.post("/predict", json={**booking, "as_of": text})
    if is_a_day:
        assert response.status_code == 200, response.text
        assert response.json()["as_of"] == text.strip()
    else:
        detail = _refusal(response)
        assert detail["field"] == "as_of"
        assert "not a date" in detail["msg"]


@pytest.mark.parametrize("booking_id", ["=HYPERLINK(1)", "RES 42", "R" * 65, ""])
def test_a_booking_id_is_a_reservation_number_not_any_text(app_client, early, booking_id) -> None:
    response = app_client.post("/predict", json={**early, "booking_id": booking_id})
    if booking_id == "":  # the empty text is a missing id, as in a CSV
        assert response.json()["booking_id"] is None
    else:
        assert _refusal(response)["field"] == "booking_id"


def test_batch_echoes_each_bookings_id_and_day_in_order(app_client, bookings) -> None:
    sample = [dict(b) for b in bookings[:6]]
    days = [days_of(b) for b in sample]
    for i in (1, 3, 5):
        sample[i]["booking_id"] = f"RES-{i}"
    for i in (2, 3):
        booked, arrival = days[i]
        sample[i]["as_of"] = max(booked, arrival - dt.timedelta(days=1)).isoformat()
    items = app_client.post("/predict/batch", json={"bookings": sample}).json()["predictions"]
    assert [item["booking_id"] for item in items] == [None, "RES-1", None, "RES-3", None, "RES-5"]
    expected_days = [b.get("as_of", days[i][0].isoformat()) for i, b in enumerate(sample)]
    assert [item["as_of"] for item in items] == expected_days
    singles = [app_client.post("/predict", json=b).json()["cancel_probability"] for b in sample]
    assert [item["cancel_probability"] for item in items] == singles

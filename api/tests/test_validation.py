"""Request validation: what the API refuses, and how it says so (422 naming the field/index)."""

from __future__ import annotations

import orjson
import pytest

from api.booking_schema import MAX_BATCH


def _detail(response) -> dict:
    body = response.json()
    assert response.status_code == 422, body
    assert body["message"]
    return body["detail"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hotel", "Airport Hotel"),  # not a category of the schema
        ("deposit_type", "non refund"),  # categories are exact
        ("arrival_date_month", "Sept"),
        ("reserved_room_type", "Z"),
        ("adults", 101),  # above the spec's max
        ("lead_time", -1),  # below its min
        ("adr", -5.0),
        ("total_of_special_requests", 11),
        ("country", "prt"),  # ^[A-Z]{2,3}$
        ("country", "PORTUGAL"),
        ("agent", "travel agent"),  # an id, not a name
        ("agent", -3),
        ("arrival_date_week_number", 54),
        ("is_repeated_guest", 2),
    ],
)
def test_out_of_spec_values_are_422_naming_the_field(app_client, booking, field, value) -> None:
    booking[field] = value
    detail = _detail(app_client.post("/predict", json=booking))
    assert detail["field"] == field
    assert detail["loc"] == ["body", field]


def test_unknown_and_leaky_fields_are_refused(app_client, booking) -> None:
    for extra in ("is_canceled", "reservation_status", "assigned_room_type", "booking_changes", "nickname"):
        detail = _detail(app_client.post("/predict", json={**booking, extra: 1}))
        assert detail["field"] == extra
        assert detail["type"] == "invalid_body"


def test_missing_required_field(app_client, booking) -> None:
    del booking["hotel"]
    detail = _detail(app_client.post("/predict", json=booking))
    assert detail["field"] == "hotel"
    assert detail["msg"] == "missing value"


def test_optional_fields_are_the_model_signatures(app_client, booking) -> None:
    """What the API lets a client omit is exactly what the registered model's signature does."""
    from data_science.model_signature import signature_columns

    optional = {name for name, _, required in signature_columns() if not required}
    assert optional == {"children", "country", "agent", "company", "booking_id", "as_of"}
    schema = app_client.get("/openapi.json").json()["components"]["schemas"]["Booking"]
    assert set(schema["properties"]) - set(schema["required"]) == optional
    for name in optional:
        booking.pop(name, None)
    assert app_client.post("/predict", json=booking).status_code == 200
    nulls = dict.fromkeys(optional, None)
    assert app_client.post("/predict", json={**booking, **nulls}).status_code == 200
    del booking["arrival_date_week_number"]
    assert _detail(app_client.post("/predict", json=booking))["field"] == "arrival_date_week_number"


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("agent", 9.0, True),  # an integral float is the whole number it writes
        ("agent", "9.0", True),
        ("agent", "009", True),
        ("agent", 9.5, False),
        ("lead_time", "14", True),  # numbers as text, as a CSV holds them
        ("lead_time", "1e2", False),  # ... written plainly
        ("total_of_special_requests", False, False),  # a boolean is no count
        ("adults", True, False),
        ("children", "NA", True),  # a null token where the field may be missing
        ("reserved_room_type", 1, False),  # a room type is text
    ],
)
def test_number_forms(app_client, booking, field, value, accepted) -> None:
    response = app_client.post("/predict", json={**booking, field: value})
    if accepted:
        assert response.status_code == 200, response.json()
    else:
        assert _detail(response)["field"] == field


@pytest.mark.parametrize(
    ("date", "exists"),
    [
        ((2017, "April", 31), False),
        ((2017, "February", 29), False),
        ((2016, "February", 29), True),  # a leap year
        ((2017, "December", 31), True),
    ],
)
def test_arrival_date_must_exist(app_client, booking, date, exists) -> None:
    year, month, day = date
    booking |= {"arrival_date_year": year, "arrival_date_month": month, "arrival_date_day_of_month": day}
    response = app_client.post("/predict", json=booking)
    if exists:
        assert response.status_code == 200
    else:
        detail = _detail(response)
        assert detail["field"] == "arrival_date_day_of_month"
        assert "does not exist" in detail["msg"]


@pytest.mark.parametrize("body", [b"{", b"[]", b'"booking"', b"", b"null"])
def test_malformed_bodies_are_422_not_500(app_client, body) -> None:
    response = app_client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["message"]


def test_batch_keeps_order_and_matches_single_predictions(app_client, bookings) -> None:
    sample = bookings[:25]
    batch = app_client.post("/predict/batch", json={"bookings": sample}).json()
    assert batch["count"] == 25
    singles = [app_client.post("/predict", json=b).json()["cancel_probability"] for b in sample]
    assert [item["cancel_probability"] for item in batch["predictions"]] == singles
    assert len({item["request_id"] for item in batch["predictions"]}) == 25


def test_batch_error_names_the_index_and_field(app_client, bookings) -> None:
    sample = [dict(b) for b in bookings[:10]]
    sample[7]["meal"] = "Breakfast"
    response = app_client.post("/predict/batch", json={"bookings": sample})
    detail = _detail(response)
    assert (detail["index"], detail["field"]) == (7, "meal")
    assert response.json()["message"].startswith("booking 7: meal:")


def test_batch_date_error_names_the_index(app_client, bookings) -> None:
    sample = [dict(b) for b in bookings[:5]]
    sample[3] |= {"arrival_date_month": "June", "arrival_date_day_of_month": 31}
    detail = _detail(app_client.post("/predict/batch", json={"bookings": sample}))
    assert (detail["index"], detail["field"]) == (3, "arrival_date_day_of_month")


def test_batch_over_the_limit_is_422_as_the_schema_says(app_client, booking) -> None:
    body = orjson.dumps({"bookings": [booking] * (MAX_BATCH + 1)})
    response = app_client.post("/predict/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422  # the schema's maxItems: a validation error, declared
    assert "at most 10,000 bookings per call, got 10,001" in response.json()["message"]
    schema = app_client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["BatchRequest"]["properties"]["bookings"]["maxItems"] == MAX_BATCH


def test_a_body_over_the_byte_limit_is_413_as_declared(app_client, booking) -> None:
    body = b" " * (64 * 1024 + 1)
    response = app_client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    declared = app_client.get("/openapi.json").json()["paths"]["/predict"]["post"]["responses"]
    assert "413" in declared
    assert "422" in declared


def test_empty_batch_and_wrong_shapes(app_client, booking) -> None:
    empty = app_client.post("/predict/batch", json={"bookings": []})
    assert empty.status_code == 200
    assert empty.json()["predictions"] == []
    assert app_client.post("/predict/batch", json=[booking]).status_code == 422
    assert app_client.post("/predict/batch?reasons=perhaps", json={"bookings": []}).status_code == 422

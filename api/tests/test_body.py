"""Strict JSON bodies and bounded error answers (``api/body.py``, ``api/errors.py``)."""

from __future__ import annotations

import json

import pytest

from api.body import ShapeError, parse_json
from api.errors import QUOTE_CHARS


def _body(booking: dict, **extra: str) -> bytes:
    """A booking's JSON text with raw ``"key": value`` pairs appended (a repeated key, say)."""
    text = json.dumps(booking)[:-1]
    return (text + "".join(f', "{key}": {value}' for key, value in extra.items()) + "}").encode()


def test_a_repeated_key_is_a_422_naming_it(app_client, booking) -> None:
    response = app_client.post(
        "/predict", content=_body(booking, adults="3"), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["message"].startswith("adults: the key adults appears twice in one object")
    assert body["detail"][0]["field"] == "adults"


def test_a_repeated_key_inside_a_batch_booking_is_a_422(app_client, booking) -> None:
    content = (
        b'{"bookings": ['
        + json.dumps(booking).encode()
        + b", "
        + _body(booking, hotel='"City Hotel"')
        + b"]}"
    )
    response = app_client.post(
        "/predict/batch", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "the key hotel appears twice" in response.json()["message"]


def test_colons_inside_strings_are_no_repeated_key() -> None:
    """The fast check counts colons; a colon in a value sends it to the exact check, which passes."""
    payload = {"a": "10:30", "b": {"c": "x:y:z"}, "d": [{"e": ":"}]}
    assert parse_json(json.dumps(payload).encode()) == payload


@pytest.mark.parametrize(
    "text",
    [b'{"a": 1, "a": 2}', b'{"bookings": [{"x": {"y": 1, "y": 2}}]}', b'[{"k": 1}, {"k": 1, "k": 2}]'],
)
def test_a_repeated_key_at_any_depth_is_found(text: bytes) -> None:
    with pytest.raises(ShapeError, match="appears twice"):
        parse_json(text)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        (None, 415),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON", 200),
    ],
)
def test_only_a_body_sent_as_json_is_read(app_client, booking, content_type, expected) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = app_client.post("/predict", content=json.dumps(booking), headers=headers)
    assert response.status_code == expected, response.text
    if expected == 415:
        assert "Content-Type: application/json" in response.json()["detail"]


def test_a_huge_unknown_key_gets_a_small_answer(app_client, booking) -> None:
    key = "k" * 38_000_000
    response = app_client.post("/predict/batch", json={"bookings": [dict(booking, **{key: 1})]})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    detail = response.json()["detail"][0]
    assert detail["field"] == "k" * QUOTE_CHARS + "… (37,999,900 more characters)"
    assert "unknown field(s) " + "k" * QUOTE_CHARS + "…" in detail["msg"]


def test_a_bad_value_is_quoted_with_at_most_100_characters(app_client, booking) -> None:
    response = app_client.post("/predict/batch", json={"bookings": [dict(booking, hotel="Z" * 1_000_000)]})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    message = response.json()["message"]
    assert message.startswith("booking 0: hotel: must be one of: City Hotel, Resort Hotel (got 'ZZZ")
    assert message.count("Z") == QUOTE_CHARS - 1  # the quote mark is one of the 100
    assert "more characters)" in message

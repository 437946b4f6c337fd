"""What-if page: the booking it sends, what it shows of the answer, and an API that is down.

The answers come from a recording HTTP server playing the API's documented responses; the
end-to-end test (test_end_to_end.py) runs the same page against the real API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from data_engineering.src.ports import free_port
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.validate import records_to_columns, validate
from streamlit_apps.tests.helpers import messages, metrics, open_page

PAGE = "pages/what_if.py"
ANSWER: dict[str, Any] = {
    "request_id": "5f0c1d3e-test",
    "cancel_probability": 0.7312,
    "will_cancel": True,
    "threshold": 0.3064,
    "model_version": "3",
    "reasons": [
        {
            "feature": "deposit_type",
            "text": "Non-refundable deposit raises the risk",
            "direction": "raises",
            "contribution": 1.42,
            "probability_change": 0.21,
        },
        {
            "feature": "total_of_special_requests",
            "text": "No special requests raises the risk",
            "direction": "raises",
            "contribution": 0.35,
            "probability_change": 0.06,
            "note": "a field this page has never heard of",
        },
        {
            "feature": "lead_time",
            "text": "Booked 60 days ahead lowers the risk",
            "direction": "lowers",
            "contribution": -0.2,
            "probability_change": -0.04,
        },
    ],
}


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body: Any = ANSWER


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            recorder.requests.append({"path": self.path, "json": body, "key": self.headers.get("X-API-Key")})
            payload = json.dumps(recorder.body).encode()
            self.send_response(recorder.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args) -> None:  # keep pytest's output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join(5)


def submit(at):
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sends_the_api_key_it_is_given(api: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "dashboard-key-0123456789")
    submit(open_page(PAGE))
    assert [request["key"] for request in api.requests] == ["dashboard-key-0123456789"]


def test_sends_a_valid_booking_and_shows_the_answer(api: Recorder) -> None:
    at = open_page(PAGE)
    at.selectbox(key="deposit").set_value("Non Refund")
    at.number_input(key="lead_time").set_value(200)
    at.text_input(key="company").set_value("40")
    submit(at)

    assert len(api.requests) == 1
    sent = api.requests[0]
    assert sent["path"] == "/predict"
    assert sent["key"] is None  # no API_KEY: none sent
    booking = sent["json"]
    assert set(booking) == set(BOOKING_FIELDS)
    accepted = validate(records_to_columns([booking], BOOKING_FIELDS), BOOKING_FIELDS)
    assert not len(accepted.rejected), accepted.reasons  # what the API itself accepts
    assert booking["deposit_type"] == "Non Refund"
    assert booking["lead_time"] == 200
    assert booking["agent"] == 9
    assert booking["company"] == 40

    shown = metrics(at)
    assert shown["Cancellation probability"] == "73.1%"
    assert shown["Decision"] == "Will cancel"
    assert shown["Threshold"] == "0.306"
    assert shown["Model version"] == "3"
    reasons = at.dataframe[0].value
    assert reasons["text"].tolist() == [r["text"] for r in ANSWER["reasons"]]
    assert reasons["contribution"].tolist() == [1.42, 0.35, -0.2]
    assert "note" in reasons.columns  # unknown fields are shown, not dropped
    bullets = "\n".join(md.value for md in at.markdown)
    assert "- ▲ Non-refundable deposit raises the risk" in bullets
    assert "- ▼ Booked 60 days ahead lowers the risk" in bullets
    assert any("5f0c1d3e-test" in caption.value for caption in at.caption)


def test_a_stay_decision(api: Recorder) -> None:
    api.body = {**ANSWER, "cancel_probability": 0.081, "will_cancel": False, "reasons": []}
    at = submit(open_page(PAGE))
    assert metrics(at)["Decision"] == "Will stay"
    assert metrics(at)["Cancellation probability"] == "8.1%"
    assert "returned no reasons" in messages(at)


def test_reasons_without_words_are_spelled_out(api: Recorder) -> None:
    api.body = {
        **ANSWER,
        "reasons": [
            {"feature": "lead_time", "direction": "raises", "probability_change": 0.125},
            {"feature": "adr", "contribution": -0.5},
        ],
    }
    at = submit(open_page(PAGE))
    bullets = "\n".join(md.value for md in at.markdown)
    assert "- ▲ lead_time raises the risk (+12.5% probability)" in bullets
    assert "- • adr (-0.50 log-odds)" in bullets
    assert at.dataframe[0].value["feature"].tolist() == ["lead_time", "adr"]


def test_refused_booking_shows_the_apis_reason(api: Recorder) -> None:
    api.status = 422
    api.body = {
        "message": "invalid booking",
        "detail": [
            {"loc": ["body", "adr"], "msg": "Input should be less than or equal to 10000", "type": "x"}
        ],
    }
    at = submit(open_page(PAGE))
    assert "refused this booking** (HTTP 422): adr: Input should be less than or equal to 10000" in messages(
        at
    )
    assert not metrics(at)


def test_api_without_a_model(api: Recorder) -> None:
    api.status = 503
    api.body = {"detail": "no model loaded"}
    at = submit(open_page(PAGE))
    assert "no model to serve** (HTTP 503): no model loaded" in messages(at)


def test_invalid_form_input_is_not_sent(api: Recorder) -> None:
    at = open_page(PAGE)
    at.text_input(key="agent").set_value("travel agent")
    submit(at)
    assert api.requests == []
    assert "agent must be blank or a number" in messages(at)


def test_api_down_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{free_port()}")
    at = submit(open_page(PAGE))
    text = messages(at)
    assert "The prediction API is not reachable" in text
    assert "./cli.sh serve-api" in text
    assert not metrics(at)

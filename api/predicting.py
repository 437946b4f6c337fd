"""The service behind both predict routes: answer parsed bookings, count and record each answer.

``/predict`` and ``/predict/batch`` differ only in how bookings reach the model (one booking joins
the micro-batcher; a batch is scored whole, off the event loop) and in the envelope of their body.
Everything else is here, once: the body's shape (an object of known fields, or a batch of them),
the refusal of invalid bookings, each answer's fields, the decision
counters and the prediction log's row.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.responses import Response

from api.body import ShapeError, parse_json
from api.booking_schema import BOOKING_FIELD_SET, MAX_BATCH
from api.deps import Runtime
from api.errors import quote_all, refused_response, shape_response
from api.prediction_table import Row
from api.responses import json_response
from api.scoring import BookingAnswer, answer_bookings
from api.state import ServingState


def _booking(value: Any, loc: list[str | int]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ShapeError(loc, "a booking is a JSON object of its fields")
    unknown = sorted(set(value) - BOOKING_FIELD_SET)
    if unknown:
        raise ShapeError(
            [*loc, unknown[0]],
            f"unknown field(s) {quote_all(unknown)}: a booking has only its booking-time fields, "
            "booking_id and as_of (see the Booking schema at /docs)",
        )
    return value


def _bookings(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or "bookings" not in payload:
        raise ShapeError([], 'a batch is a JSON object {"bookings": [...]}')
    extra = sorted(set(payload) - {"bookings"})
    if extra:
        raise ShapeError([extra[0]], f"unknown field(s) {', '.join(extra)}: a batch has only 'bookings'")
    bookings = payload["bookings"]
    if not isinstance(bookings, list):
        raise ShapeError(["bookings"], "bookings must be a JSON array of bookings")
    if len(bookings) > MAX_BATCH:
        raise ShapeError(
            ["bookings"], f"at most {MAX_BATCH:,} bookings per call, got {len(bookings):,}: split the batch"
        )
    return [_booking(b, ["bookings", i]) for i, b in enumerate(bookings)]


def _item(request_id: str, answer: BookingAnswer) -> dict[str, Any]:
    """The fields every answered booking has, in both bodies."""
    return {
        "request_id": request_id,
        "booking_id": answer.booking_id,
        "as_of": answer.as_of,
        "cancel_probability": answer.probability,
        "will_cancel": answer.will_cancel,
    }


def _row(
    request_id: str,
    state: ServingState,
    answer: BookingAnswer,
    *,
    at: float,
    latency_ms: float,
    batch_id: str,
    size: int,
) -> Row:
    """The prediction log's record of one answered booking."""
    return (
        request_id,
        at,
        state.name,
        state.version,
        answer.logged,
        answer.probability,
        answer.will_cancel,
        state.threshold,
        latency_ms,
        batch_id,
        size,
    )


async def answer_one(runtime: Runtime, body: bytes, started: float) -> Response:
    """One booking, scored with the others that arrive meanwhile (``MicroBatcher``)."""
    try:
        booking = _booking(parse_json(body), [])
    except ShapeError as exc:
        return shape_response(exc.loc, exc.message)
    answer = await runtime.batcher.submit(booking)
    if answer.problems:
        return refused_response([0], [answer.problems], batch=False)
    state = answer.state
    assert state is not None  # an accepted answer names the state that scored it
    request_id = uuid.uuid4().hex
    latency_ms = (time.perf_counter() - started) * 1000.0
    # Recorded before it is counted or answered: a prediction that cannot be put on disk is a 503.
    runtime.prediction_log.submit(
        _row(request_id, state, answer, at=time.time(), latency_ms=latency_ms, batch_id=request_id, size=1)
    )
    runtime.metrics.decision[answer.will_cancel].inc()
    return json_response(
        {
            **_item(request_id, answer),
            "threshold": state.threshold,
            "model_version": state.version,
            "reasons": answer.reasons,
        }
    )


def answer_many(runtime: Runtime, state: ServingState, body: bytes, top: int, started: float) -> Response:
    """A batch, scored in one call on ``state`` (run off the event loop: 10,000 rows take ~0.1 s)."""
    try:
        bookings = _bookings(parse_json(body))
    except ShapeError as exc:
        return shape_response(exc.loc, exc.message)
    answers = answer_bookings(state, bookings, top)
    refused = [(i, a.problems) for i, a in enumerate(answers) if a.problems]
    if refused:
        return refused_response([i for i, _ in refused], [p for _, p in refused], batch=True)
    batch_id = uuid.uuid4().hex
    ids = [f"{batch_id}-{i}" for i in range(len(bookings))]
    cancels = sum(a.will_cancel for a in answers)
    runtime.metrics.decision[True].inc(cancels)
    runtime.metrics.decision[False].inc(len(answers) - cancels)
    items = [_item(ids[i], a) for i, a in enumerate(answers)]
    if top:
        for item, a in zip(items, answers, strict=True):
            item["reasons"] = a.reasons
    response = json_response(
        {
            "model_version": state.version,
            "threshold": state.threshold,
            "count": len(items),
            "predictions": items,
        }
    )
    latency_ms = (time.perf_counter() - started) * 1000.0
    now, size = time.time(), len(bookings)
    # Queued after the response is built: the writer thread wakes on it and would otherwise
    # contend for the GIL with this request's own serialization.
    runtime.prediction_log.submit_many(
        [
            _row(ids[i], state, a, at=now, latency_ms=latency_ms, batch_id=batch_id, size=size)
            for i, a in enumerate(answers)
        ]
    )
    return response

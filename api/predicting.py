"""The service behind both predict routes: answer parsed bookings, count and record each answer.

``/predict`` and ``/predict/batch`` differ only in how bookings reach the model (one booking joins
the micro-batcher; a batch is scored whole, off the event loop) and in the envelope of their body.
Everything else is here, once: the refusal of invalid bookings, each answer's fields, the decision
counters and the prediction log's row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from api.deps import Runtime
from api.errors import refused_response
from api.prediction_log import Row
from api.responses import json_response
from api.scoring import BookingAnswer, answer_bookings
from api.state import ServingState


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


async def answer_one(runtime: Runtime, booking: dict[str, Any], started: float) -> Response:
    """One booking, scored with the others that arrive meanwhile (``MicroBatcher``)."""
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


def answer_many(
    runtime: Runtime, state: ServingState, bookings: Sequence[dict[str, Any]], top: int, started: float
) -> Response:
    """A batch, scored in one call on ``state`` (run off the event loop: 10,000 rows take ~0.1 s)."""
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

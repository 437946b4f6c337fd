"""``POST /predict`` (one booking) and ``POST /predict/batch`` (up to 10,000).

Both read the raw body and validate it with pydantic-core's ``validate_json`` (one pass from
bytes to plain dicts), and return bytes pre-serialized by orjson: FastAPI's generic body parsing
and response encoding would cost more than the model. The OpenAPI schema is declared
explicitly (``openapi_extra`` for the bodies, ``response_model`` for the answers), so clients and
schemathesis see the real contract.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import Runtime, RuntimeDep, ServingDep
from api.errors import date_response, json_response, message_response, validation_response
from api.schemas import (
    BATCH_ADAPTER,
    BOOKING_ADAPTER,
    MAX_BATCH,
    BatchPrediction,
    Message,
    Prediction,
    ValidationErrorResponse,
    arrival_date_error,
)
from api.serving import ServingState

router = APIRouter(tags=["predict"])

# Generous bounds on the bytes read before validating: a booking is ~700 bytes of JSON.
MAX_BOOKING_BYTES = 64 * 1024
MAX_BATCH_BYTES = MAX_BATCH * 4 * 1024


class BodyTooLargeError(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing to hold more than ``limit`` bytes in memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _body(schema: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"required": True, "content": content}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrorResponse, "description": "A booking field is missing or invalid"},
    503: {"model": Message, "description": "No model is loaded"},
}


@router.post(
    "/predict",
    response_model=Prediction,
    summary="Cancellation risk of one booking, with its top reasons",
    openapi_extra=_body("Booking"),
    responses={**_ERRORS, 413: {"model": Message, "description": "Body larger than 64 KiB"}},
)
async def predict(request: Request, state: ServingDep, runtime: RuntimeDep) -> Response:
    started = time.perf_counter()
    try:
        body = await read_body(request, MAX_BOOKING_BYTES)
    except BodyTooLargeError:
        return message_response(413, f"a booking is at most {MAX_BOOKING_BYTES // 1024} KiB of JSON")
    try:
        booking = BOOKING_ADAPTER.validate_json(body)
    except ValidationError as exc:
        return validation_response(exc, batch=False)
    problem = arrival_date_error(booking)
    if problem is not None:
        return date_response([(None, problem)])
    scored = state.score(booking, runtime.settings.reasons)
    request_id = uuid.uuid4().hex
    latency_ms = (time.perf_counter() - started) * 1000.0
    runtime.prediction_log.submit(
        (
            request_id,
            time.time(),
            state.name,
            state.version,
            booking,
            scored.probability,
            scored.will_cancel,
            state.threshold,
            latency_ms,
        )
    )
    runtime.metrics.decision[scored.will_cancel].inc()
    return json_response(
        {
            "request_id": request_id,
            "cancel_probability": scored.probability,
            "will_cancel": scored.will_cancel,
            "threshold": state.threshold,
            "model_version": state.version,
            "reasons": scored.reasons,
        }
    )


@router.post(
    "/predict/batch",
    response_model=BatchPrediction,
    summary=f"Cancellation risk of up to {MAX_BATCH:,} bookings, in request order",
    openapi_extra=_body("BatchRequest"),
    responses={
        **_ERRORS,
        413: {"model": Message, "description": f"More than {MAX_BATCH:,} bookings"},
    },
)
async def predict_batch(
    request: Request,
    state: ServingDep,
    runtime: RuntimeDep,
    reasons: Annotated[bool, Query(description="add each booking's top reasons (slower)")] = False,
) -> Response:
    started = time.perf_counter()
    try:
        body = await read_body(request, MAX_BATCH_BYTES)
    except BodyTooLargeError:
        return message_response(
            413, f"at most {MAX_BATCH:,} bookings ({MAX_BATCH_BYTES // 2**20} MiB) per call: split the batch"
        )
    # Validation and scoring of 10,000 rows take ~0.1 s: off the event loop, so that health
    # checks and single predictions keep being answered meanwhile.
    top = runtime.settings.reasons if reasons else 0
    return await run_in_threadpool(_score_batch, body, state, runtime, top, started)


def _score_batch(body: bytes, state: ServingState, runtime: Runtime, top: int, started: float) -> Response:
    try:
        bookings = BATCH_ADAPTER.validate_json(body).bookings
    except ValidationError as exc:
        too_long = [
            e for e in exc.errors(include_url=False) if e["type"] == "too_long" and e["loc"] == ("bookings",)
        ]
        if too_long:
            got = too_long[0].get("ctx", {}).get("actual_length", "more")
            return message_response(
                413, f"at most {MAX_BATCH:,} bookings per call, got {got}: split the batch"
            )
        return validation_response(exc, batch=True)
    problems = [(i, p) for i, b in enumerate(bookings) if (p := arrival_date_error(b)) is not None]
    if problems:
        return date_response(problems)
    probabilities, explained = state.score_many(bookings, top)
    threshold = state.threshold
    probs = probabilities.tolist()
    decisions = (probabilities >= threshold).tolist()
    batch_id = uuid.uuid4().hex
    ids = [f"{batch_id}-{i}" for i in range(len(bookings))]
    latency_ms = (time.perf_counter() - started) * 1000.0
    now, name, version = time.time(), state.name, state.version
    cancels = sum(decisions)
    runtime.metrics.decision[True].inc(cancels)
    runtime.metrics.decision[False].inc(len(decisions) - cancels)
    if explained is None:
        items = [
            {"request_id": ids[i], "cancel_probability": probs[i], "will_cancel": decisions[i]}
            for i in range(len(bookings))
        ]
    else:
        items = [
            {
                "request_id": ids[i],
                "cancel_probability": probs[i],
                "will_cancel": decisions[i],
                "reasons": explained[i],
            }
            for i in range(len(bookings))
        ]
    response = json_response(
        {"model_version": version, "threshold": threshold, "count": len(items), "predictions": items}
    )
    # Queued after the response is built: the writer thread wakes on it and would otherwise
    # contend for the GIL with this request's own serialization.
    runtime.prediction_log.submit_many(
        [
            (ids[i], now, name, version, bookings[i], probs[i], decisions[i], threshold, latency_ms)
            for i in range(len(bookings))
        ]
    )
    return response

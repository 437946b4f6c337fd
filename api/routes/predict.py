"""``POST /predict`` (one booking) and ``POST /predict/batch`` (up to 10,000).

Both read the raw body, parse it with orjson, check its shape (an object; known fields only)
and hand the bookings to ``api.predicting`` (the service both share), which answers them with
``CancellationModel.answer`` (validation, the as-of day, features, probability, decision,
reasons) through ``scoring.answer_bookings``: one booking is a batch of one. Each booking may carry the hotel's ``booking_id`` and the ``as_of`` day to judge it as of
(default: its booking date); both are echoed. Answers
are bytes pre-serialized by orjson. The OpenAPI schema is declared explicitly
(``openapi_extra`` for the bodies, ``response_model`` and ``responses`` for the answers), so
clients and schemathesis see the real contract, every status included.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.body import BodyTooLargeError, ShapeError, parse_json, read_body
from api.deps import Runtime, RuntimeDep, ServingDep
from api.errors import message_response, quote_all, shape_response
from api.predicting import answer_many, answer_one
from api.schemas import (
    BOOKING_FIELD_SET,
    MAX_BATCH,
    BatchPrediction,
    Message,
    Prediction,
    ValidationErrorResponse,
)
from api.state import ServingState

router = APIRouter(tags=["predict"])

# Generous bounds on the bytes read before validating: a booking is ~700 bytes of JSON.
MAX_BOOKING_BYTES = 64 * 1024
MAX_BATCH_BYTES = MAX_BATCH * 4 * 1024


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


def _body(schema: str) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"requestBody": {"required": True, "content": content}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationErrorResponse,
        "description": "The body is not JSON of the declared shape, or a booking is invalid: a field is "
        "missing, out of range or not one of its categories, or the arrival date does not exist",
    },
    415: {"model": Message, "description": "The body is not sent as `Content-Type: application/json`"},
    503: {"model": Message, "description": "No model is loaded, or the prediction could not be recorded"},
}


@router.post(
    "/predict",
    response_model=Prediction,
    summary="Cancellation risk of one booking, with its top reasons",
    openapi_extra=_body("Booking"),
    responses={**_ERRORS, 413: {"model": Message, "description": "Body larger than 64 KiB"}},
)
async def predict(request: Request, runtime: RuntimeDep) -> Response:
    started = time.perf_counter()
    if runtime.holder.state is None:
        return message_response(503, "no model loaded yet")
    try:
        body = await read_body(request, MAX_BOOKING_BYTES)
    except BodyTooLargeError:
        return message_response(413, f"a booking is at most {MAX_BOOKING_BYTES // 1024} KiB of JSON")
    try:
        booking = _booking(parse_json(body), [])
    except ShapeError as exc:
        return shape_response(exc.loc, exc.message)
    return await answer_one(runtime, booking, started)


@router.post(
    "/predict/batch",
    response_model=BatchPrediction,
    summary=f"Cancellation risk of up to {MAX_BATCH:,} bookings, in request order",
    openapi_extra=_body("BatchRequest"),
    responses={
        **_ERRORS,
        413: {"model": Message, "description": f"Body larger than {MAX_BATCH_BYTES // 2**20} MiB"},
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
            413, f"at most {MAX_BATCH_BYTES // 2**20} MiB of JSON per call: split the batch"
        )
    # Validation and scoring of 10,000 rows take ~0.1 s: off the event loop, so that health
    # checks and single predictions keep being answered meanwhile.
    top = runtime.settings.reasons if reasons else 0
    return await run_in_threadpool(_answer_batch, body, state, runtime, top, started)


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


def _answer_batch(body: bytes, state: ServingState, runtime: Runtime, top: int, started: float) -> Response:
    try:
        bookings = _bookings(parse_json(body))
    except ShapeError as exc:
        return shape_response(exc.loc, exc.message)
    return answer_many(runtime, state, bookings, top, started)

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

from api.body import BodyTooLargeError, read_body
from api.booking_schema import MAX_BATCH
from api.deps import RuntimeDep, ServingDep
from api.errors import message_response
from api.predicting import answer_many, answer_one
from api.schemas import (
    BatchPrediction,
    Message,
    Prediction,
    ValidationErrorResponse,
)

router = APIRouter(tags=["predict"])

# Generous bounds on the bytes read before validating: a booking is ~700 bytes of JSON.
MAX_BOOKING_BYTES = 64 * 1024
MAX_BATCH_BYTES = MAX_BATCH * 4 * 1024


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
    return await answer_one(runtime, body, started)


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
    return await run_in_threadpool(answer_many, runtime, state, body, top, started)

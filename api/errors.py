"""One error format for every 4xx the API writes: ``{"message": ..., "detail": [...]}``.

``message`` is one sentence a person can act on ("booking 3: adults: Input should be less than
or equal to 100"); ``detail`` lists the problems for programs, each with its ``loc`` and, for
bookings, the ``index`` in the batch and the ``field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from data_engineering.src.validate import Problem

MAX_DETAILS = 50  # a body of 10,000 bad bookings must not produce a 100 MB error


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


def _sentence(item: dict[str, Any]) -> str:
    where = []
    if item.get("index") is not None:
        where.append(f"booking {item['index']}")
    if item.get("field") is not None:
        where.append(item["field"])
    if not where:
        where.append("request body" if len(item["loc"]) <= 1 else ".".join(map(str, item["loc"][1:])))
    return f"{': '.join(where)}: {item['msg']}"


def error_payload(items: Sequence[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    total = len(items) if total is None else total
    message = _sentence(items[0])
    if total > 1:
        message += f" (and {total - 1} more problem{'s' if total > 2 else ''})"
    return {"message": message, "detail": list(items[:MAX_DETAILS])}


def refused_response(
    indices: Sequence[int], details: Sequence[Sequence[Problem]], *, batch: bool
) -> Response:
    """422 naming each problem of each refused booking (its batch index and its field)."""
    items: list[dict[str, Any]] = []
    total = sum(len(problems) for problems in details)
    for index, problems in zip(indices, details, strict=True):
        for problem in problems:
            loc: list[str | int] = (
                ["body", "bookings", index, problem.field] if batch else ["body", problem.field]
            )
            item: dict[str, Any] = {
                "loc": loc,
                "msg": problem.message,
                "type": "invalid_booking",
                "field": problem.field,
            }
            if batch:
                item["index"] = index
            items.append(item)
            if len(items) >= MAX_DETAILS:
                break
        if len(items) >= MAX_DETAILS:
            break
    return json_response(error_payload(items, total), 422)


def shape_response(loc: Sequence[str | int], message: str) -> Response:
    """422 for a body that is not JSON of the declared shape."""
    item: dict[str, Any] = {"loc": ["body", *loc], "msg": message, "type": "invalid_body"}
    if len(loc) >= 2 and loc[0] == "bookings" and isinstance(loc[1], int):
        item["index"] = loc[1]
        if len(loc) >= 3:
            item["field"] = str(loc[2])
    elif loc and loc[0] != "bookings":
        item["field"] = str(loc[0])
    return json_response(error_payload([item]), 422)


def parameter_response(name: str, message: str) -> Response:
    """422 for a query parameter that is well formed but not acceptable (an unknown hotel, a
    range of nights that does not follow its as_of day)."""
    item = {"loc": ["query", name], "msg": message, "type": "invalid_parameter", "field": name}
    return json_response(error_payload([item]), 422)


def message_response(status_code: int, message: str) -> Response:
    return json_response({"detail": message}, status_code)


async def request_validation_handler(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's own parameter errors (e.g. ``?reasons=maybe``) in the same format as ours."""
    items = []
    for error in exc.errors()[:MAX_DETAILS]:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        item: dict[str, Any] = {
            "loc": loc,
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        if len(loc) == 2 and loc[0] in ("query", "path"):
            item["field"] = loc[1]  # the parameter, named as our own 422s name it
        items.append(item)
    if not items:
        items = [{"loc": [], "msg": "invalid request", "type": "value_error"}]
    return json_response(error_payload(items, len(exc.errors()) or 1), 422)

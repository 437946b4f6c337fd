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
from pydantic import ValidationError
from starlette.responses import Response

MAX_DETAILS = 50  # a body of 10,000 bad bookings must not produce a 100 MB error


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


def _item(error: dict[str, Any], batch: bool) -> dict[str, Any]:
    loc = list(error["loc"])
    item: dict[str, Any] = {"loc": ["body", *loc], "msg": error["msg"], "type": error["type"]}
    if batch and len(loc) >= 2 and loc[0] == "bookings" and isinstance(loc[1], int):
        item["index"] = loc[1]
        if len(loc) >= 3:
            item["field"] = str(loc[2])
    elif not batch and loc:
        item["field"] = str(loc[0])
    return item


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


def validation_response(exc: ValidationError, *, batch: bool) -> Response:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    items = [_item(error, batch) for error in errors[:MAX_DETAILS]]
    return json_response(error_payload(items, len(errors)), 422)


def date_response(problems: Sequence[tuple[int | None, str]]) -> Response:
    """422 for bookings whose arrival date does not exist: (batch index or None, message)."""
    items = []
    for index, message in problems[:MAX_DETAILS]:
        loc: list[str | int] = ["body", "arrival_date_day_of_month"]
        item: dict[str, Any] = {"loc": loc, "msg": message, "type": "date_not_found"}
        item["field"] = "arrival_date_day_of_month"
        if index is not None:
            item["loc"] = ["body", "bookings", index, "arrival_date_day_of_month"]
            item["index"] = index
        items.append(item)
    return json_response(error_payload(items, len(problems)), 422)


def message_response(status_code: int, message: str) -> Response:
    return json_response({"detail": message}, status_code)


async def request_validation_handler(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's own parameter errors (e.g. ``?reasons=maybe``) in the same format as ours."""
    items = []
    for error in exc.errors()[:MAX_DETAILS]:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        items.append({"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))})
    if not items:
        items = [{"loc": [], "msg": "invalid request", "type": "value_error"}]
    return json_response(error_payload(items, len(exc.errors()) or 1), 422)

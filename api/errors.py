"""One error format for every 4xx the API writes: ``{"message": ..., "detail": [...]}``.

``message`` is one sentence a person can act on ("booking 3: adults: Input should be less than
or equal to 100"); ``detail`` lists the problems for programs, each with its ``loc`` and, for
bookings, the ``index`` in the batch and the ``field``.

Error answers are bounded whatever the request held: at most ``MAX_DETAILS`` problems, and a
client's value (an unknown key, a bad value the validator quotes) shown with at most
``QUOTE_CHARS`` of its characters, then how many more there were. A 38 MB key gets a 1 KB answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from api.responses import json_response
from api.spill import NotRecordedError
from data_engineering.src.validate import Problem

MAX_DETAILS = 50  # a body of 10,000 bad bookings must not produce a 100 MB error
QUOTE_CHARS = 100  # of a client's value, in any error message
# Longest message, as the last guard: our own words plus a few quoted values fit well within it.
MAX_MESSAGE_CHARS = 2_000
QUOTED = " (got "  # how the validator quotes a value: "must be >= 0 (got -2)"


def quote(value: object) -> str:
    """A client's value as an error may show it: ``repr``, at most QUOTE_CHARS characters of it."""
    return clip(value if isinstance(value, str) else repr(value), QUOTE_CHARS)


def quote_all(values: Sequence[object], most: int = 5) -> str:
    """A few of a client's values, each quoted: "a, b, c, d, e and 995 more"."""
    shown = ", ".join(quote(value) for value in values[:most])
    return f"{shown} and {len(values) - most:,} more" if len(values) > most else shown


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def _bounded(message: str) -> str:
    """A message with its quoted value clipped (the validator's "(got ...)"), and clipped whole."""
    head, found, value = message.partition(QUOTED)
    if found and value.endswith(")"):
        message = f"{head}{QUOTED}{clip(value[:-1], QUOTE_CHARS)})"
    return clip(message, MAX_MESSAGE_CHARS)


def _bounded_item(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item, msg=_bounded(item["msg"]))
    out["loc"] = [clip(part, QUOTE_CHARS) if isinstance(part, str) else part for part in item["loc"]]
    if isinstance(item.get("field"), str):
        out["field"] = clip(item["field"], QUOTE_CHARS)
    return out


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
    items = [_bounded_item(item) for item in items[:MAX_DETAILS]]
    message = _sentence(items[0])
    if total > 1:
        message += f" (and {total - 1} more problem{'s' if total > 2 else ''})"
    return {"message": message, "detail": items}


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
    return json_response({"detail": clip(message, MAX_MESSAGE_CHARS)}, status_code)


async def not_recorded_handler(request: Request, exc: NotRecordedError) -> Response:
    """503 for a prediction that could not be put on disk: no answer unless it is recorded."""
    return message_response(503, f"the prediction was not answered because it could not be recorded: {exc}")


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

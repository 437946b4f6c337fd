"""Request bodies of the predict routes: read within a size limit, declared as JSON, parsed strictly.

- ``read_body``: a body not declared ``Content-Type: application/json`` is refused with 415
  (``UnsupportedMediaTypeError``, answered by the app's handler) before a byte of it is read; one
  larger than the route's limit with 413 (``BodyTooLargeError``), without holding more than the
  limit in memory.
- ``parse_json``: orjson (fast; NaN, Infinity and out-of-range numbers refused; nesting bounded),
  plus what orjson does not check: a key that appears twice in one object. orjson silently keeps
  the last value, other parsers the first, so such a body is ambiguous and refused with a 422
  naming the key. The check costs one ``bytes.count`` in the usual case: every key of a JSON
  document is followed by a colon, so when the document has no more colons than the parsed
  objects have keys, no key was lost; only otherwise (a colon inside a string, or a duplicate)
  is the body parsed again with the standard library, which reports each object's pairs.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from api.errors import message_response, quote

JSON_MEDIA_TYPE = "application/json"


class BodyTooLargeError(Exception):
    pass


class UnsupportedMediaTypeError(Exception):
    """The body is declared as something else than JSON (or not declared)."""


class ShapeError(ValueError):
    """The body is not JSON of the expected shape: (where, what)."""

    def __init__(self, loc: list[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, declared as JSON, refusing to hold more than ``limit`` bytes in memory."""
    declared_type = request.headers.get("content-type", "")
    media_type = declared_type.split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        given = f"not {quote(declared_type)}" if declared_type else "none was given"
        raise UnsupportedMediaTypeError(
            f"the body must be JSON, sent with Content-Type: {JSON_MEDIA_TYPE} ({given})"
        )
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


async def unsupported_media_type_handler(request: Request, exc: UnsupportedMediaTypeError) -> Response:
    return message_response(415, str(exc))


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; ShapeError when it is not JSON or repeats a key in an object."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ShapeError([], f"the body is not valid JSON ({exc})") from None
    if body.count(b":") != _keys(payload):
        key = _duplicate_key(body)
        if key is not None:
            raise ShapeError(
                [key],
                f"the key {quote(key)} appears twice in one object: a key may appear once (JSON parsers "
                "disagree on which of the values counts)",
            )
    return payload


def _keys(payload: Any) -> int:
    """Keys of the objects of a request body, down to the bookings of a batch (a lower bound of
    all its keys: a deeper object only sends the body to the exact check)."""
    if isinstance(payload, list):
        return sum(len(item) for item in payload if isinstance(item, dict))
    if not isinstance(payload, dict):
        return 0
    count = len(payload)
    for value in payload.values():
        if isinstance(value, list):
            count += sum(len(item) for item in value if isinstance(item, dict))
        elif isinstance(value, dict):
            count += len(value)
    return count


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return obj


def _duplicate_key(body: bytes) -> str | None:
    """The first key that appears twice in one object, or None (the standard library's parser,
    which hands each object's pairs over; orjson has already accepted the document)."""
    try:
        json.loads(body, object_pairs_hook=_refuse_duplicates)
    except _DuplicateKeyError as exc:
        return exc.key
    except RecursionError:  # deeper than Python's stack, within orjson's limit: no booking nests
        raise ShapeError([], "the body nests too deeply for a booking") from None
    except ValueError:  # a document orjson reads and this parser does not: nothing to say about keys
        return None
    return None

"""Every JSON answer the API writes, successful or not: bytes serialized once by orjson.

orjson is several times faster than the standard library and FastAPI's own encoder, and the routes
hand it plain dicts and lists, so nothing is validated a second time on the way out.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")

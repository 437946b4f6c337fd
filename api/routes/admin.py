"""``POST /admin/reload``: serve the model the registry now names, without a restart.

Guarded by the ``X-API-Key`` header, compared in constant time with ``API_ADMIN_KEY``. Without
that variable the route refuses every call: an admin route must never be open by default.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import RuntimeDep
from api.errors import message_response
from api.responses import json_response
from api.schemas import Message, ReloadResult

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger("api.admin")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="equal to API_ADMIN_KEY")


@router.post(
    "/reload",
    response_model=ReloadResult,
    summary="Re-resolve the champion alias (or MODEL_URI) and swap the served model atomically",
    responses={
        401: {"model": Message, "description": "X-API-Key header missing"},
        403: {"model": Message, "description": "Wrong key"},
        503: {"model": Message, "description": "Admin routes disabled (API_ADMIN_KEY unset) or no model"},
    },
)
async def reload_model(
    runtime: RuntimeDep, api_key: Annotated[str | None, Security(api_key_header)]
) -> Response:
    expected = runtime.settings.admin_key
    if expected is None or not expected.get_secret_value():
        return message_response(503, "admin routes are disabled: set API_ADMIN_KEY to enable them")
    if not api_key:
        response = message_response(401, "missing X-API-Key header")
        response.headers["WWW-Authenticate"] = "APIKey"
        return response
    if not hmac.compare_digest(api_key.encode(), expected.get_secret_value().encode()):
        log.warning("admin: reload refused (wrong key)")
        return message_response(403, "wrong X-API-Key")

    from data_science.tracking import NoModelError

    holder, config = runtime.holder, runtime.settings
    try:
        # Resolving and loading takes about a second: in a thread, while the old model serves.
        previous, state = await run_in_threadpool(holder.load, config.model_uri)
    except NoModelError as exc:
        log.error("admin: reload failed, still serving the previous model: %s", exc)
        runtime.metrics.model_load_failed.set(1)
        return message_response(503, f"reload failed, still serving the previous model: {exc}")
    runtime.metrics.model_load_failed.set(0)
    runtime.metrics.serving(state.name, state.version, previous)
    return json_response(
        {
            "previous_version": previous,
            "model_version": state.version,
            "changed": previous != state.version,
            "model": state.info,
        }
    )

"""``GET /health`` (the process answers), ``GET /ready`` (it can do its job) and ``GET /metrics``."""

from __future__ import annotations

import os

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import RuntimeDep
from api.errors import json_response
from api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="Liveness: the process is up")
async def health(runtime: RuntimeDep) -> Response:
    state = runtime.holder.state
    return json_response(
        {"status": "ok", "pid": os.getpid(), "model_version": state.version if state else None}
    )


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: a model is loaded and the prediction log's database is reachable",
    responses={503: {"model": Readiness, "description": "Not ready; `reasons` says why"}},
)
async def ready(runtime: RuntimeDep) -> Response:
    reasons = []
    state = runtime.holder.state
    if state is None:
        reasons.append("no model loaded")
    log = runtime.prediction_log
    status = log.status()
    reachable: bool | None = None  # not checked when the log is switched off
    if log.enabled:
        # A blocking connect (bounded by API_DB_TIMEOUT_SECONDS): off the event loop.
        check = await run_in_threadpool(log.check_database)
        reachable = check.reachable
        if check.problem:
            reasons.append(
                f"{check.problem} (prediction log: {status['queued']} queued, "
                f"{status['dropped']} dropped so far)"
            )
    payload = {
        "status": "not ready" if reasons else "ready",
        "reasons": reasons,
        "model_version": state.version if state else None,
        "database_reachable": reachable,
        "prediction_log": status,
    }
    return json_response(payload, 503 if reasons else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    body, content_type = runtime.metrics.render()
    return Response(body, media_type=content_type)

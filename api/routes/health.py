"""``GET /health`` (the process answers), ``GET /ready`` (it can do its job) and ``GET /metrics``."""

from __future__ import annotations

import os

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import RuntimeDep
from api.responses import json_response
from api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness: the process is up (restart it if this fails; route traffic on /ready)",
)
async def health(runtime: RuntimeDep) -> Response:
    state = runtime.holder.state
    return json_response(
        {"status": "ok", "pid": os.getpid(), "model_version": state.version if state else None}
    )


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness (the probe a load balancer or orchestrator should use): a model is loaded and "
    "the prediction log's database is reachable",
    responses={503: {"model": Readiness, "description": "Not ready; `reasons` says why"}},
)
async def ready(runtime: RuntimeDep) -> Response:
    reasons = []
    holder = runtime.holder
    state, failure = holder.state, holder.failure
    if state is None:
        reasons.append(f"no model loaded: {failure.reason}" if failure else "no model loaded yet")
    log = runtime.prediction_log
    status = log.status()
    reachable: bool | None = None  # not checked when the log is switched off
    if log.enabled:
        # A blocking connect (bounded by API_DB_TIMEOUT_SECONDS): off the event loop.
        check = await run_in_threadpool(log.check_database)
        reachable = check.reachable
        if check.problem:
            reasons.append(
                f"{check.problem} (prediction log: {status['queued']} answered predictions on disk, "
                "stored once it is back)"
            )
        if status["queued"] >= runtime.settings.log_queue_size:
            reasons.append(
                f"the prediction log is full ({status['queued']:,} waiting): new predictions get 503"
            )
    payload = {
        "status": "not ready" if reasons else "ready",
        "reasons": reasons,
        "model_version": state.version if state else None,
        # Serving an older version because the registry's newer one does not load: still ready
        # (taking every replica out would stop the service), but said here and in /metrics.
        "model_load_failure": failure.as_json() if failure else None,
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

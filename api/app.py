"""The FastAPI application: ``create_app(settings)``; ``api.main:app`` is the one uvicorn serves.

Start-up loads the model named by ``MODEL_URI`` (default ``models:/hotel-cancellation@champion``)
and starts the prediction-log writer. The ASGI entry point handles two things itself, before
FastAPI's routing:

- the lifespan protocol, so that a missing model ends start-up with one clear line (what to
  run) instead of Starlette's traceback, and uvicorn exits non-zero;
- request metrics (count by route/method/status, latency), as a pure ASGI wrapper: Starlette's
  ``BaseHTTPMiddleware`` would add a task and a queue per request.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.types import Message, Receive, Scope, Send

from api.deps import Runtime
from api.docs import add_docs
from api.errors import request_validation_handler
from api.metrics import Metrics
from api.prediction_log import PredictionLog
from api.routes import admin, forecast, health, model, predict
from api.schemas import batch_schema, booking_schema
from api.serving import ChampionWatcher, MicroBatcher, ModelHolder
from api.settings import Settings, get_settings


class StartupError(RuntimeError):
    """Start-up cannot go on; the message says what to do."""


class HotelAPI(FastAPI):
    runtime: Runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await super().__call__(scope, receive, send_with_status)
        finally:
            self.runtime.metrics.observe_request(
                scope["path"], scope["method"], status, time.perf_counter() - started
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            self.startup()
        except StartupError as exc:
            # The server logs this message and exits non-zero (uvicorn: "Application startup
            # failed. Exiting."): one line that says what to run, no traceback.
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    def startup(self) -> None:
        """Start the log writer and load the model; raises StartupError with what to do."""
        from data_science.hotels import HotelsFileError, load_hotels
        from data_science.model import ModelBundleError
        from data_science.tracking import NoModelError

        runtime = self.runtime
        try:
            runtime.hotels = load_hotels()  # a bad capacity file stops the start, naming what is wrong
        except HotelsFileError as exc:
            raise StartupError(
                f"cannot start the API: {exc} (HOTEL_CAPACITY_FILE chooses the capacity file)"
            ) from None
        runtime.prediction_log.start()
        settings = runtime.settings
        try:
            _, state = runtime.holder.load(settings.model_uri)
        except (NoModelError, ModelBundleError) as exc:  # no model, or one for another vocabulary
            runtime.prediction_log.stop(timeout=0)
            raise StartupError(f"cannot start the API: {exc}") from None
        runtime.metrics.serving(state.name, state.version)
        runtime.watcher.start()
        # Loading imported MLflow and its dependencies: hundreds of thousands of long-lived
        # objects that every full garbage collection would walk again, in a pause of tens of
        # milliseconds landing on some request. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()

    def shutdown(self) -> None:
        self.runtime.watcher.stop()
        self.runtime.prediction_log.stop(timeout=5.0)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request bodies the predict routes read themselves."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        # Generated from the column spec, as the validator the routes call is.
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Booking"] = booking_schema()
        components["BatchRequest"] = batch_schema()
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> HotelAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    prediction_log = PredictionLog(
        settings.resolved_database_url(),
        enabled=settings.prediction_log,
        queue_size=settings.log_queue_size,
        batch_size=settings.log_batch_size,
        flush_seconds=settings.log_flush_seconds,
        retry_max_seconds=settings.log_retry_max_seconds,
        timeout_seconds=settings.db_timeout_seconds,
        on_written=metrics.log_written.inc,
        on_dropped=metrics.log_dropped.inc,
        on_failed=metrics.log_failed.inc,
    )
    app = HotelAPI(
        docs_url=None,  # served by api.docs from installed files, not FastAPI's CDN pages
        redoc_url=None,
        title="Hotel booking cancellation API",
        version="1.0.0",
        description=(
            "Cancellation risk of hotel bookings from the registered champion model, with the "
            "reasons behind each prediction. Every prediction is logged to the `predictions` table."
        ),
    )
    holder = ModelHolder()
    watcher = ChampionWatcher(
        holder,
        model_uri=settings.model_uri,
        every_seconds=settings.model_refresh_seconds,
        on_change=lambda new, previous: metrics.serving(new.name, new.version, previous),
    )
    batcher = MicroBatcher(
        holder, top=settings.reasons, max_batch=settings.micro_batch, on_batch=metrics.micro_batch.observe
    )
    app.runtime = Runtime(settings, holder, prediction_log, metrics, watcher, batcher)
    app.state.runtime = app.runtime
    # Starlette types handlers as taking any Exception; this one is registered for its own class.
    app.add_exception_handler(RequestValidationError, request_validation_handler)  # type: ignore[arg-type]
    for module in (predict, forecast, model, health, admin):
        app.include_router(module.router)
    add_docs(app)
    # FastAPI's documented way to customise the schema: replace the instance's openapi method.
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app

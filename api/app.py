"""The FastAPI application: ``create_app(settings)``; ``api.main:app`` is the one uvicorn serves.

Start-up loads the model named by ``MODEL_URI`` (default ``models:/hotel-cancellation@champion``)
and starts the prediction-log writer. The ASGI entry point handles two things itself, before
FastAPI's routing:

- the lifespan protocol: a model that cannot be loaded ends start-up with one clear line (why,
  and what to run) and uvicorn exits non-zero, unless the model is not required
  (``API_REQUIRE_MODEL``, off in development): then the API starts, ``/ready`` answers 503 with
  the reason and the champion watcher loads a model once it can. Any other start-up error is
  logged with its traceback and fails the start too: none is swallowed;
- request metrics (count by route/method/status, latency), as a pure ASGI wrapper: Starlette's
  ``BaseHTTPMiddleware`` would add a task and a queue per request;
- the API key of ``/predict`` and ``/predict/batch`` (``API_KEYS``, ``API_KEYS_FILE``; header
  ``X-API-Key``): a request without a current key gets a 401 before any route reads its body.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.types import Message, Receive, Scope, Send

from api.auth import HEADER as KEY_HEADER
from api.batcher import MicroBatcher
from api.body import UnsupportedMediaTypeError, unsupported_media_type_handler
from api.booking_schema import batch_schema, booking_schema
from api.deps import Runtime
from api.docs import add_docs
from api.errors import message_response, not_recorded_handler, request_validation_handler
from api.estimate import EstimateWatch
from api.loading import ModelHolder
from api.metrics import Metrics
from api.prediction_log import PredictionLog
from api.routes import admin, forecast, health, model, predict
from api.settings import MetricsSettings, Settings, get_settings
from api.spill import NotRecordedError
from api.watcher import ChampionWatcher
from data_engineering.src.settings import SettingsError

# The routes API keys guard: /predict, /predict/batch and /forecast (it reads the bookings).
GUARDED_PREFIXES = ("/predict", "/forecast")
KEY_HEADER_BYTES = KEY_HEADER.lower().encode()  # ASGI header names arrive lower-cased
log = logging.getLogger("api.app")


class StartupError(RuntimeError):
    """Start-up cannot go on; the message says what to do."""


class HotelAPI(FastAPI):
    runtime: Runtime
    keys_problem: str | None = None  # why the API keys are unusable (start-up then fails with it)
    # Lifespans running on this app: a test client entered inside another one (schemathesis in
    # the session's client) must neither start it twice nor stop it under the outer one.
    _lifespans: int = 0

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
            if scope["path"].startswith(GUARDED_PREFIXES) and not self._key_accepted(scope):
                refusal = message_response(401, f"missing or unknown API key (header {KEY_HEADER})")
                refusal.headers["WWW-Authenticate"] = "APIKey"
                await refusal(scope, receive, send_with_status)
                return
            await super().__call__(scope, receive, send_with_status)
        finally:
            self.runtime.metrics.observe_request(
                scope["path"], scope["method"], status, time.perf_counter() - started
            )

    def _key_accepted(self, scope: Scope) -> bool:
        keys = self.runtime.keys
        if keys is None:  # unusable settings: such an app never starts, and lets nothing through
            return False
        presented = next((v for k, v in scope["headers"] if k == KEY_HEADER_BYTES), None)
        return keys.allows(presented.decode("latin-1") if presented is not None else None)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            if not self._lifespans:
                self.startup()
        except StartupError as exc:
            # The server logs this message and exits non-zero (uvicorn: "Application startup
            # failed. Exiting."): one line that says what to run, no traceback.
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        except Exception as exc:
            # Not one we foresaw: its traceback in the log, and the start fails. Letting it
            # escape would make uvicorn decide that the app "does not support lifespan" and
            # serve without a model, answering 503 for ever.
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": f"cannot start the API: {exc!r}"})
            return
        self._lifespans += 1
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        self._lifespans -= 1
        if not self._lifespans:
            self.shutdown()
        await send({"type": "lifespan.shutdown.complete"})

    def startup(self) -> None:
        """Start the log writer and load the model; raises StartupError with what to do."""
        from data_science.hotels import HotelsFileError, load_hotels

        runtime = self.runtime
        try:
            runtime.hotels = load_hotels()  # a bad capacity file stops the start, naming what is wrong
        except HotelsFileError as exc:
            raise StartupError(
                f"cannot start the API: {exc} (HOTEL_CAPACITY_FILE chooses the capacity file)"
            ) from None
        if runtime.keys is None:  # the keys could not be read when the app was made
            raise StartupError(f"cannot start the API: {self.keys_problem}")
        try:
            runtime.prediction_log.start()
        except OSError as exc:
            raise StartupError(f"cannot start the API: the prediction log's spill folder: {exc}") from None
        try:
            self._load_model()
        except BaseException:
            runtime.prediction_log.stop(timeout=0)  # its spill stays for the next start
            raise
        runtime.watcher.start()
        runtime.estimate.start()
        # Loading imported MLflow and its dependencies: hundreds of thousands of long-lived
        # objects that every full garbage collection would walk again, in a pause of tens of
        # milliseconds landing on some request. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()

    def _load_model(self) -> None:
        from data_science.tracking import NoModelError

        runtime, settings = self.runtime, self.runtime.settings
        try:
            _, state = runtime.holder.load(settings.model_uri)
        except NoModelError as exc:  # none registered, the registry down, or one that cannot load
            if settings.model_required():
                raise StartupError(f"cannot start the API: {exc}") from None
            log.warning(
                "starting without a model (API_REQUIRE_MODEL is off): %s; /ready says so until one loads", exc
            )
            runtime.metrics.model_load_failed.set(1)
        else:
            runtime.metrics.serving(state.name, state.version)

    def shutdown(self) -> None:
        self.runtime.estimate.stop()
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
        if isinstance(app, HotelAPI) and app.runtime.keys is not None and app.runtime.keys.enforced:
            _declare_keys(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _declare_keys(schema: dict[str, Any]) -> None:
    """The key the ASGI layer asks of /predict*, as OpenAPI says it (only where one is asked)."""
    schema["components"]["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER, "description": "one of API_KEYS"}
    }
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith(GUARDED_PREFIXES):
            continue
        for operation in operations.values():
            operation["security"] = [{"ApiKey": []}]
            operation.setdefault("responses", {})["401"] = {
                "description": "X-API-Key missing or not one of the current keys",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}},
            }


def create_app(settings: Settings | None = None) -> HotelAPI:
    settings = settings or get_settings()
    metrics = Metrics(multiprocess=MetricsSettings().multiproc_dir is not None)
    estimate = EstimateWatch(
        window=settings.estimate_window,
        minimum=settings.estimate_min_answers,
        floor=settings.estimate_roc_auc_floor,
        every_seconds=settings.estimate_seconds,
        on_judgement=metrics.estimate,
    )
    prediction_log = PredictionLog(
        settings.resolved_database_url(),
        spill_dir=settings.spill_dir(),
        enabled=settings.prediction_log,
        queue_size=settings.log_queue_size,
        batch_size=settings.log_batch_size,
        flush_seconds=settings.log_flush_seconds,
        retry_max_seconds=settings.log_retry_max_seconds,
        timeout_seconds=settings.db_timeout_seconds,
        on_written=metrics.log_written.inc,
        on_refused=metrics.log_refused.inc,
        on_failed=metrics.log_failed.inc,
        on_queued=metrics.log_queue.set,
        on_answered=estimate.answered if settings.estimate_seconds > 0 else lambda rows: None,
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
        on_failure=lambda failure: metrics.model_load_failed.set(0 if failure is None else 1),
    )
    batcher = MicroBatcher(
        holder, top=settings.reasons, max_batch=settings.micro_batch, on_batch=metrics.micro_batch.observe
    )
    app.runtime = Runtime(settings, holder, prediction_log, metrics, watcher, batcher, estimate)
    try:
        app.runtime.keys = settings.api_keys()
    except SettingsError as exc:  # reported by start-up, where the server says why it stops
        app.keys_problem = str(exc)
    app.state.runtime = app.runtime
    # Starlette types handlers as taking any Exception; this one is registered for its own class.
    app.add_exception_handler(RequestValidationError, request_validation_handler)  # type: ignore[arg-type]
    app.add_exception_handler(NotRecordedError, not_recorded_handler)  # type: ignore[arg-type]
    app.add_exception_handler(UnsupportedMediaTypeError, unsupported_media_type_handler)  # type: ignore[arg-type]
    for module in (predict, forecast, model, health, admin):
        app.include_router(module.router)
    add_docs(app)
    # FastAPI's documented way to customise the schema: replace the instance's openapi method.
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app

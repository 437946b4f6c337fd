"""``./cli.sh serve-api [--host H] [--port P] [--workers N]``: run the API under uvicorn.

Before uvicorn starts: the API keys are checked (a missing one ends the command naming it), the
prediction log's table is migrated (``alembic upgrade head``; an
unreachable database is reported and the API starts anyway — it predicts without it and the log
catches up), and with several workers the model is resolved once, so that a missing champion
ends the command with one clear line instead of N workers failing.

``--require-model`` (the default unless ``APP_ENV`` is ``local`` or ``test``) makes a start
without a loadable model exit 1 with the reason; ``--no-require-model`` starts anyway, ``/ready``
answering 503 with the reason until the champion watcher loads one.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
from typing import Any

from api.settings import HOST_DEFAULT, PORT_DEFAULT, Settings
from data_engineering.src.arguments import PortUnavailableError, check_can_listen, port, positive_int
from data_engineering.src.environment import export

APP = "api.main:app"


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["api"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def prepare(prog: str, *, check_model: bool) -> Settings | None:
    """What every server process would otherwise each do, or fail at, once: the API keys are
    checked, the prediction log's table migrated and, when several processes will start
    (``check_model``), the model resolved. None (after one line on stderr) when they must not start."""
    import sqlalchemy as sa

    from api.migrate import upgrade
    from api.settings import get_settings
    from data_engineering.src.messages import first_line, masked
    from data_engineering.src.settings import SettingsError

    try:
        settings = get_settings()
        settings.api_keys()
        url = settings.resolved_database_url()
    except SettingsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return None
    shown = masked(url)
    if settings.prediction_log:
        try:
            upgrade(url)
            print(f"{prog}: prediction log -> {shown} (table predictions up to date)", file=sys.stderr)
        except sa.exc.OperationalError as exc:
            print(
                f"{prog}: warning: prediction log database {shown} unreachable ({first_line(exc)}); "
                "serving anyway, the log is written once it is back",
                file=sys.stderr,
            )
    if check_model:
        from api.loading import load_state
        from data_science.tracking import NoModelError

        try:
            load_state(settings.model_uri)
        except NoModelError as exc:
            if settings.model_required():
                print(f"{prog}: error: cannot start the API: {exc}", file=sys.stderr)
                return None
            print(f"{prog}: warning: starting without a model: {exc}", file=sys.stderr)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh serve-api", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--host", default=HOST_DEFAULT, help=f"interface to listen on (default {HOST_DEFAULT})"
    )
    parser.add_argument("--port", type=port, default=PORT_DEFAULT, help=f"port (default {PORT_DEFAULT})")
    parser.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: /metrics counts them)"
    )
    parser.add_argument(
        "--require-model",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="exit 1 when no model can be loaded at start (default: on unless APP_ENV is local or test; "
        "API_REQUIRE_MODEL)",
    )
    ns = parser.parse_args(argv)
    if ns.require_model is not None:  # the workers read it from their settings
        export(API_REQUIRE_MODEL="true" if ns.require_model else "false")

    import uvicorn

    try:
        check_can_listen(ns.host, ns.port)  # a taken port ends the command before any start-up work
    except PortUnavailableError as exc:
        print(f"serve-api: error: {exc}", file=sys.stderr)
        return 1
    if prepare("serve-api", check_model=ns.workers > 1) is None:
        return 1
    multiproc_dir = None
    if ns.workers > 1:
        # Each worker writes its metrics here and /metrics adds them up (prometheus_client's
        # multiprocess mode); removed when the server stops.
        multiproc_dir = tempfile.mkdtemp(prefix="hotel-api-metrics-")
        export(PROMETHEUS_MULTIPROC_DIR=multiproc_dir)
    try:
        uvicorn.run(
            APP,
            host=ns.host,
            port=ns.port,
            workers=ns.workers,
            loop="uvloop",
            http="httptools",
            access_log=ns.access_log,
            log_config=_log_config(),
            timeout_graceful_shutdown=10,
            # "on", not uvicorn's "auto": a start-up that fails in an unforeseen way must stop the
            # server, not make uvicorn serve on without the app's start-up (and without a model).
            lifespan="on",
        )
    except SystemExit as exc:  # uvicorn's exit 3: start-up failed, the reason is logged above
        return 1 if exc.code else 0
    finally:
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

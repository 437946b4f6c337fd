"""``./cli.sh start-mlflow-ui [--port P]``: the MLflow UI over the store the pipeline writes.

The store is the pipeline's own (``MLFLOW_TRACKING_URI`` when it is a database URL, else the
workspace's ``mlflow.db``), with new experiments' artifacts in the workspace's ``mlartifacts/``.
A tracking server (an http(s) URI) already has its UI: the command says to open it instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from data_engineering.src.arguments import PortUnavailableError, check_can_listen, port
from data_engineering.src.messages import masked_uri
from data_engineering.src.paths import MLFLOW_ARTIFACTS_DEFAULT
from data_engineering.src.settings import SettingsError
from data_science.tracking import tracking_uri

HOST = "127.0.0.1"
PORT_DEFAULT = 5000


def main(argv: list[str] | None = None) -> int:  # noqa: RET503 - ends in execv, which never returns
    parser = argparse.ArgumentParser(prog="./cli.sh start-mlflow-ui", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=port, default=PORT_DEFAULT, help=f"port (default {PORT_DEFAULT})")
    ns = parser.parse_args(argv)
    try:
        backend = tracking_uri()
    except SettingsError as exc:
        print(f"start-mlflow-ui: error: {exc}", file=sys.stderr)
        return 1
    if backend.startswith(("http://", "https://")):
        print(
            f"start-mlflow-ui: error: MLFLOW_TRACKING_URI points at a server ({masked_uri(backend)}): "
            "open it in a browser instead",
            file=sys.stderr,
        )
        return 1
    try:
        # `mlflow server` exits 0 even when its server could not bind: check the port first.
        check_can_listen(HOST, ns.port)
    except PortUnavailableError as exc:
        print(f"start-mlflow-ui: error: {exc}", file=sys.stderr)
        return 1
    print(
        f"MLflow UI on http://{HOST}:{ns.port} (backend {masked_uri(backend)}); Ctrl-C stops it", flush=True
    )
    mlflow = Path(sys.executable).parent / "mlflow"  # this environment's, not whichever is on PATH
    argv = [str(mlflow), "server", "--backend-store-uri", backend]
    argv += ["--default-artifact-root", str(MLFLOW_ARTIFACTS_DEFAULT), "--host", HOST]
    argv += ["--port", str(ns.port), "--workers", "1"]
    os.execv(mlflow, argv)  # noqa: S606 - becomes the server, as cli.sh's `exec` did (never returns)


if __name__ == "__main__":
    sys.exit(main())

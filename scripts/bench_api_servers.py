"""The servers ``bench-api`` compares: each started as a subprocess pinned to the server core,
its readiness awaited, its CPU time read from /proc (the process and all its descendants)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_engineering.src.environment import child_environment, prepended_search_path
from data_engineering.src.ports import free_port, wait_for_server

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SERVER_CORE, CLIENT_CORE = 1, 0
API_KEY = secrets.token_urlsafe(24)  # this run's key of our API (outside development one is required)


def _pin_to_server_core() -> None:
    os.sched_setaffinity(0, {SERVER_CORE})


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending, seen = 0.0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: Path | None = None

    def start(self, log_dir: Path, *, pin: bool) -> None:
        self.log = log_dir / f"{self.name}.log"
        env = child_environment(**{"PATH": prepended_search_path("PATH", VENV_BIN), **self.env})
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pin_to_server_core if pin else None,  # noqa: PLW1509 - affinity only
            )

    def wait_ready(self, timeout: float = 240.0) -> float:
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        if wait_for_server(url, self.process, timeout, interval=0.2):
            return time.monotonic() - started
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log.read_text()[-3000:]}")

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


def build_servers(model_dir: Path, work: Path, model_uri: str, tracking: dict[str, str]) -> list[Server]:
    """The four servers of the comparison (xgboost flavour saved from the champion's booster)."""
    import mlflow.xgboost
    import pandas as pd
    from mlflow.models import infer_signature

    from data_science.model import CancellationModel
    from data_science.model_bundle import BOOSTER_FILE

    model = CancellationModel.load(model_dir)
    flavour = work / "xgboost-flavour"
    # As an MLflow user logs a booster: with a signature (all doubles), so that a JSON null
    # (a category the encoder never saw) arrives as NaN, the booster's missing value.
    example = pd.DataFrame(np.zeros((2, len(model.feature_names))), columns=model.feature_names)
    mlflow.xgboost.save_model(
        model.booster, str(flavour), model_format="ubj", signature=infer_signature(example)
    )
    mlflow_serve = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-w",
        "1",
    ]
    ports = [free_port() for _ in range(4)]
    uvicorn = [
        str(VENV_BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
    ]
    return [
        Server(
            "bare",
            [*uvicorn, "--port", str(ports[0]), "--factory", "scripts.bench_bare_app:create_app"],
            ports[0],
            "/ping",
            {"BENCH_BOOSTER": str(model_dir / BOOSTER_FILE)},
        ),
        Server(
            "xgboost", [*mlflow_serve, "-m", str(flavour), "-p", str(ports[1])], ports[1], "/ping", tracking
        ),
        Server("pyfunc", [*mlflow_serve, "-m", model_uri, "-p", str(ports[2])], ports[2], "/ping", tracking),
        Server(
            "api",
            [sys.executable, "-m", "api.launcher", "--port", str(ports[3]), "--workers", "1"],
            ports[3],
            "/ready",
            # API_REASONS and the rest come from the settings as for any serve-api (inherited);
            # the key is the run's own, sent with every request, as a booking engine would.
            {**tracking, "API_PREDICTION_LOG": "true", "API_KEYS": API_KEY},
        ),
    ]

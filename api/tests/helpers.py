"""Helpers of the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

import calendar
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest
import sqlalchemy as sa

from api.booking_schema import bookings_as_json
from api.settings import Settings
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port, wait_for_server
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.validate import validate
from data_science.model import CancellationModel
from data_science.pyfunc import HotelCancellationPyfunc
from data_science.tracking import BUNDLE_ARTIFACT, CHAMPION, MODEL_NAME, resolve

# The prediction log's writer (api/prediction_log.py names its thread so): the one thread that
# may reach the database on behalf of answered predictions.
LOG_WRITER_THREAD = "prediction-log"


@contextmanager
def connection_attempts() -> Iterator[Counter[str]]:
    """Database connection attempts of every engine of this process while inside, by the name of
    the thread that made them. Counted before the driver is called, so attempts that fail (a
    stopped server) count too."""
    attempts: Counter[str] = Counter()

    def count(*_: object) -> None:
        attempts[threading.current_thread().name] += 1

    sa.event.listen(sa.Engine, "do_connect", count)
    try:
        yield attempts
    finally:
        sa.event.remove(sa.Engine, "do_connect", count)


def answered_without_the_database(attempts: Counter[str], ready: Callable[[], object]) -> None:
    """``attempts`` (counted while predictions were answered) came from the log's writer only; and
    ``ready()`` (a /ready, which checks the database on a request thread) is counted, so the
    counter does see request threads: it would have caught a prediction that waited for one."""
    during = Counter(attempts)
    assert set(during) <= {LOG_WRITER_THREAD}, f"requests tried the database: {dict(during)}"
    ready()
    others = {name: n for name, n in attempts.items() if name != LOG_WRITER_THREAD}
    assert others, "the /ready check was not counted: the counter sees no request thread"


def logged_counts(url: str, ids: Sequence[str | None]) -> Counter[str]:
    """How many rows of the predictions table each of these request ids has (absent: none)."""
    from api.prediction_table import predictions

    engine = sa.create_engine(url)
    found: Counter[str] = Counter()
    try:
        with engine.connect() as conn:
            for start in range(0, len(ids), 1000):
                query = sa.select(predictions.c.request_id).where(
                    predictions.c.request_id.in_(ids[start : start + 1000])
                )
                found.update(conn.execute(query).scalars())
    finally:
        engine.dispose()
    return found


def logged_ids(url: str, ids: Sequence[str | None]) -> set[str]:
    """Which of these request ids are in the predictions table."""
    return set(logged_counts(url, ids))


def json_bookings(raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Bookings of a text frame (as ``pd.read_csv(dtype=str)`` reads the file), validated, as a
    JSON client sends them."""
    import pyarrow as pa

    validated = validate({c: pa.array(raw[c].tolist(), pa.string()) for c in BOOKING_FIELDS}, BOOKING_FIELDS)
    return bookings_as_json(validated.columns)


def run_command(module: str, *args: str, env: dict[str, str]) -> str:
    """``python -m module args`` as ``./cli.sh`` runs it (from the repository root, with ``env``
    over this environment and no ``APP_ENV``), which must succeed; its output."""
    full = {k: v for k, v in os.environ.items() if k != "APP_ENV"} | env
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{module} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def load_bookings(url: str, source: Path, workspace: Path) -> str:
    """``./cli.sh initialize-data db`` of ``source`` into ``url`` (the pipeline's version, as a user
    runs it); its output."""
    env = {"DATABASE_URL": url, "HOTEL_BOOKINGS_SOURCE": str(source), "HOTEL_WORKSPACE": str(workspace)}
    return run_command("data_engineering.src.initialize_data", "db", env=env)


def text_dates(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(arrival, booking date) of bookings as the file's text has them (year, English month name,
    day; lead time), computed here with pandas, not with the platform's date helpers."""
    months = {name: number for number, name in enumerate(calendar.month_name) if name}
    arrival = pd.to_datetime(
        {
            "year": rows["arrival_date_year"].astype(int),
            "month": rows["arrival_date_month"].map(months),
            "day": rows["arrival_date_day_of_month"].astype(int),
        }
    )
    return arrival, arrival - pd.to_timedelta(rows["lead_time"].astype(int), unit="D")


def on_the_books(rows: pd.DataFrame, day: dt.date) -> pd.Series:
    """Which bookings of a file's text were on the books at the end of ``day``: made by then,
    arriving later, not cancelled (nor marked a no-show) on or before it."""
    arrival, booked = text_dates(rows)
    left = rows["reservation_status"].isin(["Canceled", "No-Show"]) & (
        pd.to_datetime(rows["reservation_status_date"]) <= pd.Timestamp(day)
    )
    books: pd.Series = (booked <= pd.Timestamp(day)) & (arrival > pd.Timestamp(day)) & ~left
    return books


def api_settings(log_url: str, **overrides: Any) -> Settings:
    """Explicit settings, so that a developer's API_* variables cannot change a test."""
    values: dict[str, Any] = {
        "model_uri": f"models:/{MODEL_NAME}@{CHAMPION}",
        "database_url": log_url,
        "admin_key": None,
        "reasons": 3,
        "prediction_log": True,
        "log_flush_seconds": 0.05,
        "log_retry_max_seconds": 0.5,
        "db_timeout_seconds": 2.0,
        "model_refresh_seconds": 0,  # tests that want the champion watcher say so
        "estimate_seconds": 0,  # ... and those that want the estimated ROC AUC of the answers
        "keys": None,  # /predict open: the key tests set keys themselves
        "keys_file": None,
        "require_key": False,
    }
    return Settings(**(values | overrides))


def inherited() -> dict[str, str]:
    """This process's environment for a server it starts (the session's MLFLOW_TRACKING_URI
    included), minus MLFLOW_REGISTRY_URI: mlflow.set_registry_uri writes it into os.environ, and a
    child given another tracking store must not keep this process's registry."""
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_REGISTRY_URI"}


def start_server(port: int, env: dict[str, str], *args: str, repo: Path = REPO_ROOT) -> subprocess.Popen:
    """``python -m api.launcher`` of ``repo`` (this checkout, or a copy sharing its environment) as
    ./cli.sh serve-api runs it, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.launcher", "--port", str(port), *args],
        cwd=repo,
        # /predict open unless the test sets keys (outside development a key is required).
        env={**inherited(), "API_REQUIRE_KEY": "false", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def haproxy_or_skip() -> str:
    path = shutil.which("haproxy")
    if path is None:
        message = "haproxy is not installed (apt-get install haproxy)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def start_cluster(port: int, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``python -m api.cluster`` (what ./cli.sh serve-cluster runs), output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "api.cluster", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**inherited(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def start_up_failure(env: dict[str, str], *args: str) -> tuple[int, str]:
    """A server expected to refuse to start: its exit code and everything it printed."""
    server = start_server(free_port(), env, *args)
    try:
        output, _ = server.communicate(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
    return server.returncode, output


def promote_a_new_version(
    tmp_path: Path, threshold: float, damage: Callable[[Path], None] | None = None, source: str | None = None
) -> str:
    """Register a second version (the champion's bundle with another threshold) and make it
    the champion, as the pipeline would after a better training run; ``damage`` may spoil the
    saved bundle's folder first (the registry then holds a version that must not be served).
    ``source``: the model URI whose bundle is copied (default: the champion)."""
    work = Path(tempfile.mkdtemp(prefix="promote-", dir=tmp_path))
    bundle = CancellationModel.load(resolve(source, dst=work / "current").local_dir)
    bundle.threshold = threshold
    bundle.save(work / "bundle")
    if damage is not None:
        damage(work / "bundle")
    mlflow.set_tracking_uri(mlflow.get_tracking_uri())
    experiment = mlflow.get_experiment_by_name(MODEL_NAME)
    assert experiment is not None, f"no {MODEL_NAME} experiment: train first"
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=HotelCancellationPyfunc(),
            artifacts={BUNDLE_ARTIFACT: str(work / "bundle")},
            registered_model_name=MODEL_NAME,
            pip_requirements=["mlflow"],
        )
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return version


class Traffic:
    """Clients predicting one booking in a loop until the ``with`` block ends: each request on a
    new connection (the kernel hands connections to either worker), or with ``keep_alive`` on
    one connection per client (several times the load). ``answers`` holds (wall-clock time,
    status, model version): status 0 is a transport error, with its repr as version. Wall-clock,
    so that times the registry records (epoch milliseconds) compare."""

    def __init__(
        self,
        url: str,
        booking: dict[str, Any],
        clients: int = 4,
        pause: float = 0.0,
        headers: dict[str, str] | None = None,
        *,
        keep_alive: bool = False,
    ) -> None:
        self.url, self.booking, self.pause = url, booking, pause
        self.headers, self.keep_alive = headers or {}, keep_alive
        self.answers: list[tuple[float, int, str | None]] = []
        self.request_ids: list[str] = []  # of every prediction answered (200)
        self._stop = threading.Event()
        self._clients = [threading.Thread(target=self._keep_predicting) for _ in range(clients)]

    def _keep_predicting(self) -> None:
        # httpx's module functions open a connection per call; a Client keeps one alive.
        with httpx.Client(timeout=30) as client:
            post = client.post if self.keep_alive else httpx.post
            self._predict(post)

    def _predict(self, post: Callable[..., httpx.Response]) -> None:
        while not self._stop.is_set():
            try:
                response = post(f"{self.url}/predict", json=self.booking, headers=self.headers, timeout=30)
                version = None
                if response.status_code == 200:
                    answer = response.json()
                    version = answer["model_version"]
                    self.request_ids.append(answer["request_id"])
                self.answers.append((time.time(), response.status_code, version))
            except httpx.TransportError as exc:
                self.answers.append((time.time(), 0, repr(exc)))
            self._stop.wait(self.pause)  # light traffic leaves the CPU to what runs beside it

    def __enter__(self) -> Traffic:
        for client in self._clients:
            client.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for client in self._clients:
            client.join()

    def statuses(self) -> dict[int, int]:
        """How many answers had each status."""
        return dict(Counter(status for _, status, _ in self.answers))

    def switched_to(self, version: str, since: float, last: int = 200) -> bool:
        """Were the last ``last`` answers, all given after ``since``, from ``version`` only?"""
        recent = [answer for at, _, answer in self.answers[-last:] if at > since]
        return len(recent) >= last and set(recent) == {version}

    def switch_seconds(self, old_version: str, since: float) -> float:
        """Seconds from ``since`` to the last answer still given by ``old_version``."""
        return max(0.0, max(at for at, _, answer in self.answers if answer == old_version) - since)


def wait_ready(server: subprocess.Popen[str], url: str, timeout: float = 90, route: str = "/ready") -> None:
    """Until ``url``/ready (or ``route``: /health) answers 200; fails with the server's output if it
    exits first."""

    if not wait_for_server(f"{url}{route}", server, timeout, interval=0.2):
        assert server.poll() is None, f"server exited:\n{server.stdout.read() if server.stdout else ''}"
        raise AssertionError(f"server not answering {route} in time")


def stop_server(server: subprocess.Popen[str]) -> str:
    """Terminate it (SIGTERM, as a deployment does) and return everything it printed."""
    server.terminate()
    try:
        output, _ = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    return output


def switch_lines(output: str, version: str) -> list[str]:
    """The log lines of workers that found ``version`` on their own (one per worker process)."""
    return [line for line in output.splitlines() if f"to {version}: now serving it" in line]


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin folder."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "pg_ctl").exists()), None)


@dataclass
class Cluster:
    """A private PostgreSQL cluster a test may stop and start (the ``cluster`` fixture)."""

    bin: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str, check: bool = True) -> None:
        # initdb refuses to run as root: the server runs as postgres, the tests as themselves.
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True, timeout=60
        )

    def init(self) -> None:
        self._pg(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "log.txt")
        self._pg(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l", log, "-w", "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-m",
            mode,
            "-w",
            "stop",
            check=mode == "fast",
        )

"""Which engine scores a batch: this process (``python``, the default) or Spark (``--engine spark``).

``predict-batch`` and ``score-db`` take ``--engine`` and ``--spark-master`` from here. Nothing of
pyspark is imported until a Spark session is asked for, so the default engine needs no pyspark
(an optional dependency group: ``./cli.sh sync --spark``) and no Java. Before the JVM starts, what
would otherwise end in a Java stack trace or a minute's wait is told in one line
(``SparkUnavailableError``): pyspark or Java missing, a master that cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import socket
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field

from data_engineering.src.environment import export, library_defaults, prepended_search_path, search_path
from data_engineering.src.messages import first_line
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.settings import HotelSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("python", "spark")
DEFAULT_MASTER = "local[*]"
CONNECT_SECONDS = 10.0  # per master address: a cluster's master answers at once or not at all
JAVA_HINT = (
    "install a Java 17 or 21 runtime (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
)
LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
PYSPARK_HINT = "install it with ./cli.sh sync --spark (the optional spark dependency group)"


class SparkUnavailableError(RuntimeError):
    """Spark cannot run here: the message says what to install or which master failed."""


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="python",
        help="score in this process (python, default) or with Spark through the registered model's "
        "mlflow.pyfunc.spark_udf (spark)",
    )
    parser.add_argument(
        "--spark-master",
        metavar="URL",
        help=f"Spark master for --engine spark (default {DEFAULT_MASTER}: every core of this machine)",
    )


def check_engine_arguments(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    """A master without the Spark engine is a usage error (exit 2), not silently ignored."""
    if ns.spark_master is not None and ns.engine != "spark":
        parser.error("--spark-master needs --engine spark")


class JavaSettings(HotelSettings):
    """Java's own variable, read to say what to install before Spark's launcher would fail on it."""

    reads_env_file = False  # the JVM's launcher reads the process environment only

    java_home: str | None = Field(  # as given: the message quotes it
        None,
        validation_alias="JAVA_HOME",
        description="the Java runtime `--engine spark` starts (Java's own variable)",
        json_schema_extra={"default_shown": "the `java` on `PATH`"},
    )


def _java(home: str | None) -> str | None:
    if home:
        return str(Path(home) / "bin" / "java") if (Path(home) / "bin" / "java").is_file() else None
    return shutil.which("java")


def _master_addresses(master: str) -> list[tuple[str, int]]:
    """The (host, port) pairs a master URL names: ``spark://h1:p1,h2:p2`` (standalone, with
    standby masters) or ``k8s://https://host:port``; none for local, yarn and the like."""
    if master.startswith("spark://"):
        pairs = []
        for address in master.removeprefix("spark://").split(","):
            parts = urlsplit(f"//{address}")
            pairs.append((parts.hostname or "", parts.port or 7077))
        return pairs
    if master.startswith("k8s://"):
        parts = urlsplit(master.removeprefix("k8s://"))
        return [(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))]
    return []


def check_spark(master: str | None = None) -> None:
    """Raise ``SparkUnavailableError`` when pyspark or Java is missing or the master is unreachable.

    The master is tried with a plain TCP connection first: Spark's own client would retry its
    registration for a minute and more before giving up, with a stack trace."""
    master = master or DEFAULT_MASTER
    try:
        import pyspark  # noqa: F401 (only whether it imports)
    except ImportError:
        raise SparkUnavailableError(f"pyspark is not installed: {PYSPARK_HINT}") from None
    home = JavaSettings().java_home
    if _java(home) is None:
        where = f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH"
        raise SparkUnavailableError(f"Spark needs Java and there is none ({where}): {JAVA_HINT}")
    for host, port in _master_addresses(master):
        try:
            with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
                pass
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise SparkUnavailableError(
                f"the Spark master {master} cannot be reached ({host}:{port}: {reason})"
            ) from None


def _environment(master: str) -> None:
    """What Spark's processes inherit when the JVM starts (later changes do not reach them)."""
    # The Python workers run this interpreter (the system one has no pandas) and import this
    # checkout's packages; a cluster sets its own (PYSPARK_PYTHON on the executors).
    library_defaults(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    if str(REPO_ROOT) not in search_path("PYTHONPATH"):
        export(PYTHONPATH=prepended_search_path("PYTHONPATH", REPO_ROOT))
    if master.startswith("local"):
        # Local mode talks to itself: never through the machine's outward address.
        library_defaults(SPARK_LOCAL_IP="127.0.0.1")


@contextmanager
def spark_session(master: str | None = None, app_name: str = "hotel-cancellation") -> Iterator[SparkSession]:
    """A Spark session on ``master`` (default ``local[*]``), stopped on exit.

    A session already running in this process (a test module's) is used as it is and left running.
    """
    master = master or DEFAULT_MASTER
    check_spark(master)
    # pyspark 4.3 warns at every pandas conversion that pandas >= 3 is "not fully supported":
    # the paths used here are tested under pandas 3 (data_science/tests/test_spark_batch.py).
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    # MLflow advises env_manager="conda" at every spark_udf: here the workers run this very
    # environment (env_manager="local"), which is the point.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    logging.getLogger("mlflow.models.flavor_backend_registry").setLevel(logging.WARNING)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    _environment(master)
    try:
        session = (
            SparkSession.builder.master(master)
            .appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            # Python workers forked with this project's packages imported (see the module).
            .config("spark.python.daemon.module", "data_science.spark_daemon")
            .getOrCreate()
        )
    except Exception as exc:  # the JVM's own failure (a bad master URL...): one line, not its trace
        raise SparkUnavailableError(f"Spark did not start on {master}: {first_line(exc)}") from None
    try:
        yield session
    finally:
        session.stop()

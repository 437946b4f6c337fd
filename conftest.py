"""Fixtures shared by every component's tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_engineering.src.messages import first_line
from data_engineering.src.paths import FAULT_RESULTS_DIR, REPO_ROOT, SHARED_BOOKINGS
from data_engineering.src.settings import DatabaseSettings

# pytester: scripts/tests/test_tiers.py collects small trees of tests under this file's hooks.
pytest_plugins = ("pytester",)

# ---------------------------------------------------------------- tiers (./cli.sh test TIER)
#
# Every test belongs to exactly one tier, so `-m TIER` runs each once and `all` (no -m) runs them
# all. A module or test may name its tier (`pytestmark = pytest.mark.e2e`); otherwise it is read
# from what the test uses, which pytest knows before it runs anything (the fixture closure).
TIERS = ("unit", "integration", "e2e", "model", "data")
# Fixtures that start PostgreSQL schemas, run the pipeline's stages as subprocesses or copy the
# checkout to run cli.sh there: a test that requests one (directly or through another fixture)
# is an integration test.
INTEGRATION_FIXTURES = frozenset(
    {
        "pg_url",
        "pg_readonly_url",
        "new_schema",
        "pg_schema",
        "trained_workspace",
        "run_module",
        "repo_copy",
        "repo_cli",
        "repo_env",
        "checkout_copy",
    }
)
# Markers older than the tiers that say the same: they need the database, train or start servers,
# or break a running service.
INTEGRATION_MARKERS = frozenset({"postgres", "slow", "fault"})
E2E_FOLDERS = (REPO_ROOT / "infra" / "e2e",)  # the Docker stack (./cli.sh docker-check)


def tier_of(item: pytest.Item) -> str:
    """The tier a collected test belongs to: its own marker, else by folder and fixtures."""
    named = [tier for tier in TIERS if item.get_closest_marker(tier) is not None]
    if len(named) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked with several tiers: {named}")
    if named:
        return named[0]
    if any(item.path.is_relative_to(folder) for folder in E2E_FOLDERS):
        return "e2e"
    uses = set(getattr(item, "fixturenames", ()))
    marks = {mark.name for mark in item.iter_markers()}
    if uses & INTEGRATION_FIXTURES or marks & INTEGRATION_MARKERS:
        return "integration"
    return "unit"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hotel", "tiers of the hotel-cancellation tests")
    group.addoption(
        "--model-uri",
        default=None,
        help="the model the `model` tests judge (models:/NAME@ALIAS, runs:/..., a folder); "
        "default: the champion of a pipeline run on synthetic bookings",
    )
    group.addoption(
        "--data-file",
        default=None,
        help="the raw bookings file (CSV, .csv.gz) the `data` tests check; default: synthetic bookings",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))


def _unavailable(reason: str) -> None:
    """Under CI a missing service is a failure, never a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must start it: ./cli.sh setup-db test)")
    pytest.skip(reason)


def _recorded_test_url(field: str) -> str | None:
    """The URL ``./cli.sh setup-db test`` recorded in ``.env.test`` (never DATABASE_URL's)."""
    secret = getattr(DatabaseSettings.recorded("test"), field)
    return secret.get_secret_value() if secret else None


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the test PostgreSQL started by ``./cli.sh setup-db test``."""
    import sqlalchemy as sa

    url = os.environ.get("TEST_DATABASE_URL") or _recorded_test_url("database_url")
    if not url:
        _unavailable("no test database: run ./cli.sh setup-db test")
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
    except sa.exc.OperationalError as exc:
        _unavailable(f"test database not reachable: {first_line(exc)}")
    return url


@contextmanager
def fresh_schema(pg_url: str, prefix: str = "t") -> Iterator[str]:
    """The PostgreSQL URL with a new schema as its search_path: other tests never see its rows.
    Dropped, with everything in it, on exit."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def new_schema(pg_url: str) -> Callable[..., AbstractContextManager[str]]:
    """``with new_schema("prefix") as url:`` a schema of one's own in the test PostgreSQL."""
    return lambda prefix="t": fresh_schema(pg_url, prefix)


@pytest.fixture
def pg_schema(new_schema: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    """The test PostgreSQL's URL with a schema of this test's own (its search_path), dropped after."""
    with new_schema() as url:
        yield url


@pytest.fixture(scope="session")
def pg_readonly_url(pg_url: str) -> str:
    url = os.environ.get("TEST_DATABASE_URL_READONLY") or _recorded_test_url("database_url_readonly")
    if not url:
        _unavailable("no read-only URL for the test database")
    return url


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Settings read ``.env.<ENV>`` files from a temporary folder, and no variable of the
    developer's shell counts. Returns ``record(env, **values)``: writes ``.env.ENV`` there in the
    format ``./cli.sh setup-db`` uses."""
    from data_engineering.src import settings
    from scripts.settings_table import variables  # every settings variable, as CLI_DOCS.md lists them

    monkeypatch.setattr(settings, "ENV_FILE_DIR", tmp_path)
    for name, *_ in variables():
        monkeypatch.delenv(name, raising=False)

    def record(env: str, **values: str) -> Path:
        path = tmp_path / f".env.{env}"
        lines = [f"# Written by ./cli.sh setup-db {env}.", f"APP_ENV={env}", "POSTGRES_PORT=55432"]
        path.write_text("\n".join(lines + [f"{k}={v}" for k, v in values.items()]) + "\n")
        return path

    return record


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace: commands run in subprocesses write their data here, not in the repo."""
    monkeypatch.setenv("HOTEL_WORKSPACE", str(tmp_path))
    for name in ("DATABASE_URL", "DATABASE_URL_READONLY", "APP_ENV", "HOTEL_BOOKINGS_SHA256"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def run_module():
    """Run ``python -m module args`` the way cli.sh does (from the repo root), capturing output."""

    def run(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    return run


# FAULT_RESULTS_DIR: where fault-suite cases record their figures (one JSON file per case); the
# README's "Reliability" table is generated from them (scripts/reliability_table.py).


@pytest.fixture
def fault_case(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """Record one fault-suite case: ``record(case=..., sent=..., kept=..., lost=..., detail=...)``.

    ``case`` is the fault in a few words ("PostgreSQL outage under load"), ``sent`` what went in
    (requests, rows), ``kept`` what came out intact, ``lost`` what did not; ``detail`` the other
    figures worth a reader's time (timings, memory, the message a user saw).
    """

    def record(*, case: str, sent: int, kept: int, lost: int, detail: str = "") -> Path:
        results = Path(os.environ.get("HOTEL_FAULT_RESULTS", FAULT_RESULTS_DIR))
        results.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
        path = results / f"{name}.json"
        entry = {"test": request.node.nodeid, "case": case, "sent": sent, "kept": kept, "lost": lost}
        path.write_text(json.dumps({**entry, "detail": detail}, indent=1) + "\n")
        return path

    return record


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real 103,505-row extract, when it sits beside the repo (never committed)."""
    if not SHARED_BOOKINGS.exists():
        pytest.skip(f"real dataset not found at {SHARED_BOOKINGS}")
    return SHARED_BOOKINGS


@dataclass(frozen=True)
class TrainedWorkspace:
    """A workspace where the real pipeline ran on synthetic bookings and registered a champion."""

    root: Path
    source: Path  # the synthetic raw CSV it was trained on
    tracking_uri: str

    def env(self) -> dict[str, str]:
        return {"HOTEL_WORKSPACE": str(self.root), "MLFLOW_TRACKING_URI": self.tracking_uri}


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory) -> TrainedWorkspace:
    """Runs initialize-data (ingest and transform), the later stages of dvc.yaml and the register
    step as subprocesses (as DVC and dvc-init-pipeline would) once per session."""
    from data_engineering.src.dvc_stages import read_stages
    from data_engineering.src.synthetic import write_bookings

    root = tmp_path_factory.mktemp("trained")
    source = write_bookings(root / "source" / "bookings.csv", 6000, seed=11)
    workspace = TrainedWorkspace(root, source, f"sqlite:///{root / 'mlflow.db'}")
    env = {
        **os.environ,
        **workspace.env(),
        "HOTEL_BOOKINGS_SOURCE": str(source),
        "DATABASE_URL": f"sqlite:///{root / 'data.sqlite'}",
    }
    stages = [stage.module for stage in read_stages()]
    later = stages[stages.index("data_engineering.src.transform") + 1 :]
    for module, *args in (
        ("data_engineering.src.initialize_data", "csv"),  # the version params.yaml names
        *((module,) for module in later),
        ("data_science.register",),
    ):
        result = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"{module} failed:\n{result.stdout}\n{result.stderr}"
    return workspace


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout's files (tracked or not ignored) sharing its .venv environments.

    End-to-end tests run the real commands there, so they never touch this checkout's data,
    models or MLflow store.
    """
    return copy_checkout(tmp_path_factory.mktemp("repo") / "hotel")


@pytest.fixture(scope="session")
def checkout_copy() -> Callable[[Path], Path]:
    """``copy_checkout``, for a test that needs copies of its own (in folders it names)."""
    return copy_checkout


def copy_checkout(target: Path) -> Path:
    """``repo_copy``'s work: this checkout's files at ``target``, a new git repository there."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for venv in (".venv", ".venv-airflow"):
        if (REPO_ROOT / venv).exists():
            (target / venv).symlink_to(REPO_ROOT / venv)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    return target


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point a subprocess at this checkout's state."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "HOTEL_WORKSPACE",
            # mlflow.set_tracking_uri / set_registry_uri (tracking.configure) write both into
            # os.environ: a test that configured MLflow in-process would point a child at its store.
            "MLFLOW_TRACKING_URI",
            "MLFLOW_REGISTRY_URI",
            "DATABASE_URL",
            "DATABASE_URL_READONLY",
            "APP_ENV",
        )
    }
    return env | {"HOTEL_SKIP_SYNC": "1"} | extra


@pytest.fixture(scope="session")
def repo_env() -> Callable[..., dict[str, str]]:
    """``clean_env``, for tests that start a repository copy's servers themselves."""
    return clean_env


@pytest.fixture(scope="module")
def repo_cli():
    """Run ``cli.sh`` of a repository copy with a clean environment plus ``env``."""

    def run(repo: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 900):
        return subprocess.run(
            ["bash", str(repo / "cli.sh"), *args],
            cwd=repo,
            env=clean_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run

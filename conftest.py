"""The test tiers and the fixtures shared by every component's tests (the larger groups: tests_support/)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from data_engineering.src.paths import FAULT_RESULTS_DIR, REPO_ROOT, SHARED_BOOKINGS

# pytester: scripts/tests/test_tiers.py collects small trees of tests under this file's hooks.
# The fixture groups of the test PostgreSQL, the trained pipeline and the checkout's copies are
# plugins of tests_support/, loaded here so that every component's tests can request them.
pytest_plugins = (
    "pytester",
    "tests_support.postgres",
    "tests_support.pipeline",
    "tests_support.checkout",
)

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

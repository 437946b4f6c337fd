"""Copies of this checkout where end-to-end tests run the real commands, and the clean environment
they run them in."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT


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

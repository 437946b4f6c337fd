"""The register step (``./cli.sh register``): once per model in each registry, whoever runs it.

Run as the pipeline runs it (``python -m data_science.register`` in the workspace the stages wrote),
against copies of the session's registry or new ones, never the session's own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import mlflow
import pytest

from data_science.tracking import CHAMPION, MODEL_NAME
from tests_support.pipeline import TrainedWorkspace


@pytest.fixture
def register(trained_workspace: TrainedWorkspace, run_module) -> Callable[[Path], CompletedProcess[str]]:
    """``python -m data_science.register`` in the session's workspace, against the registry ``store``."""
    return lambda store: run_module(
        "data_science.register", env=trained_workspace.env() | {"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    )


def registry(store: Path) -> tuple[list[str], str]:
    """The registry's versions of the model, and the champion's."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}", registry_uri=f"sqlite:///{store}")
    versions = sorted((str(v.version) for v in client.search_model_versions(f"name='{MODEL_NAME}'")), key=int)
    return versions, str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version)


def test_registering_the_same_model_again_registers_nothing(
    trained_workspace: TrainedWorkspace, register: Callable[[Path], CompletedProcess[str]], tmp_path: Path
) -> None:
    store = tmp_path / "mlflow.db"
    shutil.copy(trained_workspace.root / "mlflow.db", store)  # the fixture registered the model once
    before = registry(store)
    again = register(store)
    assert again.returncode == 0, again.stderr
    assert f"{MODEL_NAME} version {before[1]} is this model already" in again.stdout
    assert registry(store) == before == (["1"], "1")


def test_outputs_restored_from_cache_reach_a_new_registry_once(
    register: Callable[[Path], CompletedProcess[str]], tmp_path: Path
) -> None:
    """DVC restores a stage's outputs without running it: the step registers from the files alone."""
    store = tmp_path / "new.db"
    first = register(store)
    assert first.returncode == 0, first.stderr
    assert f"registered {MODEL_NAME} version 1 as {CHAMPION} (first registered model)" in first.stdout
    assert registry(store) == (["1"], "1")
    second = register(store)
    assert second.returncode == 0, second.stderr
    assert "nothing registered, no alias moved" in second.stdout
    assert registry(store) == (["1"], "1")

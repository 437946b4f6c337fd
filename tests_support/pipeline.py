"""The real pipeline run once per session on synthetic bookings, with its registered champion."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT


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

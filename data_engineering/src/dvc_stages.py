"""The pipeline's stages, read from ``dvc.yaml``: the one place they are listed.

The Airflow DAG, ``./cli.sh dvc-repro`` and the test fixtures take the stage list from here, so a
stage added to ``dvc.yaml`` is a stage everywhere. This file imports nothing from the project
(only PyYAML): the DAG loads it by path in Airflow's own environment.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

# data_engineering/src/dvc_stages.py -> the repository root, where dvc.yaml lives.
DVC_FILE = Path(__file__).resolve().parents[2] / "dvc.yaml"


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str
    deps: tuple[str, ...]

    @property
    def module(self) -> str:
        """The module the stage runs: every stage's command is ``python -m MODULE``."""
        words = self.cmd.split()
        if words[:2] != ["python", "-m"] or len(words) != 3:
            raise ValueError(f"stage {self.name}: expected `python -m MODULE`, got `{self.cmd}`")
        return words[2]


def read_stages(dvc_file: Path = DVC_FILE) -> tuple[Stage, ...]:
    """The stages in ``dvc.yaml``'s order (the order they run in)."""
    stages = yaml.safe_load(dvc_file.read_text())["stages"]
    return tuple(
        Stage(name, entry["cmd"], tuple(str(dep) for dep in entry.get("deps", [])))
        for name, entry in stages.items()
    )


def stage_names(dvc_file: Path = DVC_FILE) -> tuple[str, ...]:
    return tuple(stage.name for stage in read_stages(dvc_file))


if __name__ == "__main__":  # for cli.sh: the names, one line
    print(" ".join(stage_names()))
    sys.exit(0)

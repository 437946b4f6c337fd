"""Typed access to ``params.yaml``: each stage reads only its own section.

DVC decides what to rerun from the params each stage lists in ``dvc.yaml``; reading one section
per stage keeps the code honest about that list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from data_engineering.src.paths import PARAMS_FILE

ModelT = TypeVar("ModelT", bound=BaseModel)


class ParamsError(RuntimeError):
    """params.yaml is missing, malformed or holds a value of the wrong type."""


def read_section(section: str, model: type[ModelT], params_file: Path = PARAMS_FILE) -> ModelT:
    """Parse ``params_file[section]`` into ``model``, with an error that names the bad key."""
    try:
        document = yaml.safe_load(params_file.read_text()) or {}
    except FileNotFoundError as exc:
        raise ParamsError(f"{params_file} not found") from exc
    except yaml.YAMLError as exc:
        raise ParamsError(f"{params_file} is not valid YAML: {exc}") from exc
    raw = document.get(section)
    if raw is None:
        raise ParamsError(f"{params_file} has no '{section}' section")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{section}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ParamsError(f"bad value in {params_file}: {problems}") from exc

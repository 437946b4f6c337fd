"""The process environment: the one module besides ``settings`` that touches ``os.environ``.

Settings are read through the pydantic-settings classes of ``settings`` (and their subclasses);
what is left of the environment is what this process hands on, and this module does all of it:

- ``child_environment``: the environment a child process is started with (this one's, plus
  overrides), and ``prepended_search_path`` for the ``PATH``/``PYTHONPATH`` it may need;
- ``library_defaults``: process-wide switches of the libraries we use (OpenMP, MLflow, PySpark),
  which read them from the environment themselves; a value the user exported wins;
- ``export``: values this process sets for the children that inherit its environment (uvicorn's
  workers, Airflow's components), overriding what was there.

A test (``scripts/tests/test_configuration.py``) fails on any other ``os.environ`` use outside
the tests. Standard library only and nothing done at import: Airflow's own environment
(``.venv-airflow``) imports it through ``infra/airflow/launch.py``.
"""

from __future__ import annotations

import os
from pathlib import Path


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with ``overrides``: what a child process is started with."""
    return {**os.environ, **overrides}


def search_path(variable: str) -> list[str]:
    """The entries of a search-path variable (``PATH``, ``PYTHONPATH``); none when it is unset."""
    value = os.environ.get(variable)
    return value.split(os.pathsep) if value else []


def prepended_search_path(variable: str, entry: str | Path) -> str:
    """``variable``'s value with ``entry`` searched first: a child then finds this checkout's
    packages (``PYTHONPATH``) or this virtual environment's programs (``PATH``) before any other."""
    return os.pathsep.join([str(entry), *search_path(variable)])


def library_defaults(**switches: str) -> None:
    """Set library switches that are read from the environment, unless the user set them: the
    callers' comments say why each one is needed. They must run before the library reads them
    (often when it is imported)."""
    for name, value in switches.items():
        os.environ.setdefault(name, value)


def export(**values: str) -> None:
    """Set ``values`` in this process's environment, for the children that inherit it."""
    os.environ.update(values)

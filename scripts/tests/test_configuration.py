"""Outside the configuration module, nothing reads or writes ``os.environ`` (issue 22).

Settings come from the pydantic-settings classes built on ``data_engineering/src/settings.py``;
what a process hands its children (their environment, library switches) goes through
``data_engineering/src/environment.py``. The source is walked with ``ast``, so a comment or a
string naming ``os.environ`` does not count and ``from os import environ``, ``import os as o``,
``os.getenv``, ``os.putenv`` and ``os.unsetenv`` do.

Test code (``tests/`` folders, ``test_*.py``, ``conftest.py``) is left out: tests set up the
environments of the processes they start and of the settings they check, which is their job.

One file besides the configuration module declares a pydantic-settings class on
``BaseSettings``: the Airflow DAG file. It is parsed in Airflow's own environment, which does not
have the project's packages, and the first thing it reads (``HOTEL_REPO``) is where the project
is; it reads its two variables through a class of its own, still without touching ``os.environ``.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

from data_engineering.src.paths import REPO_ROOT
from scripts.import_graph import PACKAGES, module_files

CONFIGURATION = frozenset({"data_engineering/src/settings.py", "data_engineering/src/environment.py"})
OWN_SETTINGS_CLASS = frozenset({"infra/airflow/dags/hotel_dags.py"})
# The functions and mappings of ``os`` that read or change the process environment.
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def os_aliases(tree: ast.AST) -> set[str]:
    """The names ``os`` is bound to in a module (``import os``, ``import os as o``, ``import os.path``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "os" or (alias.name.startswith("os.") and alias.asname is None):
                    names.add(alias.asname or "os")
    return names


def environment_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for every use of the process environment through ``os``."""
    aliases = os_aliases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and node.level == 0:
            for alias in node.names:
                if alias.name in ENVIRONMENT_NAMES or alias.name == "*":
                    yield node.lineno, f"from os import {alias.name}"
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            yield node.lineno, f"{node.value.id}.{node.attr}"


def violations(root: Path, packages: Iterable[str], allowed: frozenset[str] = CONFIGURATION) -> list[str]:
    """``path:line: what`` for every use of the environment in non-test code outside ``allowed``."""
    found = []
    for path in sorted(module_files(root, packages).values()):
        relative = path.relative_to(root).as_posix()
        if relative in allowed:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{relative}:{line}: {what}" for line, what in sorted(environment_uses(tree))]
    return found


def test_nothing_outside_the_configuration_module_uses_the_environment() -> None:
    files = module_files(REPO_ROOT, PACKAGES)
    # The walk found the project, not an empty folder that would pass vacuously.
    assert {path.relative_to(REPO_ROOT).as_posix() for path in files.values()} >= CONFIGURATION | {
        "api/launcher.py",
        "infra/airflow/launch.py",
    }
    assert violations(REPO_ROOT, PACKAGES) == []


def test_the_configuration_module_is_where_the_environment_is_used() -> None:
    """The allowance is not stale: the environment module does use it."""
    source = (REPO_ROOT / "data_engineering/src/environment.py").read_text(encoding="utf-8")
    assert list(environment_uses(ast.parse(source)))


def test_only_the_settings_module_and_the_dag_declare_a_settings_mechanism() -> None:
    """One settings mechanism: every other class derives from ``HotelSettings``."""
    own = re.compile(r"\bBaseSettings\b|dotenv")
    found = sorted(
        relative
        for path in module_files(REPO_ROOT, PACKAGES).values()
        if own.search(path.read_text(encoding="utf-8"))
        and (relative := path.relative_to(REPO_ROOT).as_posix()) != "data_engineering/src/settings.py"
    )
    assert found == sorted(OWN_SETTINGS_CLASS)


def test_a_planted_use_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/config.py": "import os\n\nVALUE = os.environ.get('X')\n",
        "pkg/reads.py": """
            import os
            import os.path as osp

            # os.environ is not read by this comment, nor by the string below.
            TEXT = "os.environ['HOME']"
            HOME = osp.expanduser("~")


            def home() -> str:
                return os.environ["HOME"]
        """,
        "pkg/other.py": """
            import os as system
            from os import environ as env, getenv, sep


            def processes(process) -> object:
                return process.environ()  # psutil's, not ours


            def change() -> None:
                system.putenv("A", "1")
                system.unsetenv("B")
        """,
        "pkg/star.py": "from os import *\n",
        "pkg/tests/test_reads.py": "import os\n\nos.environ['X'] = '1'\n",
        "pkg/conftest.py": "import os\n\nos.environ.setdefault('X', '1')\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")

    assert violations(tmp_path, ["pkg"], allowed=frozenset({"pkg/config.py"})) == [
        "pkg/other.py:3: from os import environ",
        "pkg/other.py:3: from os import getenv",
        "pkg/other.py:11: system.putenv",
        "pkg/other.py:12: system.unsetenv",
        "pkg/reads.py:11: os.environ",
        "pkg/star.py:1: from os import *",
    ]
    # Without the allowance the configuration module is named too.
    assert "pkg/config.py:3: os.environ" in violations(tmp_path, ["pkg"], allowed=frozenset())

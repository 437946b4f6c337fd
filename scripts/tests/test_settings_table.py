"""One settings mechanism, documented once: CLI_DOCS.md's table against the settings classes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.settings import ENVIRONMENTS
from scripts import settings_table

DOCS = (REPO_ROOT / "CLI_DOCS.md").read_text(encoding="utf-8")
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
# Variables CLI_DOCS.md names that belong to other tools: build arguments, Airflow's own, a key
# setup-db writes into .env.ENV for itself, Java's and Spark's own.
OTHER_TOOLS = {
    "AIRFLOW__API__BASE_URL",
    "PYTHON_IMAGE",
    "POSTGRES_IMAGE",
    "POSTGRES_BACKEND",
    "JAVA_HOME",
    "PYSPARK_PYTHON",
    "SPARK_LOCAL_IP",
}
APP_PACKAGES = ("api", "data_engineering", "data_science", "streamlit_apps", "scripts")
# Reads of the environment that are not configuration: prometheus_client's own variable, which
# serve.py sets for its worker processes; the booster path bench_api.py hands the bare app it
# starts under uvicorn (which takes an app by import path, with no arguments of its own); the
# PATH bench_api_servers.py extends for the servers it starts; the PYTHONPATH the booster check hands
# its child process (the package root added to whatever it was); the Spark engine's JAVA_HOME
# (Java's own, checked to say what to install) and the PYTHONPATH its Python workers inherit.
RAW_READS_ALLOWED = {
    ("data_science/engines.py", "JAVA_HOME"),
    ("data_science/engines.py", "PYTHONPATH"),
    ("api/metrics.py", "PROMETHEUS_MULTIPROC_DIR"),
    ("data_science/integrity.py", "PYTHONPATH"),
    ("scripts/bench_bare_app.py", "BENCH_BOOSTER"),
    ("scripts/bench_api_servers.py", "'PATH'"),
}


def _sources() -> list[tuple[str, str]]:
    """(path from the repository root, text) of every non-test Python file of the platform."""
    found = []
    for package in APP_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if "/tests/" not in f"/{relative}":
                found.append((relative, path.read_text(encoding="utf-8")))
    return found


def _rows(table: str) -> dict[str, list[str]]:
    """First-column variable -> the other cells, for each row of a markdown table."""
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_cli_docs_table_is_the_generated_one() -> None:
    assert settings_table.documented(DOCS) == settings_table.table(), (
        "CLI_DOCS.md's settings table is stale: run .venv/bin/python -m scripts.settings_table --write"
    )


def test_every_setting_is_documented_with_its_default_and_nothing_else_is() -> None:
    documented = _rows(settings_table.documented(DOCS))
    expected = {
        name: settings_table.shown_default(info) for name, _cls, _field, info in settings_table.variables()
    }
    assert {name: cells[0] for name, cells in documented.items()} == expected
    assert len(expected) == len(list(settings_table.variables())), "a variable is declared twice"


def test_every_variable_the_docs_name_is_a_setting_or_said_to_be_another_tools() -> None:
    """CLI_DOCS.md and README.md name no variable that nothing reads (a removed setting, say)."""
    settings = {name for name, *_ in settings_table.variables()}
    shell_table = DOCS.split("Read by the shell scripts", 1)[1].split("\n\n", 2)[1]
    others = {n for first in _rows(shell_table) for n in re.findall(r"[A-Z][A-Z0-9_]+", first)}
    named = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]*)[=`]", DOCS + README))
    assert named - settings - others - OTHER_TOOLS == set()
    assert settings & others == set(), "a setting listed among the shell's variables"


def test_settings_classes_derive_from_the_one_base_and_nothing_else_reads_the_environment() -> None:
    raw_read = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)")
    found = []
    for relative, text in _sources():
        if relative != "data_engineering/src/settings.py" and re.search(r"\bBaseSettings\b|dotenv", text):
            found.append(f"{relative}: a settings mechanism of its own")
        found += [
            f"{relative}: reads the environment directly: {line.strip()}"
            for line in text.splitlines()
            if raw_read.search(line)
            and not any(relative == allowed and name in line for allowed, name in RAW_READS_ALLOWED)
        ]
    assert found == []


def _module(relative: str) -> str:
    return Path(relative).with_suffix("").as_posix().replace("/", ".")


def test_every_settings_class_is_in_the_table() -> None:
    """A class derived from the base in a module the table does not read would go undocumented."""
    names = {"HotelSettings"}
    classes: list[tuple[str, str, set[str]]] = []
    for relative, text in _sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                classes.append((relative, node.name, bases))
    while True:  # subclasses of subclasses, by name, until nothing new is found
        more = {name for _, name, bases in classes if bases & names} - names
        if not more:
            break
        names |= more
    outside = [
        f"{relative}: {name}"
        for relative, name, bases in classes
        if bases & names and _module(relative) not in settings_table.MODULES
    ]
    assert outside == [], "add the module to scripts/settings_table.py's MODULES"
    declared = {name for _, name, bases in classes if bases & names}
    assert declared == {cls.__name__ for cls in settings_table.all_settings_classes()}


# How each script tells the environments apart: cli.sh checks --env before it syncs anything
# (exit 2), setup-db picks each one's port.
SHELL_CASES = {
    "cli.sh": [r'case "\$\{APP_ENV:-\}" in "" \| ' + r" \| ".join(ENVIRONMENTS) + r"\)"],
    "scripts/setup_db.sh": [rf"\n\s*{env}\) DEFAULT_PORT=\d+ ;;" for env in ENVIRONMENTS],
}


@pytest.mark.parametrize("script", sorted(SHELL_CASES))
def test_the_shell_knows_the_same_environments(script: str) -> None:
    text = (REPO_ROOT / script).read_text(encoding="utf-8")
    assert f"(expected {', '.join(ENVIRONMENTS[:-1])} or {ENVIRONMENTS[-1]})" in text
    missing = [pattern for pattern in SHELL_CASES[script] if not re.search(pattern, text)]
    assert missing == [], f"{script} does not list the environments {ENVIRONMENTS} as expected"

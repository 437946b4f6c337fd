"""cli.sh: help lists every command, usage errors exit 2 with a reason, paths do not depend on cwd."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT

CLI = REPO_ROOT / "cli.sh"


def cli(*args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLI), *args],
        cwd=cwd,
        env={**os.environ, "HOTEL_SKIP_SYNC": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _commands() -> list[str]:
    return [m.replace("_", "-") for m in re.findall(r"^cmd_([a-z_]+)\(\)", CLI.read_text(), re.M)]


def test_help_lists_every_command_once() -> None:
    result = cli("help")
    assert result.returncode == 0
    listed = re.findall(r"^  ([a-z][a-z-]*)", result.stdout, re.M)
    assert sorted(listed) == sorted(_commands())


def test_every_command_is_documented_in_cli_docs() -> None:
    docs = (REPO_ROOT / "CLI_DOCS.md").read_text()
    missing = [c for c in _commands() if f"### `{c}" not in docs]
    assert missing == []


def test_unknown_command_exits_2_with_reason_and_usage() -> None:
    result = cli("frobnicate")
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr
    assert "usage:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("setup-db", "staging"), "unknown environment 'staging'"),
        (("setup-db", "test", "restart"), "unknown action 'restart'"),
        (("lint", "frontend"), "unknown component 'frontend'"),
        (("test", "frontend"), "unknown component 'frontend'"),
        (("initialize-data", "--env"), "--env needs a value"),
        (("initialize-data", "--env", "qa"), "unknown environment 'qa'"),
    ],
)
def test_bad_arguments_exit_2(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_prod_database_refuses_to_start_without_passwords() -> None:
    env = {"POSTGRES_PASSWORD": "", "POSTGRES_READONLY_PASSWORD": "", "SETUP_DB_BACKEND": "local"}
    result = cli("setup-db", "prod", env=env)
    assert result.returncode == 1
    assert "POSTGRES_PASSWORD" in result.stderr
    assert not (REPO_ROOT / ".local" / "postgres" / "prod" / "data").exists()


def test_works_from_any_directory(tmp_path: Path) -> None:
    result = cli("help", cwd=tmp_path)
    assert result.returncode == 0
    assert "initialize-data" in result.stdout


def test_relative_source_is_taken_from_the_callers_directory(tmp_path: Path, workspace: Path) -> None:
    from data_engineering.src.synthetic import write_bookings

    write_bookings(tmp_path / "in" / "bookings.csv", 50)
    result = cli(
        "initialize-data", "v1", "csv", cwd=tmp_path, env={"HOTEL_BOOKINGS_SOURCE": "in/bookings.csv"}
    )
    assert result.returncode == 0, result.stderr
    assert (workspace / "data" / "processed" / "bookings_v1.csv").exists()

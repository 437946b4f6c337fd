"""cli.sh: help lists every command, usage errors exit 2 with a reason, paths do not depend on cwd."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
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
        # The stage list is dvc.yaml's; registering is a step of its own, not a stage.
        (
            ("dvc-repro", "register"),
            "unknown stage 'register' (stages: ingest transform train baselines evaluate)",
        ),
        (("register", "now"), "register takes no arguments"),
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


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on (as a server left running would)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("start-mlflow-ui", "cannot listen on 127.0.0.1:{port} (Address already in use)"),
        ("serve-api", "cannot listen on 127.0.0.1:{port} (Address already in use)"),
        ("dashboard", "Port {port} is not available"),
    ],
)
def test_servers_exit_1_when_their_port_is_taken(
    command: str, message: str, taken_port: int, workspace: Path
) -> None:
    """CLI_DOCS: failures exit 1 with the reason; `mlflow server` alone would exit 0 here."""
    result = cli(command, "--port", str(taken_port), env={"HOTEL_WORKSPACE": str(workspace)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert message.format(port=taken_port) in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# Commands whose arguments a Python module parses (argparse): its --help is the truth.
PARSED_BY_PYTHON = (
    "initialize-data",
    "tune",
    "holdout-check",
    "score-db",
    "start-mlflow-ui",
    "serve-api",
    "db-migrate",
    "bench-api",
    "bench-batch",
    "bench-db-load",
    "retrain-record",
)


@pytest.mark.parametrize("command", PARSED_BY_PYTHON)
def test_help_and_cli_docs_name_every_option(command: str) -> None:
    """`help` and CLI_DOCS' heading list what the command accepts (or say [OPTIONS])."""
    accepted = cli(command, "--help")
    assert accepted.returncode == 0, accepted.stderr
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", accepted.stdout)) - {"--help"}
    line = re.search(rf"^  {re.escape(command)} (.*)$", cli("help").stdout, re.M)
    heading = re.search(
        rf"^### `{re.escape(command)}( [^`]*)?`", (REPO_ROOT / "CLI_DOCS.md").read_text(), re.M
    )
    assert line, command
    assert heading, command
    for usage in (line.group(1), heading.group(1) or ""):
        if "[OPTIONS]" not in usage:
            assert sorted(o for o in options if o not in usage) == [], usage


def test_what_the_pipeline_summary_suggests_can_be_run() -> None:
    """Each next step it prints is a ./cli.sh command (dvc is in .venv, not on a user's PATH)."""
    from data_science.summary import NEXT

    steps = [step.strip().split() for step in NEXT.split("|")]
    assert all(step[0] == "./cli.sh" and step[1] in _commands() for step in steps), NEXT
    assert ["./cli.sh", "dvc", "metrics", "show"] in steps
    shown = cli("dvc", "metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert "roc_auc_mean" in json.loads(shown.stdout)[""]["data"]["reports/metrics.json"]["data"]["backtest"]

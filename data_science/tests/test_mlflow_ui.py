"""``./cli.sh start-mlflow-ui``: the MLflow server over the pipeline's own store, or a clear refusal."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from data_engineering.src.paths import MLFLOW_ARTIFACTS_DEFAULT, MLFLOW_DB_DEFAULT
from data_science import mlflow_ui


@pytest.fixture
def exec_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What ``os.execv`` would have become, instead of becoming it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append([str(path), *argv[1:]]))
    return calls


def test_the_default_store_is_the_workspaces(settings_env, exec_calls, capsys) -> None:
    mlflow_ui.main(["--port", "5055"])  # execv (patched) did not replace the process
    mlflow = str(Path(sys.executable).parent / "mlflow")
    assert exec_calls == [
        [
            mlflow,
            "server",
            "--backend-store-uri",
            f"sqlite:///{MLFLOW_DB_DEFAULT}",
            "--default-artifact-root",
            str(MLFLOW_ARTIFACTS_DEFAULT),
            "--host",
            "127.0.0.1",
            "--port",
            "5055",
            "--workers",
            "1",
        ]
    ]
    assert "MLflow UI on http://127.0.0.1:5055" in capsys.readouterr().out


def test_a_database_url_from_the_environments_file_is_served_without_its_password(
    settings_env, exec_calls, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://mlflow:s3cret@127.0.0.1:55432/mlflow"  # pragma: allowlist secret
    settings_env("local", MLFLOW_TRACKING_URI=url)
    monkeypatch.setenv("APP_ENV", "local")
    mlflow_ui.main([])
    assert exec_calls[0][3] == url
    assert "--port" in exec_calls[0]
    assert exec_calls[0][exec_calls[0].index("--port") + 1] == str(mlflow_ui.PORT_DEFAULT)
    assert "s3cret" not in capsys.readouterr().out


def test_a_tracking_server_is_refused_with_where_to_go(
    settings_env, exec_calls, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = "https://user:s3cret@mlflow.example.com"  # pragma: allowlist secret
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    assert mlflow_ui.main([]) == 1
    assert exec_calls == []
    err = capsys.readouterr().err
    assert "points at a server (https://user:***@mlflow.example.com): open it in a browser" in err


def test_a_bad_environment_is_one_line(settings_env, exec_calls, capsys, monkeypatch) -> None:
    monkeypatch.setenv("APP_ENV", "staging")
    assert mlflow_ui.main([]) == 1
    assert "start-mlflow-ui: error: unknown environment 'staging'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "reason"), [("0", "must be 1-65535, got 0"), ("web", "invalid port value")]
)
def test_a_bad_port_is_a_usage_error(settings_env, exec_calls, capsys, value: str, reason: str) -> None:
    with pytest.raises(SystemExit) as caught:
        mlflow_ui.main(["--port", value])
    assert caught.value.code == 2
    assert reason in capsys.readouterr().err
    assert exec_calls == []

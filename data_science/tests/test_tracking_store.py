"""``tracking.open_store``: a new database store is created and migrated by one process, once.

``serve-cluster`` calls it before starting its replicas: replicas opening a new SQLite store
together each ran MLflow's migrations, and all but one failed ("Online migration expected to
match one row ... 0 found", "table _alembic_tmp_model_version_tags already exists").
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.store.db.utils import _get_latest_schema_revision

from data_science.tracking import open_store

# What a replica does first with the store: open it (and, were it not at head, migrate it).
OPEN = "import mlflow; mlflow.MlflowClient().search_registered_models(max_results=1); print('ok')"


def test_a_new_store_is_at_the_latest_schema_after_opening_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    open_store()
    with sqlite3.connect(db) as connection:
        revisions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    assert revisions == [_get_latest_schema_revision()]
    # Then processes opening it together find nothing to migrate: every one of them opens it.
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"}
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = [opener.communicate(timeout=120) for opener in openers]
    assert [opener.returncode for opener in openers] == [0, 0, 0], [err.decode()[-500:] for _, err in results]


def test_a_tracking_server_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A server migrates its own store; nothing listens here, and nothing is asked of it.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    open_store()

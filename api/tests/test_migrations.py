"""The Alembic migration creates the prediction log exactly as the dashboards read it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from api.migrate import upgrade
from api.prediction_table import COLUMNS


@pytest.mark.postgres
def test_postgres_table_types_and_index(pg_schema_url) -> None:
    upgrade(pg_schema_url)  # a second run is a no-op
    engine = sa.create_engine(pg_schema_url)
    with engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        rows = conn.execute(
            sa.text(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = :schema AND table_name = 'predictions' ORDER BY ordinal_position"
            ),
            {"schema": schema},
        ).all()
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("predictions")}
        key = sa.inspect(conn).get_pk_constraint("predictions")["constrained_columns"]
    engine.dispose()
    types = {name: kind for name, kind, _ in rows}
    assert tuple(types) == COLUMNS
    assert types["booking"] == "jsonb"
    assert types["created_at"] == "timestamp with time zone"
    assert types["cancel_probability"] == types["threshold"] == types["latency_ms"] == "double precision"
    assert types["will_cancel"] == "boolean"
    assert types["request_id"] == "text"
    assert key == ["request_id"]
    assert "ix_predictions_created_at" in indexes


def test_db_migrate_command_on_sqlite(tmp_path, run_module) -> None:
    url = f"sqlite:///{tmp_path / 'db' / 'hotel.sqlite'}"
    for _ in range(2):  # idempotent
        result = run_module("api.migrate", env={"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert "at the latest revision" in result.stdout
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert [c["name"] for c in sa.inspect(conn).get_columns("predictions")] == list(COLUMNS)
    engine.dispose()


def test_db_migrate_reports_an_unreachable_database(run_module) -> None:
    result = run_module("api.migrate", env={"DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:9/none"})
    assert result.returncode == 1
    assert result.stderr.startswith("db-migrate: error: cannot reach")
    assert "Traceback" not in result.stderr

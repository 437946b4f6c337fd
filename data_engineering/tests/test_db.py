"""Table loads: transactional, idempotent, COPY on PostgreSQL; read-only role can only read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from data_engineering.src import db
from data_engineering.src.engine import make_engine

COLUMNS = {"booking_id": "int", "hotel": "text", "adr": "float", "arrival_date": "date", "nights": "int"}


def _frame(n: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "booking_id": pa.array(range(offset, offset + n), pa.int64()),
            "hotel": ['City Hotel, "quoted"', "Resort Hotel"] * (n // 2) + ["City Hotel"] * (n % 2),
            "adr": pa.array([99.5] * n, pa.float64()),
            "arrival_date": pa.array([dt.date(2017, 5, 1)] * n, pa.date32()),
            "nights": pa.array([3] * (n - 1) + [None], pa.int64()) if n else pa.array([], pa.int64()),
        }
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path) -> Engine:
    if request.param == "sqlite":
        return make_engine(f"sqlite:///{tmp_path / 'test.sqlite'}")
    return make_engine(request.getfixturevalue("pg_url"))


def _rows(engine: Engine, table: str) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY booking_id").all()


def test_load_twice_gives_the_same_table(engine: Engine) -> None:
    load = db.TableLoad("test_bookings", _frame(101), COLUMNS)
    db.replace_tables(engine, [load])
    first = _rows(engine, "test_bookings")
    db.replace_tables(engine, [load])
    assert _rows(engine, "test_bookings") == first
    assert len(first) == 101
    assert first[0][1] == 'City Hotel, "quoted"'
    assert first[-1][4] is None
    assert str(first[0][3]) == "2017-05-01"


def test_failed_load_leaves_previous_tables_intact(engine: Engine) -> None:
    db.replace_tables(
        engine,
        [db.TableLoad("test_bookings", _frame(10), COLUMNS), db.TableLoad("test_other", _frame(5), COLUMNS)],
    )
    before = (_rows(engine, "test_bookings"), _rows(engine, "test_other"))
    duplicated = pa.concat_tables([_frame(50, 1000), _frame(1, 1000)])  # duplicate key fails the load
    with pytest.raises(sa.exc.IntegrityError):
        db.replace_tables(
            engine,
            [
                db.TableLoad("test_other", _frame(7, 500), COLUMNS),
                db.TableLoad("test_bookings", duplicated, COLUMNS),
            ],
        )
    assert (_rows(engine, "test_bookings"), _rows(engine, "test_other")) == before
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    assert not [t for t in tables if t.endswith("__staging")]


def test_failure_during_the_swap_rolls_everything_back(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.replace_tables(engine, [db.TableLoad("test_bookings", _frame(10), COLUMNS)])
    original = Connection.exec_driver_sql

    def explode_on_rename(self, statement, *args, **kwargs):
        if "RENAME TO" in statement:
            raise RuntimeError("simulated crash during swap")
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "exec_driver_sql", explode_on_rename)
    with pytest.raises(RuntimeError, match="simulated crash"):
        db.replace_tables(engine, [db.TableLoad("test_bookings", _frame(30, 100), COLUMNS)])
    monkeypatch.undo()
    assert len(_rows(engine, "test_bookings")) == 10


@pytest.mark.postgres
def test_readonly_role_reads_new_tables_but_cannot_write(pg_url: str, pg_readonly_url: str) -> None:
    db.replace_tables(make_engine(pg_url), [db.TableLoad("test_bookings", _frame(4), COLUMNS)])
    readonly = sa.create_engine(pg_readonly_url)
    with readonly.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM test_bookings").scalar_one() == 4
    with (
        pytest.raises(sa.exc.DBAPIError, match=r"read-only transaction|permission denied"),
        readonly.begin() as conn,
    ):
        conn.exec_driver_sql("DELETE FROM test_bookings")


def test_empty_table_is_loaded_as_an_empty_table(engine: Engine) -> None:
    db.replace_tables(engine, [db.TableLoad("test_empty", _frame(3).slice(0, 0), COLUMNS)])
    assert _rows(engine, "test_empty") == []


# The one engine factory: what the dashboards, the API's log and the loads each ask of it.


def test_a_readonly_sqlite_file_is_never_created(tmp_path) -> None:
    missing = tmp_path / "data" / "none.sqlite"
    with pytest.raises(FileNotFoundError, match="no database file at"):
        make_engine(f"sqlite:///{missing}", readonly=True)
    assert not missing.parent.exists()


def test_a_readonly_sqlite_file_reads_but_refuses_writes(tmp_path) -> None:
    path = tmp_path / "nested" / "db.sqlite"
    db.replace_tables(make_engine(f"sqlite:///{path}"), [db.TableLoad("t", _frame(3), COLUMNS)])
    readonly = make_engine(f"sqlite:///{path}", readonly=True, timeout_seconds=1)
    assert [row[0] for row in _rows(readonly, "t")] == [0, 1, 2]
    with pytest.raises(sa.exc.OperationalError, match="readonly database"), readonly.begin() as conn:
        conn.exec_driver_sql("DELETE FROM t")
    readonly.dispose()


@pytest.mark.postgres
def test_postgres_timeouts_keep_the_urls_own_options(pg_url: str) -> None:
    url = sa.engine.make_url(pg_url).update_query_dict({"options": "-c application_name=hotel-test"})
    engine = make_engine(url, timeout_seconds=1.5, statement_timeout=True, pool_size=2)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "1500ms"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar_one() == "1500ms"
        assert conn.exec_driver_sql("SHOW application_name").scalar_one() == "hotel-test"
    assert isinstance(engine.pool, QueuePool)
    assert engine.pool.size() == 2
    engine.dispose()
    plain = make_engine(pg_url, timeout_seconds=1.5)  # a connect timeout alone
    with plain.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"
    plain.dispose()

"""``initialize-data`` end to end, as users run it (a subprocess in an isolated workspace)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data_engineering.src.files.writing import read_processed
from data_engineering.src.initialize_data import TransformParams
from data_engineering.src.params import read_section
from data_engineering.src.synthetic import OUTCOME_COLUMNS, make_bookings, write_european
from data_engineering.tests.helpers import workspace_files

MODULE = "data_engineering.src.initialize_data"


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def broken_source(tmp_path: Path) -> Path:
    frame = make_bookings(400, seed=4)
    frame.loc[5, "arrival_date_month"] = "Smarch"
    frame.loc[6, "adults"] = "-1"
    frame.loc[7, "lead_time"] = "a week"
    frame.loc[8, "hotel"] = ""
    frame.loc[9, ["arrival_date_month", "arrival_date_day_of_month"]] = ["February", "30"]
    return _write(frame, tmp_path / "source" / "broken.csv")


def test_broken_rows_are_rejected_and_the_rest_loaded(
    workspace: Path, broken_source: Path, run_module
) -> None:
    result = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(broken_source)})
    assert result.returncode == 0, result.stderr
    assert "400 rows in, 395 loaded, 5 rejected" in result.stdout
    report = json.loads((workspace / "reports" / "data_validation.json").read_text())
    assert report["rows_in"] == report["rows_loaded"] + report["rows_rejected"] == 400
    assert report["rejection_reasons"] == {
        "adults: must be >= 0": 1,
        "arrival date does not exist": 1,
        "arrival_date_month: must be one of: January, February, March, April, May, June, July, August, "
        "September, October, November, December": 1,
        "hotel: missing value": 1,
        "lead_time: not a number": 1,
    }
    rejected = pd.read_csv(workspace / "data" / "rejected" / "hotel_bookings_rejected.csv")
    assert sorted(rejected["source_line"]) == [7, 8, 9, 10, 11]
    processed = read_processed("v2", workspace / "data" / "processed" / "bookings_v2.csv")
    assert len(processed) == 395
    assert processed["booking_id"].is_unique


def test_missing_column_stops_and_writes_nothing(workspace: Path, tmp_path: Path, run_module) -> None:
    source = _write(make_bookings(50).drop(columns=["deposit_type"]), tmp_path / "source" / "short.csv")
    result = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert result.returncode == 1
    assert "missing column(s): deposit_type" in result.stderr
    assert "nothing was written" in result.stderr
    written = [p for p in workspace.rglob("*") if p.is_file() and p != source]
    assert written == []


def test_unknown_version_is_a_usage_error(workspace: Path, run_module) -> None:
    result = run_module(MODULE, "v7", "csv")
    assert result.returncode == 2
    assert "known versions: v1, v2" in result.stderr


def test_bad_argument_is_a_usage_error(workspace: Path, run_module) -> None:
    result = run_module(MODULE, "v1", "csv", "parquet")
    assert result.returncode == 2
    assert "unexpected argument 'parquet'" in result.stderr


def test_db_destination_defaults_to_embedded_sqlite(workspace: Path, broken_source: Path, run_module) -> None:
    env = {"HOTEL_BOOKINGS_SOURCE": str(broken_source)}
    for _ in range(2):  # twice: same tables, no duplicates
        result = run_module(MODULE, "db", env=env)  # version from params.yaml
        assert result.returncode == 0, result.stderr
    processed = f"bookings_{read_section('transform', TransformParams).version}"
    engine = sa.create_engine(f"sqlite:///{workspace / 'data' / 'hotel_cancellation.sqlite'}")
    with engine.connect() as conn:
        counts = {
            t: conn.exec_driver_sql(f"SELECT count(*), count(DISTINCT booking_id) FROM {t}").one()
            for t in (processed, "bookings_raw", "bookings_rejected")
        }
    assert counts == {processed: (395, 395), "bookings_raw": (400, 400), "bookings_rejected": (5, 5)}


def test_unknown_environment_explains_setup(workspace: Path, broken_source: Path, run_module) -> None:
    result = run_module(
        MODULE, "v2", "db", env={"HOTEL_BOOKINGS_SOURCE": str(broken_source), "APP_ENV": "staging"}
    )
    assert result.returncode == 1
    assert "unknown environment 'staging'" in result.stderr


@pytest.mark.postgres
def test_postgres_destination(workspace: Path, broken_source: Path, pg_url: str, run_module) -> None:
    env = {"HOTEL_BOOKINGS_SOURCE": str(broken_source), "DATABASE_URL": pg_url}
    for _ in range(2):  # the shared test database may hold a bigger load of another test
        result = run_module(MODULE, "v2", "db", "--allow-shrink", env=env)
        assert result.returncode == 0, result.stderr
        assert "***@" in result.stdout  # the password is never printed
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        count, distinct = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT booking_id) FROM bookings_v2"
        ).one()
        types: dict[str, str] = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bookings_v2'"
            ).all()
        )
    assert count == distinct == 395
    assert types["booking_id"] == "text"  # a hotel's reservation id, or the row's content hash
    assert types["arrival_date"] == "date"
    assert types["adr"] == "double precision"
    assert types["hotel"] == "text"


@pytest.mark.slow
def test_real_extract_reconciles_exactly(workspace: Path, shared_data: Path, run_module) -> None:
    result = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(shared_data)})
    assert result.returncode == 0, result.stderr
    report = json.loads((workspace / "reports" / "data_validation.json").read_text())
    assert report["rows_in"] == 103_505
    assert report["rows_in"] == report["rows_loaded"] + report["rows_rejected"]
    assert report["exact_duplicate_rows"] > 25_000


# ------------------------------------------------------------------------ loads that never lose data
def _header(source: Path) -> bytes:
    return source.read_bytes().split(b"\n", 1)[0] + b"\n"


BAD_SOURCES = {
    "header-only": lambda header: header,
    "gzip-of-blank-lines": lambda header: gzip.compress(header + b"\n" * 200_000),
    "no-valid-row": lambda header: header + b"City Hotel,0,12\n" * 50,
    "binary-garbage": lambda header: header + bytes(range(256)) * 400,
    "does-not-parse": lambda header: gzip.compress(header + b"City Hotel,0\n" * 5000)[:-40],
}


@pytest.mark.parametrize("destination", ["csv", "db"])
@pytest.mark.parametrize("bad", list(BAD_SOURCES))
def test_a_source_that_is_not_good_changes_nothing(
    workspace: Path, broken_source: Path, tmp_path: Path, run_module, *, destination: str, bad: str
) -> None:
    loaded = run_module(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(broken_source)})
    assert loaded.returncode == 0, loaded.stderr
    before = workspace_files(workspace)
    source = tmp_path / "source" / f"{bad}.csv"
    source.write_bytes(BAD_SOURCES[bad](_header(broken_source)))
    result = run_module(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert result.returncode == 1, result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("initialize-data: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert workspace_files(workspace) == before  # the tables (SQLite), data/raw, processed, rejected, report
    if bad == "header-only":
        assert "the source holds no booking, only a header (every table and file is as it was)" in error
    elif bad == "gzip-of-blank-lines":
        assert "the source holds no booking, only a header and 200,000 blank line(s)" in error
    elif bad == "does-not-parse":
        assert "a truncated or corrupt gzip file" in error
    else:
        assert "rows is valid, nothing was loaded" in error


@pytest.mark.parametrize("destination", ["csv", "db"])
def test_a_load_that_shrinks_the_data_asks_for_allow_shrink(
    workspace: Path, tmp_path: Path, run_module, destination: str
) -> None:
    big = _write(make_bookings(400, seed=4), tmp_path / "source" / "big.csv")
    small = _write(make_bookings(100, seed=5), tmp_path / "source" / "small.csv")
    assert run_module(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(big)}).returncode == 0
    before = workspace_files(workspace)
    refused = run_module(MODULE, "v2", destination, env={"HOTEL_BOOKINGS_SOURCE": str(small)})
    assert refused.returncode == 1
    where = "data/processed/bookings_v2.csv" if destination == "csv" else "table bookings_v2"
    assert refused.stderr.strip().splitlines()[-1] == (
        f"initialize-data: error: this load would replace the 400 rows of {where} with 100 (75% fewer; "
        "HOTEL_MAX_SHRINK=0.5 allows 50%): nothing was changed; pass --allow-shrink to load it anyway"
    )
    assert workspace_files(workspace) == before
    allowed = run_module(
        MODULE, "v2", destination, "--allow-shrink", env={"HOTEL_BOOKINGS_SOURCE": str(small)}
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "100 rows in, 100 loaded" in allowed.stdout


def test_the_source_is_remembered_by_the_next_command(
    workspace: Path, broken_source: Path, run_module, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTEL_BOOKINGS_SOURCE", raising=False)
    first = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(broken_source)})
    assert first.returncode == 0, first.stderr
    again = run_module(MODULE, "v2", "db")  # no variable: the file of the quick start, not params.yaml's URL
    assert again.returncode == 0, again.stderr
    assert f"ingest: {broken_source} -> data/raw/hotel_bookings.csv (" in again.stdout
    assert "unchanged, kept)" in again.stdout
    assert "400 rows in, 395 loaded, 5 rejected" in again.stdout


# ------------------------------------------------------------------------ files from real systems
def test_a_semicolon_file_with_decimal_commas_is_loaded(workspace: Path, tmp_path: Path, run_module) -> None:
    frame = make_bookings(300, seed=12)
    source = write_european(tmp_path / "source" / "export.csv", frame)
    result = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert result.returncode == 0, result.stderr
    assert "semicolon-separated, decimal comma, UTF-8" in result.stderr
    assert "300 rows in, 300 loaded, 0 rejected" in result.stdout
    processed = read_processed("v2", workspace / "data" / "processed" / "bookings_v2.csv")
    assert sorted(processed["adr"]) == sorted(frame["adr"].astype(float))


def test_a_windows_1252_file_is_loaded_and_its_accents_read(
    workspace: Path, tmp_path: Path, run_module
) -> None:
    frame = make_bookings(300, seed=13)
    frame.loc[7, "country"] = "Côte d’Ivoire"  # not a country code: rejected, and shown as written
    source = _write(frame, tmp_path / "source" / "export.csv")
    source.write_bytes(source.read_text().encode("cp1252"))
    result = run_module(MODULE, "v2", "csv", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert result.returncode == 0, result.stderr
    assert "comma-separated, Windows-1252" in result.stderr
    assert "300 rows in, 299 loaded, 1 rejected" in result.stdout
    rejected = pd.read_csv(workspace / "data" / "rejected" / "hotel_bookings_rejected.csv", dtype=str)
    assert rejected["country"].tolist() == ["Côte d’Ivoire"]
    assert rejected["source_line"].tolist() == ["9"]


def _hotel_export(rows: int) -> pd.DataFrame:
    """A hotel's export: its reservation ids, and bookings still on the books without an outcome."""
    frame = make_bookings(rows, seed=6)
    frame.insert(0, "booking_id", [f"RES-{i:04d}" for i in range(rows)])
    frame.loc[frame.index % 2 == 0, OUTCOME_COLUMNS] = ""
    return frame


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_re_export_updates_bookings_by_their_id(
    workspace: Path, request: pytest.FixtureRequest, backend: str, run_module
) -> None:
    url = (
        f"sqlite:///{workspace / 'bookings.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_schema")
    )
    first = _hotel_export(200)
    env = {"HOTEL_BOOKINGS_SOURCE": str(_write(first, workspace / "export_1.csv")), "DATABASE_URL": url}
    loaded = run_module(MODULE, "v4", "db", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "merged by booking_id: 200 new, 0 updated" in loaded.stdout
    # The next export: ten bookings on the books are cancelled since, and 50 new ones were made.
    second = pd.concat([first, _hotel_export(250).iloc[200:]], ignore_index=True)
    cancelled = second.index[second["reservation_status"] == ""][:10]
    second.loc[cancelled, ["is_canceled", "reservation_status", "reservation_status_date"]] = [
        "1",
        "Canceled",
        "2017-06-01",
    ]
    second.loc[cancelled, ["assigned_room_type", "booking_changes"]] = ["A", "0"]
    env["HOTEL_BOOKINGS_SOURCE"] = str(
        _write(second.iloc[100:], workspace / "export_2.csv")
    )  # a partial export
    merged = run_module(MODULE, "v4", "db", env=env)
    assert merged.returncode == 0, merged.stderr
    assert "merged by booking_id: 50 new, 100 updated" in merged.stdout
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        table = pd.read_sql(
            "SELECT booking_id, reservation_status, is_canceled FROM bookings_v4", conn
        ).set_index("booking_id")
        raw = int(conn.exec_driver_sql("SELECT count(*) FROM bookings_raw").scalar_one())
    engine.dispose()
    assert len(table) == raw == 250  # the first 100, not in the second export, are kept
    for booking in second.loc[cancelled, "booking_id"]:
        if booking in set(second.iloc[100:]["booking_id"]):
            assert table.loc[booking, "reservation_status"] == "Canceled"
    still = second.loc[(second["reservation_status"] == "") & (second.index >= 100), "booking_id"]
    assert table.loc[still, "reservation_status"].isna().all()  # still on the books: no outcome
    assert table.loc[still, "is_canceled"].isna().all()

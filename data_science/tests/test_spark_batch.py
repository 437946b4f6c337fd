"""``--engine spark``: the same answers, refusals and ``booking_scores`` rows as the default engine.

One local Spark session serves the module (it takes 5-20 s to start). The bad-input cases run the
commands as a user does and start no session.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.schema import NON_BOOKING_COLUMNS
from data_engineering.src.synthetic import make_bookings, write_frame
from data_science import batch_outputs, predict_batch, score_db
from data_science.engines import SparkUnavailableError, check_spark, spark_session

MASTER = "local[2]"
DAY = "2016-06-01"  # as-of for the file tests: about half the bookings are on the books
OUTCOME = list(NON_BOOKING_COLUMNS)  # the target and what a booking's outcome tells later


@pytest.fixture(scope="module")
def spark_runs() -> None:
    """Spark can run here (pyspark, Java): else skipped, and under CI a failure."""
    try:
        check_spark(MASTER)
    except SparkUnavailableError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI installs it: ./cli.sh sync --spark)")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def spark(spark_runs, trained_workspace):
    """The module's Spark session, with the trained workspace's registry in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in trained_workspace.env().items():
            patch.setenv(name, value)
        with spark_session(MASTER, "tests") as session:
            yield session


@pytest.fixture(scope="module")
def bookings() -> pd.DataFrame:
    """600 bookings arriving in 2016 as a hotel's export has them, some of them broken."""
    frame = make_bookings(600, seed=23, start=dt.date(2016, 1, 1), end=dt.date(2016, 12, 31))
    frame.insert(0, "booking_id", [f"RES-{i:05d}" for i in range(len(frame))])
    frame.insert(1, "Réf. client", [f"C{i}" for i in range(len(frame))])  # a hotel's own column
    frame[["reservation_status", "reservation_status_date"]] = ""  # on the books as far as the file knows
    frame.loc[10, "adults"] = "-3"
    frame.loc[20, "meal"] = "Brunch"
    frame.loc[30, "hotel"] = "=HYPERLINK(0)"  # refused, and neutralised in the rejected file
    frame.loc[40, ["lead_time", "adr"]] = ["abc", "-"]
    frame.loc[50, "booking_id"] = "not an id!"
    frame.loc[60, "country"] = ""
    frame["as_of"] = ""
    frame.loc[70:90, "as_of"] = "2016-03-01"  # judged as of a day of their own (or refused)
    return frame


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    """The bookings as CSV, with lines no CSV reader would take as a record of the header."""
    write_frame(path, frame)
    lines = path.read_text().splitlines()
    lines[100] += ",one field too many"
    lines[200] = lines[200].replace(",", ',"', 1)  # an unbalanced quote
    lines[300] = ",".join(lines[300].split(",")[:5])  # cut short
    path.write_text("\n".join(lines) + "\n")
    return path


def _parquet(frame: pd.DataFrame, path: Path) -> Path:
    """The bookings as Parquet, numbers stored as numbers where they are numbers, nulls for blanks."""
    typed = frame.replace({"": None})
    for name in ("lead_time", "adults", "arrival_date_year"):
        typed[name] = pd.to_numeric(typed[name], errors="coerce").astype("Int64")
    typed.loc[40, "lead_time"] = pd.NA
    typed["adr"] = pd.to_numeric(typed["adr"], errors="coerce")
    typed.to_parquet(path, index=False)
    return path


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("as_of", [None, DAY])
def test_predict_batch_on_spark_gives_the_default_engines_answers_and_refusals(
    spark, bookings: pd.DataFrame, tmp_path: Path, fmt: str, as_of: str | None
) -> None:
    source = (_csv if fmt == "csv" else _parquet)(bookings, tmp_path / f"in.{fmt}")
    day = predict_batch.as_of_date(as_of) if as_of else None
    outputs = {}
    for engine in ("python", "spark"):
        output = tmp_path / engine / f"out.{fmt}"
        output.parent.mkdir()
        outcome, _, _ = predict_batch.run(source, output, as_of=day, scoring_engine=engine)
        outputs[engine] = (outcome, _read(output), _read(batch_outputs.rejected_path(output)))
    (mine, scored, rejected), (theirs, expected, expected_rejected) = outputs["spark"], outputs["python"]
    assert (mine.rows_in, mine.scored, mine.rejected, mine.flagged) == (
        theirs.rows_in,
        theirs.scored,
        theirs.rejected,
        theirs.flagged,
    )
    assert mine.outside.values == theirs.outside.values  # the vocabulary warning's figures
    assert mine.scored > 50
    assert mine.rejected >= 7
    difference = np.abs(
        scored["cancel_probability"].astype(float) - expected["cancel_probability"].astype(float)
    )
    assert difference.max() <= 1e-6
    others = [name for name in expected.columns if name != "cancel_probability"]
    pd.testing.assert_frame_equal(scored[others], expected[others])  # every column, in input order
    pd.testing.assert_frame_equal(rejected, expected_rejected)  # lines, text and every reason
    reasons = " | ".join(rejected["rejection_reasons"])
    assert "adults: must be >= 0" in reasons
    if fmt == "csv":
        assert "an unbalanced quote" in reasons
        assert "fields, expected" in reasons
        assert "'=HYPERLINK(0)" in set(rejected["hotel"])
    if as_of:
        assert "is before the booking was made" in reasons
        assert "the guest has arrived" in reasons
        assert set(scored["as_of"].astype(str)) == {DAY}


@pytest.mark.postgres
@pytest.mark.slow
def test_score_db_on_spark_writes_the_default_engines_rows(
    spark, pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, booking_scores
) -> None:
    frame = make_bookings(400, seed=17, start=dt.date(2017, 10, 2), end=dt.date(2017, 12, 20))
    frame.insert(0, "booking_id", [f"RES-{i:05d}" for i in range(len(frame))])
    frame[OUTCOME] = ""  # on the books: no outcome yet
    source = write_frame(tmp_path / "export.csv", frame)
    loaded = subprocess.run(
        [sys.executable, "-m", "data_engineering.src.initialize_data", "db"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": pg_schema, "HOTEL_BOOKINGS_SOURCE": str(source)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    monkeypatch.setenv("DATABASE_URL", pg_schema)
    day = dt.date(2017, 10, 15)

    on_spark, _ = score_db.run(None, None, day, scoring_engine="spark", master=MASTER)
    spark_rows = booking_scores(pg_schema)
    again, text = score_db.run(None, None, day, scoring_engine="spark", master=MASTER)
    assert again.added == 0
    assert "this day was scored already" in text
    engine = sa.create_engine(pg_schema)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM booking_scores")
    engine.dispose()
    by_default, _ = score_db.run(None, None, day)
    default_rows = booking_scores(pg_schema)

    assert on_spark.scored == on_spark.added == by_default.added > 100
    assert (on_spark.on_the_books, on_spark.invalid, on_spark.flagged) == (
        by_default.on_the_books,
        by_default.invalid,
        by_default.flagged,
    )
    keys = ["booking_id", "as_of", "model_name", "model_version"]
    both = spark_rows.merge(default_rows, on=keys, suffixes=("_spark", ""), validate="one_to_one")
    assert len(both) == len(spark_rows) == len(default_rows)
    assert (both["cancel_probability_spark"] - both["cancel_probability"]).abs().max() <= 1e-6
    assert (both["will_cancel_spark"] == both["will_cancel"]).all()
    assert (both["as_of"].astype(str) == str(day)).all()


# ------------------------------------------------------------------ bad input: no session started
@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    return write_frame(tmp_path / "in.csv", make_bookings(5, seed=1))


def _files(module: str, small_file: Path) -> list[str]:
    return [str(small_file), str(small_file.with_name("out.csv"))] if module.endswith("predict_batch") else []


@pytest.mark.parametrize("module", ["data_science.predict_batch", "data_science.score_db"])
def test_an_unknown_engine_is_a_usage_error(run_module, module: str, small_file: Path) -> None:
    result = run_module(module, *_files(module, small_file), "--engine", "flink")
    assert result.returncode == 2
    assert "argument --engine: invalid choice: 'flink' (choose from 'python', 'spark')" in result.stderr
    alone = run_module(module, *_files(module, small_file), "--spark-master", "local[2]")
    assert alone.returncode == 2
    assert "--spark-master needs --engine spark" in alone.stderr


def test_without_pyspark_one_line_says_what_to_install(run_module, small_file: Path, tmp_path: Path) -> None:
    absent = tmp_path / "no_pyspark" / "pyspark"  # first on the path: pyspark as if not installed
    absent.mkdir(parents=True)
    (absent / "__init__.py").write_text("raise ImportError(\"No module named 'pyspark'\")\n")
    result = run_module(
        "data_science.predict_batch",
        *_files("predict_batch", small_file),
        "--engine",
        "spark",
        env={"PYTHONPATH": str(absent.parent)},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "predict-batch: error: pyspark is not installed: install it with ./cli.sh sync --spark "
        "(the optional spark dependency group)"
    )


def test_without_java_one_line_says_what_to_install(spark_runs, run_module, small_file: Path) -> None:
    result = run_module(
        "data_science.score_db", "--engine", "spark", env={"JAVA_HOME": "", "PATH": str(small_file.parent)}
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "Spark needs Java and there is none (no java on PATH)" in lines[0]
    assert "apt-get install openjdk-17-jre-headless" in lines[0]


@pytest.mark.parametrize("module", ["data_science.predict_batch", "data_science.score_db"])
def test_an_unreachable_master_fails_within_a_minute_naming_it(
    run_module, module: str, small_file: Path
) -> None:
    started = time.monotonic()
    result = run_module(
        module, *_files(module, small_file), "--engine", "spark", "--spark-master", "spark://127.0.0.1:1"
    )
    assert time.monotonic() - started < 60  # the criterion is itself a time bound
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert (
        "the Spark master spark://127.0.0.1:1 cannot be reached (127.0.0.1:1: Connection refused)" in lines[0]
    )
    assert not small_file.with_name("out.csv").exists()

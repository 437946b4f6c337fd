"""``predict-batch``: every valid row scored in order, bad rows set aside with reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.synthetic import make_bookings


def _run(trained_workspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data_science.predict_batch", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **trained_workspace.env()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def input_file(tmp_path: Path) -> Path:
    frame = make_bookings(300, seed=8).drop(columns=["reservation_status", "reservation_status_date"])
    frame.insert(0, "pms_reference", [f"R{i:05d}" for i in range(len(frame))])  # a hotel's own column
    frame.loc[10, "adults"] = "-3"
    frame.loc[20, "meal"] = "Brunch"
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    return path


def test_scores_valid_rows_in_order_and_rejects_the_rest(
    trained_workspace, input_file: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    result = _run(trained_workspace, str(input_file), str(output))
    assert result.returncode == 0, result.stderr
    assert "300 rows in, 298 scored" in result.stdout
    assert "2 rejected" in result.stdout
    source = pd.read_csv(input_file, dtype=str, keep_default_na=False)
    scored = pd.read_csv(output, dtype=str, keep_default_na=False)
    expected = source.drop(index=[10, 20]).reset_index(drop=True)
    assert list(scored.columns) == [*source.columns, "as_of", "cancel_probability", "will_cancel"]
    pd.testing.assert_frame_equal(scored[source.columns], expected)
    probability = scored["cancel_probability"].astype(float)
    assert probability.between(0, 1).all()
    assert set(scored["will_cancel"]) <= {"0", "1"}
    rejected = pd.read_csv(tmp_path / "out.csv.rejected.csv", dtype=str)
    assert list(rejected["pms_reference"]) == ["R00010", "R00020"]
    assert "adults: must be >= 0" in str(rejected.loc[0, "rejection_reasons"])


def test_missing_column_is_named_and_nothing_written(trained_workspace, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    make_bookings(20).drop(columns=["lead_time"]).to_csv(path, index=False)
    result = _run(trained_workspace, str(path), str(tmp_path / "out.csv"))
    assert result.returncode == 1
    assert "missing column(s): lead_time" in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_unknown_model_uri_explains_what_to_run(trained_workspace, input_file: Path, tmp_path: Path) -> None:
    result = _run(
        trained_workspace, str(input_file), str(tmp_path / "o.csv"), "--model-uri", "models:/nope@champion"
    )
    assert result.returncode == 1
    assert "./cli.sh dvc-init-pipeline" in result.stderr


def test_as_of_scores_the_bookings_on_the_books_and_sets_the_others_aside(
    trained_workspace, tmp_path: Path
) -> None:
    """A historical replay: as of a day, only the bookings on the books then are scored; the rest
    go to the rejected file saying why (booked later, arrived, cancelled by then)."""
    frame = make_bookings(600, seed=12)
    frame.insert(0, "booking_id", [f"R{i:05d}" for i in range(len(frame))])
    path = tmp_path / "replay.csv"
    frame.to_csv(path, index=False)
    day = pd.Timestamp("2016-09-30")
    result = _run(trained_workspace, str(path), str(tmp_path / "out.csv"), "--as-of", str(day.date()))
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    rejected = pd.read_csv(tmp_path / "out.csv.rejected.csv", dtype=str, keep_default_na=False)

    months = {
        m: i for i, m in enumerate(pd.date_range("2017-01-01", periods=12, freq="MS").month_name(), start=1)
    }
    arrival = pd.to_datetime(
        {
            "year": frame["arrival_date_year"].astype(int),
            "month": frame["arrival_date_month"].map(months),
            "day": frame["arrival_date_day_of_month"].astype(int),
        }
    )
    booked = arrival - pd.to_timedelta(frame["lead_time"].astype(int), unit="D")
    left = frame["reservation_status"].isin(["Canceled", "No-Show"]) & (
        pd.to_datetime(frame["reservation_status_date"]) <= day
    )
    on_books = (booked <= day) & (arrival > day) & ~left
    assert set(scored["booking_id"]) == set(frame.loc[on_books, "booking_id"])
    assert (scored["as_of"] == str(day.date())).all()
    assert len(scored) + len(rejected) == len(frame)
    reasons = rejected.set_index("booking_id")["rejection_reasons"]
    assert (
        reasons.loc[frame.loc[booked > day, "booking_id"]].str.contains("before the booking was made").all()
    )
    assert (
        reasons.loc[frame.loc[(arrival <= day) & (booked <= day), "booking_id"]]
        .str.contains("the guest has arrived|not on the books")
        .all()
    )
    assert reasons.loc[frame.loc[left & (arrival > day), "booking_id"]].str.contains("not on the books").all()


def test_a_bad_as_of_is_a_usage_error(trained_workspace, input_file: Path, tmp_path: Path) -> None:
    result = _run(trained_workspace, str(input_file), str(tmp_path / "o.csv"), "--as-of", "2017-02-30")
    assert result.returncode == 2
    assert "not a date (YYYY-MM-DD): '2017-02-30'" in result.stderr

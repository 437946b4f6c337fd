"""The API, batch scoring (predict-batch) and the model agree to the last digit that matters."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from api.tests.helpers import json_bookings
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.synthetic import make_bookings
from data_science.predict_batch import run


def _predict_batch(source: Path, output: Path) -> pd.DataFrame:
    run(source, output)
    return pd.read_csv(output, dtype=str, keep_default_na=False)


def test_api_probabilities_equal_predict_batch_on_10000_rows(
    app_client, shared_data_or_none, tmp_path
) -> None:
    """10,000 real bookings when the data is here (else synthetic), through predict-batch and
    through POST /predict/batch: max abs difference <= 1e-6."""
    source = tmp_path / "bookings.csv"
    if shared_data_or_none is not None:
        # The first 12,000 rows, decompressed, in a temp dir only.
        with gzip.open(shared_data_or_none, "rt", newline="") as stream:
            source.write_text("".join(itertools.islice(stream, 12_001)))
    else:
        make_bookings(12_000, seed=5).to_csv(source, index=False)
    scored = _predict_batch(source, tmp_path / "scored.csv").iloc[:10_000]
    assert len(scored) == 10_000

    bookings = json_bookings(scored)
    response = app_client.post("/predict/batch", json={"bookings": bookings})
    assert response.status_code == 200, response.text[:500]
    api = np.array([p["cancel_probability"] for p in response.json()["predictions"]])
    batch = scored["cancel_probability"].astype(float).to_numpy()
    assert np.max(np.abs(api - batch)) <= 1e-6
    decisions = np.array([p["will_cancel"] for p in response.json()["predictions"]])
    assert (decisions == scored["will_cancel"].astype(int).astype(bool).to_numpy()).all()

    # A sample through the single-booking route too: the same path, the same numbers.
    for i in range(0, 10_000, 500):
        single = app_client.post("/predict", json=bookings[i]).json()["cancel_probability"]
        assert abs(single - api[i]) <= 1e-12


def test_rows_predict_batch_rejects_are_rejected_by_the_api(app_client, tmp_path) -> None:
    """One validator: the CSV edge and the JSON edge refuse the same rows."""
    raw_rows = make_bookings(40, seed=8)
    raw_rows.loc[3, "adults"] = "250"
    raw_rows.loc[9, "arrival_date_day_of_month"] = "31"
    raw_rows.loc[9, "arrival_date_month"] = "April"
    raw_rows.loc[17, "deposit_type"] = "Maybe"
    raw_rows.loc[21, "agent"] = "9.0"  # integral: fine
    raw_rows.loc[25, "agent"] = "9.5"
    path = tmp_path / "raw.csv"
    raw_rows.to_csv(path, index=False)
    run(path, tmp_path / "out.csv")
    rejected = pd.read_csv(tmp_path / "out.csv.rejected.csv", dtype=str)
    lines = set(rejected["source_line"].astype(int) - 2)
    assert lines == {3, 9, 17, 25}
    for i, row in enumerate(pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")):
        # The CSV's text, sent as JSON strings: the API reads text as the file reader does.
        booking = {name: row[name] for name in BOOKING_FIELDS}
        status = app_client.post("/predict", json=booking).status_code
        assert status == (422 if i in lines else 200), (i, booking)

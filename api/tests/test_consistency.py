"""The API, batch scoring (predict-batch) and the model agree to the last digit that matters."""

from __future__ import annotations

import gzip
import itertools

import numpy as np
import pandas as pd

from api.schemas import booking_from_raw
from data_engineering.src.io import read_raw
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.synthetic import make_bookings
from data_science.model import CancellationModel
from data_science.predict_batch import score
from data_science.tracking import resolve


def test_api_probabilities_equal_predict_batch_on_10000_rows(
    app_client, shared_data_or_none, tmp_path
) -> None:
    """10,000 real bookings when the data is here (else synthetic), through predict-batch's
    ``score`` and through POST /predict/batch: max abs difference <= 1e-6."""
    source = tmp_path / "bookings.csv"
    if shared_data_or_none is not None:
        # The first 12,000 rows, decompressed (read_raw takes a plain CSV), in a temp dir only.
        with gzip.open(shared_data_or_none, "rt", newline="") as stream:
            source.write_text("".join(itertools.islice(stream, 12_001)))
    else:
        make_bookings(12_000, seed=5).to_csv(source, index=False)
    raw = read_raw(source, scoring=True)
    model = CancellationModel.load(resolve(None, dst=tmp_path / "model").local_dir)
    scored = score(raw, model).scored.iloc[:10_000]
    assert len(scored) == 10_000

    bookings = [booking_from_raw(row) for row in scored[list(BOOKING_FIELDS)].to_dict("records")]
    response = app_client.post("/predict/batch", json={"bookings": bookings})
    assert response.status_code == 200, response.text[:500]
    api = np.array([p["cancel_probability"] for p in response.json()["predictions"]])
    batch = scored["cancel_probability"].to_numpy()
    assert np.max(np.abs(api - batch)) <= 1e-6
    decisions = np.array([p["will_cancel"] for p in response.json()["predictions"]])
    assert (decisions == scored["will_cancel"].astype(bool).to_numpy()).all()

    # A sample through the single-booking route too: the same path, the same numbers.
    for i in range(0, 10_000, 500):
        single = app_client.post("/predict", json=bookings[i]).json()["cancel_probability"]
        assert abs(single - api[i]) <= 1e-12


def test_rows_predict_batch_rejects_are_rejected_by_the_api(app_client, tmp_path) -> None:
    """Ingest's validation and the request model come from one spec: they refuse the same rows."""
    raw_rows = make_bookings(40, seed=8)
    raw_rows.loc[3, "adults"] = "250"
    raw_rows.loc[9, "arrival_date_day_of_month"] = "31"
    raw_rows.loc[9, "arrival_date_month"] = "April"
    raw_rows.loc[17, "deposit_type"] = "Maybe"
    path = tmp_path / "raw.csv"
    raw_rows.to_csv(path, index=False)
    model = CancellationModel.load(resolve(None, dst=tmp_path / "model").local_dir)
    rejected = set(score(read_raw(path, scoring=True), model).rejected["source_line"] - 2)
    assert rejected == {3, 9, 17}
    for i, row in enumerate(pd.read_csv(path, dtype=str, keep_default_na=False).to_dict("records")):
        status = app_client.post("/predict", json=booking_from_raw(row)).status_code
        assert status == (422 if i in rejected else 200), i

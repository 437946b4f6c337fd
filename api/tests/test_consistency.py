"""The API, batch scoring (predict-batch) and the model agree to the last digit that matters."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from api.tests.helpers import json_bookings, text_dates
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import REASONS_COLUMN
from data_science.predict_batch import run


def _predict_batch(source: Path, output: Path, as_of: np.datetime64 | None = None) -> pd.DataFrame:
    run(source, output, as_of=as_of)
    return pd.read_csv(output, dtype=str, keep_default_na=False)


def _bookings_file(shared_data_or_none: Path | None, path: Path) -> Path:
    """12,000 real bookings when the data is here (their outcomes included), else synthetic ones."""
    if shared_data_or_none is not None:
        # The first 12,000 rows, decompressed, in a temp dir only.
        with gzip.open(shared_data_or_none, "rt", newline="") as stream:
            path.write_text("".join(itertools.islice(stream, 12_001)))
    else:
        make_bookings(12_000, seed=5).to_csv(path, index=False)
    return path


def _api_answers(app_client, scored: pd.DataFrame) -> list[dict]:
    """POST /predict/batch of the scored rows' bookings, each with the day predict-batch judged it as of."""
    bookings = [{**b, "as_of": day} for b, day in zip(json_bookings(scored), scored["as_of"], strict=True)]
    response = app_client.post("/predict/batch", json={"bookings": bookings})
    assert response.status_code == 200, response.text[:500]
    return response.json()["predictions"]


def _assert_same(app_client, scored: pd.DataFrame) -> None:
    items = _api_answers(app_client, scored)
    assert [item["as_of"] for item in items] == scored["as_of"].tolist()
    api = np.array([item["cancel_probability"] for item in items])
    assert np.max(np.abs(api - scored["cancel_probability"].astype(float).to_numpy())) <= 1e-6
    decisions = np.array([item["will_cancel"] for item in items])
    assert (decisions == scored["will_cancel"].astype(int).astype(bool).to_numpy()).all()


def test_api_probabilities_equal_predict_batch_on_10000_rows(
    app_client, shared_data_or_none, tmp_path
) -> None:
    """10,000 real bookings when the data is here (else synthetic), through predict-batch and
    through POST /predict/batch: max abs difference <= 1e-6."""
    source = _bookings_file(shared_data_or_none, tmp_path / "bookings.csv")
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


def test_each_bookings_own_as_of_gives_the_same_answers_in_both(
    app_client, shared_data_or_none, tmp_path
) -> None:
    """An as_of column in the file (each booking judged on a day drawn between its booking date
    and the day before arrival) and the same day sent to the API: 1,000 bookings agree to 1e-6,
    and to the last digit through the single-booking route."""
    source = _bookings_file(shared_data_or_none, tmp_path / "bookings.csv")
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    _, booked = text_dates(raw)
    lead = raw["lead_time"].astype(int)
    drawn = (np.random.default_rng(7).random(len(raw)) * lead).astype(int)  # 0 .. lead - 1 days on
    raw["as_of"] = (booked + pd.to_timedelta(drawn, unit="D")).dt.strftime("%Y-%m-%d")
    raw.to_csv(source, index=False)
    scored = _predict_batch(source, tmp_path / "scored.csv")
    # A replay with outcomes: the bookings cancelled on or before their day are not on the books.
    assert len(scored) >= 1000
    _, scored_booked = text_dates(scored)  # the scored rows' own (rejected rows are not in them)
    later = scored[scored["as_of"] != scored_booked.dt.strftime("%Y-%m-%d")]
    assert len(later) >= 900, "most bookings must be judged after their booking date"
    sample = scored.sample(1000, random_state=3)
    _assert_same(app_client, sample)
    bookings = json_bookings(sample)
    for i in range(0, 1000, 100):
        single = app_client.post("/predict", json={**bookings[i], "as_of": sample["as_of"].iloc[i]}).json()
        assert abs(single["cancel_probability"] - float(sample["cancel_probability"].iloc[i])) <= 1e-6


def test_one_as_of_day_for_every_booking_gives_the_same_answers_in_both(
    app_client, shared_data_or_none, tmp_path
) -> None:
    """``predict-batch --as-of`` (one day for all: the bookings on the books that day are scored,
    the others rejected with their reason) against the API with that as_of."""
    source = _bookings_file(shared_data_or_none, tmp_path / "bookings.csv")
    day = np.datetime64("2016-03-01", "D")
    scored = _predict_batch(source, tmp_path / "scored.csv", as_of=day)
    assert len(scored) >= 1000
    assert set(scored["as_of"]) == {"2016-03-01"}
    _assert_same(app_client, scored.iloc[:2000])
    rejected = pd.read_csv(tmp_path / "scored.csv.rejected.csv", dtype=str)
    reasons = " ".join(rejected[REASONS_COLUMN])
    assert "is on or after the arrival date" in reasons
    assert "is before the booking was made" in reasons


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

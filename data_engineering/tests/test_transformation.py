"""Transformations: versions, cleaning rules, features; one implementation for any batch size."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_engineering.src.files.writing import read_processed
from data_engineering.src.schema import LEAKY_COLUMNS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate
from data_engineering.transformation import VERSIONS, UnknownVersionError, get_transformation
from data_engineering.transformation.encoding import FeatureEncoder, LeakyFeatureError


@pytest.fixture(scope="module")
def valid() -> dict[str, np.ndarray]:
    frame = make_bookings(1500, seed=7)
    frame.loc[0, ["children", "country", "agent", "meal"]] = ["NA", "NULL", "NULL", "Undefined"]
    frame.loc[1, ["country", "agent"]] = ["CN", "009"]
    result = validate({c: pa.array(frame[c].tolist(), pa.string()) for c in frame.columns})
    assert not len(result.rejected)
    return result.columns


def _row(columns: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {name: values[i : i + 1] for name, values in columns.items()}


def test_unknown_version_lists_known_ones() -> None:
    with pytest.raises(
        UnknownVersionError, match=r"unknown transformation version 'v9'; known versions: v1, v2"
    ):
        get_transformation("v9")


def test_v1_cleaning_rules(valid) -> None:
    out = get_transformation("v1").transform(valid)
    assert out["children"][0] == 0
    assert out["country"][0] == "UNK"
    assert out["agent"][0] == "none"
    assert out["meal"][0] == "SC"
    assert out["country"][1] == "CHN"
    assert out["agent"][1] == "9"
    # The outcome travels with the booking (training builds its snapshots from it), never as a feature.
    assert list(out["reservation_status"][:2]) == list(valid["reservation_status"][:2])
    assert (out["reservation_status_date"] == valid["reservation_status_date"]).all()
    assert "is_canceled" in out


def test_v2_booking_time_features(valid) -> None:
    out = get_transformation("v2").transform(valid)
    i = 5
    assert out["booking_date"][i] == out["arrival_date"][i] - np.timedelta64(int(out["lead_time"][i]), "D")
    assert out["total_nights"][i] == out["stays_in_weekend_nights"][i] + out["stays_in_week_nights"][i]
    assert out["total_guests"][i] == out["adults"][i] + out["children"][i] + out["babies"][i]
    assert 0 <= out["weekend_share"].min() <= out["weekend_share"].max() <= 1
    assert set(out["season"]) <= {"winter", "spring", "summer", "autumn"}
    assert set(out["arrival_weekday"]) <= set(range(7))
    arrival = pd.Timestamp(out["arrival_date"][i])
    assert out["arrival_weekday"][i] == arrival.weekday()
    assert out["arrival_day_of_year"][i] == arrival.day_of_year
    assert out["booking_weekday"][i] == pd.Timestamp(out["booking_date"][i]).weekday()


@pytest.mark.parametrize("version", list(VERSIONS))
def test_one_booking_is_a_batch_of_one(valid, version: str) -> None:
    """Row by row or all at once, the one implementation gives the same values."""
    transform = get_transformation(version).transform
    batch = transform(valid)
    for i in (0, 1, 2, 100, 1499):
        alone = transform(_row(valid, i))
        assert list(alone) == list(batch)
        for name, values in batch.items():
            assert alone[name][0] == values[i] or (
                isinstance(values[i], float) and math.isnan(values[i]) and math.isnan(alone[name][0])
            ), (name, i)


def test_cleaning_is_idempotent_so_a_processed_file_can_be_scored(valid) -> None:
    v2 = get_transformation("v2")
    once = v2.transform(valid)
    twice = v2.transform(once)
    for name, values in once.items():
        np.testing.assert_array_equal(values, twice[name], err_msg=name)


def test_a_processed_file_reads_back_to_the_same_features(valid, tmp_path: Path) -> None:
    v2 = get_transformation("v2")
    out = v2.transform(valid)
    kinds = v2.output_columns(list(out))
    types = {"int": pa.int64(), "float": pa.float64(), "text": pa.string(), "date": pa.date32()}
    table = pa.table({name: pa.array(out[name], types[kinds[name]]) for name in kinds})
    path = tmp_path / "bookings_v2.csv"
    pa.csv.write_csv(table, path)
    frame = read_processed("v2", path)
    again = v2.transform(frame)
    for name in v2.numeric_features + v2.categorical_features:
        np.testing.assert_array_equal(np.asarray(again[name]), out[name], err_msg=name)


def test_output_columns_match_declared_types(valid) -> None:
    transformation = get_transformation("v2")
    out = transformation.transform(valid)
    assert list(out) == list(transformation.output_columns(list(out)))
    booking_only = {
        k: v for k, v in valid.items() if k not in ("is_canceled", "assigned_room_type", "booking_changes")
    }
    assert "is_canceled" not in transformation.output_columns(list(transformation.transform(booking_only)))


def _encoder(valid) -> tuple[FeatureEncoder, dict[str, np.ndarray]]:
    v2 = get_transformation("v2")
    out = v2.transform(valid)
    encoder = FeatureEncoder.fit(out, numeric=v2.numeric_features, categorical=v2.categorical_features)
    return encoder, out


def test_encoder_indexes_the_training_categories_and_declares_them_categorical(valid) -> None:
    encoder, out = _encoder(valid)
    seen = sorted(set(out["deposit_type"].tolist()))
    assert encoder.codes["deposit_type"] == {category: i for i, category in enumerate(seen)}
    assert encoder.feature_types == ["q"] * len(encoder.numeric) + ["c"] * len(encoder.categorical)
    column = encoder.feature_names.index("deposit_type")
    codes = encoder.encode(out)[:, column]
    assert [seen[int(c)] for c in codes[:20]] == out["deposit_type"][:20].tolist()


def test_unseen_category_becomes_missing(valid) -> None:
    encoder, out = _encoder(valid)
    row = {name: values[3:4].copy() for name, values in out.items()}
    row["country"] = np.array(["ATA"], dtype=object)
    encoded = encoder.encode(row)[0]
    assert math.isnan(encoded[encoder.feature_names.index("country")])


def test_encoder_round_trips_through_json(valid) -> None:
    encoder, out = _encoder(valid)
    again = FeatureEncoder.from_json(encoder.to_json())
    np.testing.assert_array_equal(encoder.encode(out), again.encode(out))
    assert encoder.encode(out).dtype == np.float32


def test_no_leaky_column_can_be_a_model_feature() -> None:
    for leaky in (*LEAKY_COLUMNS, "is_canceled", "booking_id"):
        with pytest.raises(LeakyFeatureError, match=leaky):
            FeatureEncoder(("lead_time", leaky), ())
    for transformation in VERSIONS.values():
        assert not set(transformation.numeric_features + transformation.categorical_features) & {
            *LEAKY_COLUMNS,
            "is_canceled",
            "booking_id",
        }

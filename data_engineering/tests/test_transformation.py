"""Transformations: versions, cleaning rules, features, and frame == record for every row."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from data_engineering.src.schema import LEAKY_COLUMNS
from data_engineering.src.synthetic import make_bookings
from data_engineering.src.validate import validate_raw
from data_engineering.transformation import VERSIONS, UnknownVersionError, get_transformation
from data_engineering.transformation.encoding import FeatureEncoder


@pytest.fixture(scope="module")
def valid() -> pd.DataFrame:
    frame = make_bookings(1500, seed=7)
    frame.loc[0, ["children", "country", "agent", "meal"]] = ["NA", "NULL", "NULL", "Undefined"]
    frame.loc[1, ["country", "agent"]] = ["CN", "009"]
    return validate_raw(frame).valid


def _records(valid: pd.DataFrame) -> list[dict]:
    """Rows as the API sees them: plain Python values, None for missing."""
    frame = valid.astype(object).where(valid.notna(), None)
    return frame.to_dict("records")


def test_unknown_version_lists_known_ones() -> None:
    with pytest.raises(
        UnknownVersionError, match=r"unknown transformation version 'v9'; known versions: v1, v2"
    ):
        get_transformation("v9")


def test_v1_cleaning_rules(valid: pd.DataFrame) -> None:
    out = get_transformation("v1").transform_frame(valid)
    assert out.loc[0, "children"] == 0
    assert out.loc[0, "country"] == "UNK"
    assert out.loc[0, "agent"] == "none"
    assert out.loc[0, "meal"] == "SC"
    assert out.loc[1, "country"] == "CHN"
    assert out.loc[1, "agent"] == "9"
    assert "reservation_status" not in out
    assert "reservation_status_date" not in out
    assert {"booking_id", "is_canceled"} <= set(out.columns)


def test_v2_booking_time_features(valid: pd.DataFrame) -> None:
    out = get_transformation("v2").transform_frame(valid)
    row = out.iloc[5]
    assert row["booking_date"] == row["arrival_date"] - dt.timedelta(days=int(row["lead_time"]))
    assert row["total_nights"] == row["stays_in_weekend_nights"] + row["stays_in_week_nights"]
    assert row["total_guests"] == row["adults"] + row["children"] + row["babies"]
    assert out["weekend_share"].min() >= 0
    assert out["weekend_share"].max() <= 1
    assert set(out["season"]) <= {"winter", "spring", "summer", "autumn"}
    assert out["arrival_weekday"].between(0, 6).all()


@pytest.mark.parametrize("version", list(VERSIONS))
def test_frame_and_record_paths_agree_on_every_row(valid: pd.DataFrame, version: str) -> None:
    transformation = get_transformation(version)
    frame = transformation.transform_frame(valid)
    records = [transformation.transform_record(r) for r in _records(valid)]
    from_records = pd.DataFrame(records, columns=list(frame.columns))
    assert list(records[0]) == list(frame.columns)
    for column in frame.columns:
        left = frame[column].astype(object).tolist()
        right = from_records[column].tolist()
        assert left == right, column


def test_output_columns_match_declared_types(valid: pd.DataFrame) -> None:
    transformation = get_transformation("v2")
    frame = transformation.transform_frame(valid)
    assert list(frame.columns) == list(transformation.output_columns(list(frame.columns)))
    booking_only = valid.drop(columns=["is_canceled", "assigned_room_type", "booking_changes"])
    assert "is_canceled" not in transformation.output_columns(list(booking_only.columns))


def test_encoder_frame_and_record_rows_are_identical(valid: pd.DataFrame) -> None:
    v2 = get_transformation("v2")
    frame = v2.transform_frame(valid)
    encoder = FeatureEncoder.fit(frame, frame["is_canceled"])
    matrix = encoder.encode_frame(frame)
    rows = np.vstack([encoder.encode_record(v2.transform_record(r)) for r in _records(valid)])
    np.testing.assert_array_equal(matrix, rows)
    assert matrix.dtype == np.float32


def test_encoder_orders_categories_by_training_risk(valid: pd.DataFrame) -> None:
    frame = get_transformation("v2").transform_frame(valid)
    encoder = FeatureEncoder.fit(frame, frame["is_canceled"])
    deposit = encoder.codes["deposit_type"]
    assert deposit["Non Refund"] > deposit["No Deposit"]  # the synthetic rule makes it riskier


def test_unseen_category_becomes_missing(valid: pd.DataFrame) -> None:
    v2 = get_transformation("v2")
    frame = v2.transform_frame(valid)
    encoder = FeatureEncoder.fit(frame, frame["is_canceled"])
    record = v2.transform_record({**_records(valid)[3], "country": "ATA"})
    row = encoder.encode_record(record)[0]
    assert math.isnan(row[encoder.feature_names.index("country")])


def test_encoder_round_trips_through_json(valid: pd.DataFrame) -> None:
    frame = get_transformation("v2").transform_frame(valid)
    encoder = FeatureEncoder.fit(frame, frame["is_canceled"])
    again = FeatureEncoder.from_json(encoder.to_json())
    np.testing.assert_array_equal(encoder.encode_frame(frame), again.encode_frame(frame))


def test_no_leaky_column_is_a_model_feature() -> None:
    features = set(FeatureEncoder().feature_names)
    assert not features & {*LEAKY_COLUMNS, "is_canceled", "booking_id"}


def test_columnar_path_equals_the_frame_path_for_model_inputs(valid: pd.DataFrame) -> None:
    v2 = get_transformation("v2")
    frame = v2.transform_frame(valid)
    encoder = FeatureEncoder.fit(frame, frame["is_canceled"])
    bookings = [
        {k: v for k, v in r.items() if k not in ("booking_id", "source_line")} for r in _records(valid)
    ]
    np.testing.assert_array_equal(
        encoder.encode_columns(v2.transform_columns(bookings)), encoder.encode_frame(frame)
    )

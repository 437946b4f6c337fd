"""The registry of transformation versions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from data_engineering.transformation import v1, v2, v3, v4
from data_engineering.transformation.v1 import ColumnType


@dataclass(frozen=True)
class Transformation:
    version: str
    description: str
    # Output columns and their types, in order. Optional columns (the target, the id and the
    # post-booking facts) appear only when the input has them.
    columns: Mapping[str, ColumnType]
    optional: frozenset[str]
    # Validated bookings (columns) -> the version's columns: one implementation for one booking
    # and for a million (training, batch scoring, the API, the MLflow model, the dashboards).
    transform: Callable[[v1.Columns], dict[str, np.ndarray]]
    # The model's inputs among the output columns (empty: this version is not a model input).
    numeric_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    # Whether its features depend on the day a booking is judged as of (else only the booking date).
    as_of: bool = False
    # An as-of transformation's at-booking head: the version that answers for T = the booking date.
    at_booking: str | None = None

    def output_columns(self, frame_columns: list[str] | None = None) -> dict[str, ColumnType]:
        present = set(frame_columns) if frame_columns is not None else set(self.columns)
        return {
            name: kind for name, kind in self.columns.items() if name not in self.optional or name in present
        }


class UnknownVersionError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


VERSIONS: dict[str, Transformation] = {
    "v1": Transformation(
        version="v1",
        description="typed and cleaned raw columns; outcome columns dropped",
        columns=v1.COLUMNS,
        optional=v1.OPTIONAL,
        transform=v1.transform,
    ),
    "v2": Transformation(
        version="v2",
        description="v1 plus booking-time features (dates, stay, guests, price, history)",
        columns=v2.COLUMNS,
        optional=v1.OPTIONAL,
        transform=v2.transform,
        numeric_features=v2.NUMERIC_FEATURES,
        categorical_features=v2.CATEGORICAL_FEATURES,
    ),
    "v3": Transformation(
        version="v3",
        description="v2 plus the booking date as a point in time (booking_date_index)",
        columns=v3.COLUMNS,
        optional=v1.OPTIONAL,
        transform=v3.transform,
        numeric_features=v3.NUMERIC_FEATURES,
        categorical_features=v3.CATEGORICAL_FEATURES,
    ),
    "v4": Transformation(
        version="v4",
        description="v3 plus the as-of features: days to arrival and days since booking on the day judged",
        columns=v4.COLUMNS,
        optional=v1.OPTIONAL - {"as_of"},  # always there: the booking date unless given
        transform=v4.transform,
        numeric_features=v4.NUMERIC_FEATURES,
        categorical_features=v4.CATEGORICAL_FEATURES,
        as_of=True,
        at_booking="v3",
    ),
}


def get_transformation(version: str) -> Transformation:
    try:
        return VERSIONS[version]
    except KeyError:
        raise UnknownVersionError(
            f"unknown transformation version '{version}'; known versions: {', '.join(VERSIONS)}"
        ) from None

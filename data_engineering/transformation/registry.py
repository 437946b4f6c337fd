"""The registry of transformation versions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from data_engineering.transformation import v1, v2

ColumnType = Literal["int", "float", "text", "date"]


@dataclass(frozen=True)
class Transformation:
    version: str
    description: str
    # Output columns and their types, in order. Optional columns (the target and post-booking
    # facts) appear only when the input has them.
    columns: Mapping[str, ColumnType]
    optional: frozenset[str]
    transform_frame: Callable[[pd.DataFrame], pd.DataFrame]
    transform_record: Callable[[Mapping[str, Any]], dict[str, Any]]
    # Many bookings as numpy columns (the model's inputs only): the API's batch path.
    transform_columns: Callable[[Sequence[Mapping[str, Any]]], dict[str, np.ndarray]] | None = None

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
        transform_frame=v1.transform_frame,
        transform_record=v1.transform_record,
    ),
    "v2": Transformation(
        version="v2",
        description="v1 plus booking-time features (dates, stay, guests, price, history)",
        columns=v2.COLUMNS,
        optional=v1.OPTIONAL,
        transform_frame=v2.transform_frame,
        transform_record=v2.transform_record,
        transform_columns=v2.transform_columns,
    ),
}


def get_transformation(version: str) -> Transformation:
    try:
        return VERSIONS[version]
    except KeyError:
        raise UnknownVersionError(
            f"unknown transformation version '{version}'; known versions: {', '.join(VERSIONS)}"
        ) from None

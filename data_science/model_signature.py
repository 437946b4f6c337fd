"""The registered model's contract with its callers: the MLflow signature (the API's fields, the
hotel's ``booking_id`` and the ``as_of`` day in; the answer out), an input example generated from
the column spec, and the pinned requirements it is served with outside this repository."""

from __future__ import annotations

from importlib.metadata import version as package_version
from typing import TYPE_CHECKING

import pandas as pd

from data_engineering.src.schema import AS_OF, BOOKING_FIELDS, BOOKING_ID, COLUMNS_BY_NAME, SCORING_FIELDS
from data_engineering.src.validate import NUMERIC_KINDS
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY

if TYPE_CHECKING:
    from mlflow.models import ModelSignature


def signature_columns() -> list[tuple[str, str, bool]]:
    """(field, MLflow type, required) of every field a booking may be scored with: the API's
    contract too — the booking fields, the hotel's ``booking_id`` and the ``as_of`` day.

    Numbers and ids are ``Any``: like the API and ``predict-batch``, the model takes 9, 9.0 or
    "9.0" and its own validator says what it refuses and why; text fields (and the date) are strings.
    """
    return [
        (
            name,
            "any" if COLUMNS_BY_NAME[name].kind in NUMERIC_KINDS else "string",
            not COLUMNS_BY_NAME[name].nullable,
        )
        for name in SCORING_FIELDS
    ]


def input_signature() -> ModelSignature:
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec] = [
        ColSpec(AnyType() if kind == "any" else kind, name, required=required)
        for name, kind, required in signature_columns()
    ]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", BOOKING_ID, required=False),
        ColSpec("string", AS_OF),
        ColSpec("double", "cancel_probability"),
        ColSpec("boolean", "will_cancel"),
    ]
    return ModelSignature(inputs=Schema(columns), outputs=Schema(outputs))


def input_example(frame: pd.DataFrame, *, later_days: bool = True) -> pd.DataFrame:
    """A few bookings as a hotel system sends them: the cleaned placeholders back to missing, a
    reservation id, and (``later_days``: for a model that judges bookings as of any day) all but
    the first judged as of the day after their booking date."""
    example = frame[list(BOOKING_FIELDS)].head(5).astype(object)
    for name in ("agent", "company"):
        example[name] = example[name].where(example[name] != NO_ID, None)
    example["country"] = example["country"].where(example["country"] != UNKNOWN_COUNTRY, None)
    example.insert(0, BOOKING_ID, [f"EXAMPLE-{k + 1}" for k in range(len(example))])
    booked, arrival = (
        pd.to_datetime(frame["booking_date"].head(5)),
        pd.to_datetime(frame["arrival_date"].head(5)),
    )
    later = (booked + pd.Timedelta(days=1)).where(
        later_days & (arrival - booked > pd.Timedelta(days=1)), booked
    )
    example[AS_OF] = [None, *(str(day.date()) for day in later.iloc[1:])] if len(example) else []
    return example


def requirements() -> list[str]:
    from data_science.pyfunc import REQUIREMENTS

    return [f"{name}=={package_version(name)}" for name in REQUIREMENTS]

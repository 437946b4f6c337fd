"""The MLflow pyfunc: raw booking fields in, cancellation probability out.

It validates the rows with the same schema as ingest and applies the shared transformation, so
``mlflow models serve`` or ``mlflow.pyfunc.load_model`` give the same numbers as batch scoring
and the API. (MLflow's own xgboost flavour would need pre-computed features and rejects pandas
categoricals; this takes what a hotel system has.)
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.validate import validate_raw
from data_science.model import CancellationModel
from data_science.tracking import BUNDLE_ARTIFACT


def as_raw_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed or text columns -> the raw text form ingest reads (missing values -> empty)."""
    # str() of a float is its shortest exact repr, so numbers survive the round trip bit for bit;
    # "2.0" in an integer column parses as 2.
    return frame.astype(object).where(frame.notna(), "").astype("str")


class InvalidBookingsError(ValueError):
    pass


class HotelCancellationPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.model = CancellationModel.load(Path(context.artifacts[BUNDLE_ARTIFACT]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        frame = pd.DataFrame(model_input)
        for name in BOOKING_FIELDS:
            if name not in frame:
                frame[name] = None  # optional fields (children, country, agent, company)
        raw = as_raw_text(frame[list(BOOKING_FIELDS)]).reset_index(drop=True)
        result = validate_raw(raw, scoring=True)
        if len(result.rejected):
            first = result.rejected.iloc[0]
            raise InvalidBookingsError(
                f"{len(result.rejected)} invalid booking(s); first at row {int(first['source_line']) - 2}: "
                f"{first['rejection_reasons']}"
            )
        return self.model.predict_frame(result.valid)

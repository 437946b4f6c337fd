"""Generated bookings as the pipeline's ``transform`` stage leaves them, for tests that train or
build snapshots in-process (the tests make their own data: never the public file)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from data_engineering.src.validate import validate
from data_engineering.transformation import get_transformation


def processed(frame: pd.DataFrame, version: str = "v4") -> pd.DataFrame:
    """``frame`` (raw columns, e.g. ``make_bookings``) validated and transformed, with booking ids
    ``B0``, ``B1``, …; every row must pass the validation."""
    validated = validate({c: pa.array(frame[c].tolist(), pa.string()) for c in frame.columns})
    assert not len(validated.rejected), validated.rejected
    ids = np.array([f"B{i}" for i in range(len(frame))], dtype=object)
    return pd.DataFrame(get_transformation(version).transform({**validated.columns, "booking_id": ids}))

"""Versioned transformations of validated bookings: the only place features are computed.

Each version is one columnar function (``Transformation.transform``): many bookings in, their
columns out; one booking is a batch of one. Training, batch scoring, the API, the MLflow model
and the dashboards all call it, so a feature cannot drift between them.
"""

from data_engineering.transformation.registry import (
    VERSIONS,
    Transformation,
    UnknownVersionError,
    get_transformation,
)

# What feature values mean, for code that puts them in words (``data_science.explain``).
from data_engineering.transformation.v1 import NO_ID, UNKNOWN_COUNTRY
from data_engineering.transformation.v2 import HOME_COUNTRY
from data_engineering.transformation.v3 import booking_day

__all__ = [
    "HOME_COUNTRY",
    "NO_ID",
    "UNKNOWN_COUNTRY",
    "VERSIONS",
    "Transformation",
    "UnknownVersionError",
    "booking_day",
    "get_transformation",
]

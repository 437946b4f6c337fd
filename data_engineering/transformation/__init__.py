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

__all__ = ["VERSIONS", "Transformation", "UnknownVersionError", "get_transformation"]

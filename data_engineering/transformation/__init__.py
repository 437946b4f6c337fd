"""Versioned transformations of validated bookings: the only place features are computed.

Training, batch scoring and the API all import this package, so a feature cannot drift between
them. Every version works on a whole DataFrame (batch) and on a single booking dict (the API's hot
path) with the same results; ``data_engineering/tests/test_transformation.py`` holds them to it.
"""

from data_engineering.transformation.registry import (
    VERSIONS,
    Transformation,
    UnknownVersionError,
    get_transformation,
)

__all__ = ["VERSIONS", "Transformation", "UnknownVersionError", "get_transformation"]

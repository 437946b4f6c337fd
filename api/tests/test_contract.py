"""Schemathesis against /openapi.json (in-process ASGI), with every check it has.

Positive cases (bookings the schema allows) must be answered 2xx, negative ones (anything it
refuses: wrong types, out-of-range numbers, unknown fields, impossible dates, booleans for
counts) must be refused with a declared 4xx, and every response must match its declared schema,
status and content type. The booking's schema and the validator are both generated from the
column spec; this is what holds them to each other.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def api_schema(app_client):
    return schemathesis.openapi.from_asgi("/openapi.json", app_client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_openapi_schema(case) -> None:
    case.call_and_validate()

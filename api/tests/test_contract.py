"""Schemathesis against /openapi.json (in-process ASGI): no server error, every response as the
schema says (status codes, content types, bodies). Bounded examples keep it to seconds."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(app_client):
    return schemathesis.openapi.from_asgi("/openapi.json", app_client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_honours_its_openapi_schema(case) -> None:
    case.call_and_validate(checks=CHECKS)

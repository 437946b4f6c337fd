"""API keys of ``/predict``: refused without one, rotated through ``API_KEYS_FILE`` without a
restart, required by default outside development, and a start without them ends naming them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.tests.helpers import api_settings
from api.tests.servers import start_up_failure
from data_engineering.src.ports import wait_until

KEY, OTHER_KEY, NEW_KEY = "first-client-key-0123", "second-client-key-4567", "rotated-client-key-89ab"


@pytest.fixture(scope="module")
def keyed_client(served_workspace, sqlite_log_url) -> Iterator[TestClient]:
    app = create_app(api_settings(sqlite_log_url, keys=f"{KEY}, {OTHER_KEY}", require_key=True))
    with TestClient(app) as client:
        yield client


def test_predict_without_a_key_is_401_naming_the_header(keyed_client, booking) -> None:
    for path, body in (("/predict", booking), ("/predict/batch", {"bookings": [booking]})):
        answer = keyed_client.post(path, json=body)
        assert answer.status_code == 401, path
        assert answer.json() == {"detail": "missing or unknown API key (header X-API-Key)"}
        assert answer.headers["www-authenticate"] == "APIKey"


def test_a_wrong_key_is_401_and_every_configured_key_works(keyed_client, booking) -> None:
    assert keyed_client.post("/predict", json=booking, headers={"X-API-Key": KEY[:-1]}).status_code == 401
    assert keyed_client.post("/predict", json=booking, headers={"X-API-Key": ""}).status_code == 401
    for key in (KEY, OTHER_KEY):
        answer = keyed_client.post("/predict", json=booking, headers={"X-API-Key": key})
        assert answer.status_code == 200, answer.text
        assert 0 <= answer.json()["cancel_probability"] <= 1


def test_operations_routes_need_no_key(keyed_client) -> None:
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.get("/model").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200


def test_openapi_declares_the_key_on_predict_only(keyed_client) -> None:
    schema = keyed_client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert schema["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
    assert "401" in schema["paths"]["/predict/batch"]["post"]["responses"]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_keys_rotate_through_the_file_without_a_restart(
    served_workspace, sqlite_log_url, booking, tmp_path
) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# clients of the booking engine\n{KEY}\n")
    app = create_app(api_settings(sqlite_log_url, keys_file=keys_file, require_key=True))

    def status(key: str) -> int:
        return client.post("/predict", json=booking, headers={"X-API-Key": key}).status_code

    with TestClient(app) as client:
        assert (status(KEY), status(NEW_KEY)) == (200, 401)
        keys_file.write_text(f"{KEY}\n{NEW_KEY}\n")  # the new key added beside the old one
        assert wait_until(lambda: status(NEW_KEY) == 200, 5), "the new key was never accepted"
        assert status(KEY) == 200
        keys_file.write_text(f"{NEW_KEY}\n")  # the old one retired
        assert wait_until(lambda: status(KEY) == 401, 5), "the retired key still works"
        assert status(NEW_KEY) == 200
        keys_file.unlink()  # gone (a rename half done): the keys read last still hold
        assert all(status(NEW_KEY) == 200 for _ in range(3))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"APP_ENV": None}, True),
        ({"APP_ENV": "prod"}, True),
        ({"APP_ENV": "local"}, False),
        ({"APP_ENV": "test"}, False),
        ({"APP_ENV": "local", "API_REQUIRE_KEY": "true"}, True),
        ({"APP_ENV": None, "API_REQUIRE_KEY": "false"}, False),
    ],
)
def test_a_key_is_required_outside_development(settings_env, monkeypatch, env, expected) -> None:
    # No .env.local: once `setup-db local` wrote one, an unset APP_ENV means local (development).
    for name in ("prod", "test"):
        settings_env(name)
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert Settings().key_required() is expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"API_REQUIRE_KEY": "true"},
            (
                "serve-api: error: API_KEYS is not set: outside development (APP_ENV local or test) /predict "
                "needs keys; set API_KEYS or API_KEYS_FILE, or API_REQUIRE_KEY=false to serve it without one"
            ),
        ),
        (
            {"API_KEYS": f"{KEY},change-me"},
            "serve-api: error: API_KEYS holds a placeholder key (such as change-me): set real keys",
        ),
        (
            {"API_KEYS": "short"},  # pragma: allowlist secret
            "serve-api: error: API_KEYS: every key needs at least 16 characters",
        ),
        (
            {"API_KEYS_FILE": "/nonexistent/keys"},
            "serve-api: error: API_KEYS_FILE=/nonexistent/keys: No such file or directory",
        ),
    ],
)
def test_serve_api_without_usable_keys_stops_naming_the_variable(env: dict[str, str], message: str) -> None:
    code, output = start_up_failure({"API_REQUIRE_KEY": "", **env})
    assert code == 1
    assert message in output.splitlines(), output
    assert "Traceback" not in output


def test_a_key_file_outside_development_must_hold_strong_keys(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("change-me\n")
    code, output = start_up_failure({"API_REQUIRE_KEY": "", "API_KEYS_FILE": str(keys_file)})
    assert code == 1
    assert (
        f"serve-api: error: API_KEYS_FILE={keys_file} holds a placeholder key (such as change-me): set real keys"
        in output
    )

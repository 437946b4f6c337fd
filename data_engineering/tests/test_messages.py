"""What a person reads of a failure or a connection: one line, never a password."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from data_engineering.src.messages import first_line, masked, masked_uri


def test_a_drivers_error_is_its_own_first_line() -> None:
    engine = sa.create_engine("sqlite:///file:/no/such/folder/x.sqlite?mode=ro&uri=true")
    with pytest.raises(sa.exc.OperationalError) as caught:
        engine.connect()
    assert first_line(caught.value) == "unable to open database file"  # not SQLAlchemy's wrapper


def test_first_line_of_a_long_or_empty_message() -> None:
    assert first_line(RuntimeError("first\nsecond")) == "first"
    assert first_line(RuntimeError("  \n")) == "RuntimeError"  # nothing to say: its class
    assert first_line(ValueError("x" * 500), limit=10) == "x" * 10


def test_mlflows_message_rather_than_its_json() -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

    exc = MlflowException("Registered Model with name=x not found\nmore", error_code=RESOURCE_DOES_NOT_EXIST)
    assert first_line(exc) == "Registered Model with name=x not found"


def test_urls_shown_never_carry_passwords() -> None:
    assert masked("postgresql+psycopg://reader:s3cret@db:5432/hotel") == (  # pragma: allowlist secret
        "postgresql+psycopg://reader:***@db:5432/hotel"
    )
    assert (
        masked_uri("https://user:s3cret@mlflow.example.com:5000")  # pragma: allowlist secret
        == "https://user:***@mlflow.example.com:5000"
    )
    fake = "postgresql://u:s3cret@h/mlflow"  # pragma: allowlist secret
    assert masked_uri(fake) == "postgresql://u:***@h/mlflow"
    assert masked_uri("sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"
    assert masked_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("show", "text"),
    [
        (masked, "not a url with s3cret"),
        (masked_uri, "https://user:s3cret@host:port-is-not-a-number"),  # pragma: allowlist secret
    ],
)
def test_an_unparsable_url_is_a_placeholder_not_its_text(show, text: str) -> None:
    shown = show(text)
    assert "s3cret" not in shown
    assert shown.startswith("(unparsable")

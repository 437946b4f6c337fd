"""Where the raw bookings come from: the settings, else the last ingest's record, else params.yaml.

``data/raw/hotel_bookings.source.json`` records the source of the last successful ingest (path or
URL, origin, sha256, and params.yaml's ``ingest`` section at the time), so that exporting
``HOTEL_BOOKINGS_SOURCE`` once is enough: later commands reuse it while params.yaml is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from data_engineering.src.paths import RAW_FILE, display_path
from data_engineering.src.reading_settings import IngestSettings
from data_engineering.src.settings import env_name, repo_path

SOURCE_ENV = env_name(IngestSettings, "source")
PARAMS_ORIGIN = "params.yaml ingest.source"


class IngestParams(BaseModel):
    source: str | None = Field(None, description="local path or http(s) URL of the raw CSV(.gz)")
    sha256: str | None = Field(None, description="expected sha256 of the decompressed CSV")
    retries: int = Field(3, ge=0, le=20)
    timeout_seconds: float = Field(60, gt=0)


class SourceError(RuntimeError):
    """The raw data source is missing, unreachable or not what was expected."""


class SourceRecord(BaseModel):
    """Where ``data/raw`` came from, as the last successful ingest recorded it."""

    location: str
    origin: str
    sha256: str
    size: int
    ingested_at: str
    # params.yaml's ingest.source and sha256 at the time: when they change, they win again.
    params_source: str | None
    params_sha256: str | None


@dataclass(frozen=True)
class Source:
    location: str
    sha256: str | None  # expected content, when the source came with one
    origin: str  # where the location came from, for error messages
    remembered: SourceRecord | None = None  # the last ingest's record, when that is the source

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


def record_file(dest: Path) -> Path:
    """Where ingest records the source of ``dest`` (``data/raw/hotel_bookings.source.json``)."""
    return dest.with_suffix(".source.json")


def read_record(dest: Path) -> SourceRecord | None:
    """The recorded source of ``dest``; None when there is none (or it is unreadable)."""
    try:
        return SourceRecord.model_validate_json(record_file(dest).read_bytes())
    except (OSError, ValidationError):
        return None


def resolve_source(params: IngestParams, dest: Path = RAW_FILE) -> Source:
    """The settings, else the last ingest's source while params.yaml is unchanged, else params.yaml."""
    settings = IngestSettings()
    if settings.source:
        return Source(settings.source, settings.sha256, SOURCE_ENV)
    record = read_record(dest)
    if record is not None and (record.params_source, record.params_sha256) == (params.source, params.sha256):
        origin = f"{display_path(record_file(dest))}: the last ingest's source, from {record.origin}"
        return Source(record.location, None, origin, remembered=record)
    if params.source:
        return Source(params.source, params.sha256, PARAMS_ORIGIN)
    raise SourceError(
        f"no raw data source: set the environment variable {SOURCE_ENV} or params.yaml "
        "ingest.source to a local path or URL of hotel_bookings.csv(.gz) "
        "(see README.md, 'Data')"
    )


def local_bookings_file(*fallbacks: Path) -> Path | None:
    """A bookings file already on this machine, for the benchmarks that repeat real rows:
    ``HOTEL_BOOKINGS_SOURCE`` when it names a local file, else the first of ``fallbacks`` there."""
    source = IngestSettings().source
    configured = [repo_path(source)] if source and not Source(source, None, SOURCE_ENV).is_url else []
    return next((path for path in [*configured, *fallbacks] if path.is_file()), None)

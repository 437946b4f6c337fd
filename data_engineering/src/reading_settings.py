"""How the platform reads its inputs: where the bookings come from (``HOTEL_BOOKINGS_SOURCE``),
the limits every CSV file is read within, and how often a long step reports its progress. Settings
classes on the configuration module's base, like every other."""

from __future__ import annotations

from pydantic import Field

from data_engineering.src.settings import HotelSettings


class IngestSettings(HotelSettings):
    source: str | None = Field(
        None,
        validation_alias="HOTEL_BOOKINGS_SOURCE",
        description="path or http(s) URL of `hotel_bookings.csv(.gz)` (`./cli.sh` takes a relative "
        "path from your directory); overrides `params.yaml` → `ingest.source`",
        json_schema_extra={"default_shown": "`params.yaml` → `ingest.source`"},
    )
    sha256: str | None = Field(
        None,
        validation_alias="HOTEL_BOOKINGS_SHA256",
        description="expected sha256 of the decompressed CSV of `HOTEL_BOOKINGS_SOURCE` (optional)",
        json_schema_extra={"default_shown": "unchecked"},
    )
    max_shrink: float = Field(
        0.5,
        ge=0,
        le=1,
        validation_alias="HOTEL_MAX_SHRINK",
        description="the largest share of the rows already loaded that `initialize-data` may drop "
        "without `--allow-shrink` (0.5: a load keeping fewer than half of them is refused; 1: never "
        "asked)",
    )


class CsvSettings(HotelSettings):
    """Limits of every CSV file the platform reads: a hostile file is refused in bounded time and
    memory, naming the limit, instead of exhausting either."""

    max_columns: int = Field(
        1000,
        ge=1,
        validation_alias="HOTEL_CSV_MAX_COLUMNS",
        description="most columns a CSV file may have (the dataset has 32; columns of your own pass "
        "through `predict-batch`)",
    )
    max_line_bytes: int = Field(
        1 << 20,
        ge=1024,
        validation_alias="HOTEL_CSV_MAX_LINE_BYTES",
        description="longest line of a CSV file, in bytes (a booking takes about 150)",
    )
    max_field_bytes: int = Field(
        128 << 10,
        ge=64,
        validation_alias="HOTEL_CSV_MAX_FIELD_BYTES",
        description="longest field of a CSV file, in bytes",
    )
    max_gzip_ratio: float = Field(
        100,
        gt=1,
        validation_alias="HOTEL_CSV_MAX_GZIP_RATIO",
        description="most times a gzip file may expand (bookings compress about 15 times; a gzip bomb "
        "a thousand): beyond it, the file is refused",
    )


class ProgressSettings(HotelSettings):
    seconds: float = Field(
        30,
        gt=0,
        validation_alias="HOTEL_PROGRESS_SECONDS",
        description="outside a terminal, the longest wait between two progress lines of long steps "
        "(on a terminal progress is a bar)",
    )

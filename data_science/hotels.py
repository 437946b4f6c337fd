"""Each hotel's rooms and costs: the one file a hotel group edits for the overbooking advice.

``HOTEL_CAPACITY_FILE`` names it (default ``data_engineering/hotels.yaml``: the costs, and no hotel,
since the public dataset does not give its hotels' sizes). A hotel group's looks like this::

    walk_cost: 300          # what walking a guest costs (another hotel, transport, goodwill)
    empty_room_cost: 100    # what a room left empty costs (the night's lost revenue)
    hotels:
      City Hotel:
        capacity: 226       # rooms; without it, no overbooking advice for the hotel
      Resort Hotel:
        capacity: 187
        walk_cost: 450      # a hotel's own cost overrides the file's

Every hotel named must be one of the vocabulary in use (``HOTEL_VOCABULARY``): a misspelt hotel
would otherwise silently get no advice. Any problem is a ``HotelsFileError``, one line naming
the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from data_engineering.src import schema
from data_engineering.src.settings import CapacitySettings
from data_engineering.src.yaml_file import read_yaml

# Numbers as YAML types them: "200" (text) or 200.0 (for rooms) is refused, not converted.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
Cost = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class HotelsFileError(ValueError):
    """The capacity file is missing, not YAML, or holds a bad value. A ValueError: every command
    reports those as one line and exits 1."""


def _vocabulary_hotel(name: str) -> str:
    hotels = schema.VOCABULARY["hotel"]
    if name not in hotels:
        raise ValueError(
            f"{name!r} is not a hotel of the vocabulary in use, {schema.vocabulary_in_use()}, "
            f"which lists: {', '.join(hotels)}"
        )
    return name


class HotelTerms(BaseModel):
    """What the file says of one hotel (costs unset: the file's)."""

    model_config = _STRICT
    capacity: int | None = Field(None, gt=0)
    walk_cost: Cost | None = None
    empty_room_cost: Cost | None = None


@dataclass(frozen=True)
class Hotel:
    """One hotel's terms, the file's costs filled in."""

    capacity: int | None
    walk_cost: float
    empty_room_cost: float


class HotelsConfig(BaseModel):
    model_config = _STRICT
    walk_cost: Cost
    empty_room_cost: Cost
    # A hotel listed with nothing under it (every line commented out) has no terms of its own.
    hotels: dict[Annotated[str, AfterValidator(_vocabulary_hotel)], HotelTerms | None] = Field(
        default_factory=dict
    )

    @field_validator("hotels", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def hotel(self, name: str) -> Hotel:
        """``name``'s terms (a hotel the file does not list: no capacity, the file's costs)."""
        own = self.hotels.get(name) or HotelTerms()
        return Hotel(
            capacity=own.capacity,
            walk_cost=self.walk_cost if own.walk_cost is None else own.walk_cost,
            empty_room_cost=self.empty_room_cost if own.empty_room_cost is None else own.empty_room_cost,
        )


def capacity_file() -> Path:
    """``HOTEL_CAPACITY_FILE`` (relative paths from the repository root), else the default file."""
    return CapacitySettings().capacity_file


def load_hotels(path: Path | None = None) -> HotelsConfig:
    """The capacity file (default: ``capacity_file()``), checked; HotelsFileError names the problem."""
    path = capacity_file() if path is None else path
    what = "the capacity file"
    document = read_yaml(path, what, HotelsFileError)
    if not isinstance(document, dict):
        raise HotelsFileError(f"{what} {path} must map walk_cost, empty_room_cost and hotels to their values")
    try:
        return HotelsConfig.model_validate(document)
    except ValidationError as exc:
        raise HotelsFileError(f"{what} {path}: {'; '.join(map(_problem, exc.errors()))}") from None


def _problem(error: Any) -> str:
    """One pydantic error as ``hotels → City Hotel → capacity: what is wrong (got -3)``."""
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    if error["type"] == "extra_forbidden":
        allowed = HotelTerms if len(loc) > 1 else HotelsConfig
        what = f"unknown key (expected one of: {', '.join(allowed.model_fields)})"
    elif error["type"] == "value_error":  # our own message: the text after pydantic's prefix
        what = str(error["ctx"]["error"])
    else:
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
        what = error["msg"][:1].lower() + error["msg"][1:] + shown
    return f"{' → '.join(loc)}: {what}"

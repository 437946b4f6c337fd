"""What the API serves: one immutable ``ServingState`` (model + its description), swapped whole.

A request reads ``holder.state`` once and uses that object to the end, so a reload that swaps
the reference mid-request cannot mix two models: in-flight requests finish on the old state,
new ones get the new state, and nothing on the prediction path takes a lock
(``api.loading.ModelHolder`` makes the swap).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_science.model import CancellationModel


@dataclass(frozen=True)
class ServingState:
    model: CancellationModel
    name: str | None
    version: str | None
    uri: str
    info: dict[str, Any]  # the body of GET /model
    info_json: bytes = field(repr=False)  # ... serialized once per load

    @property
    def threshold(self) -> float:
        return self.model.threshold


@dataclass(frozen=True)
class LoadFailure:
    """Why the model the registry names is not the one served (or why none is)."""

    reason: str  # "champion version 2: booster.ubj is damaged (...)"
    version: str | None  # the version that failed to load, when the registry said which

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason}


class NoModelLoadedError(RuntimeError):
    pass

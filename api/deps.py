"""FastAPI dependencies (``Annotated`` aliases used by the routes).

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool,
a hop that would cost more than the prediction itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.auth import ApiKeys
from api.batcher import MicroBatcher
from api.estimate import EstimateWatch
from api.loading import ModelHolder
from api.metrics import Metrics
from api.prediction_log import PredictionLog
from api.settings import Settings
from api.state import ServingState
from api.watcher import ChampionWatcher
from data_science.hotels import HotelsConfig


@dataclass
class Runtime:
    """Everything a request may need, created once per app (the model arrives with the lifespan)."""

    settings: Settings
    holder: ModelHolder
    prediction_log: PredictionLog
    metrics: Metrics
    watcher: ChampionWatcher
    batcher: MicroBatcher
    estimate: EstimateWatch  # the estimated ROC AUC of the recent answers, and its alert
    hotels: HotelsConfig | None = None  # capacities and costs, read at start-up (the overbooking advice)
    keys: ApiKeys | None = None  # settings.api_keys(); None: unusable (start-up fails saying why)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_serving_state(request: Request) -> ServingState:
    holder = request.app.state.runtime.holder
    state: ServingState | None = holder.state
    if state is None:
        detail = f"no model loaded: {holder.failure.reason}" if holder.failure else "no model loaded yet"
        raise HTTPException(status_code=503, detail=detail)
    return state


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServingDep = Annotated[ServingState, Depends(get_serving_state)]

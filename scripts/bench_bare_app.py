"""The limit ``bench-api`` measures against: a bare FastAPI app around the champion's booster.

It does the least a prediction service can do — parse a row of already-encoded features, call
``inplace_predict``, answer the probability — so our API's ratio to it is what validation,
features, calibration, reasons and logging cost. Run by ``scripts/bench_api.py``:

    BENCH_BOOSTER=/path/to/booster.ubj uvicorn --factory scripts.bench_bare_app:create_app
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import xgboost as xgb
from fastapi import FastAPI, Request
from pydantic import Field
from starlette.responses import Response

from data_engineering.src.settings import HotelSettings


class BareAppSettings(HotelSettings):
    # uvicorn takes the app by import path, with no arguments of its own: bench-api hands the
    # booster over in the environment of the server it starts.
    reads_env_file = False

    booster: Path = Field(
        validation_alias="BENCH_BOOSTER",
        description="the booster file of the bare app `bench-api` measures the API against (set by "
        "`bench-api` for the server it starts)",
        json_schema_extra={"default_shown": "required by `scripts/bench_bare_app.py`"},
    )


def create_app() -> FastAPI:
    """The bare app around the booster ``BENCH_BOOSTER`` names (uvicorn's ``--factory``)."""
    booster = xgb.Booster()
    booster.load_model(BareAppSettings().booster)
    booster.set_param({"nthread": 1})  # as our API runs it: one thread per row is the fast path
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> Response:
        return Response(b"ok")

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        row = orjson.loads(await request.body())["row"]
        matrix = np.array([row], dtype=np.float32)
        probability = float(booster.inplace_predict(matrix, validate_features=False)[0])
        return Response(orjson.dumps({"cancel_probability": probability}), media_type="application/json")

    return app

"""The limit ``bench-api`` measures against: a bare FastAPI app around the champion's booster.

It does the least a prediction service can do — parse a row of already-encoded features, call
``inplace_predict``, answer the probability — so our API's ratio to it is what validation,
features, calibration, reasons and logging cost. Run by ``scripts/bench_api.py``:

    BENCH_BOOSTER=/path/to/booster.ubj uvicorn scripts.bench_bare_app:app
"""

from __future__ import annotations

import os

import numpy as np
import orjson
import xgboost as xgb
from fastapi import FastAPI, Request
from starlette.responses import Response

booster = xgb.Booster()
booster.load_model(os.environ["BENCH_BOOSTER"])
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

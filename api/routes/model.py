"""``GET /model``: which model answers, how it was trained and how well it did."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import RuntimeDep, ServingDep
from api.responses import json_response
from api.schemas import Message, ModelInfo

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    response_model=ModelInfo,
    summary="The model being served: registry version, training window, metrics, threshold, features",
    responses={503: {"model": Message, "description": "No model is loaded"}},
)
async def model_info(state: ServingDep, runtime: RuntimeDep) -> Response:
    failure = runtime.holder.failure
    if failure is not None:  # rare: the registry names a version this worker could not load
        return json_response({**state.info, "load_failure": failure.as_json()})
    return Response(state.info_json, media_type="application/json")

"""Client of the prediction API's ``POST /predict`` for the What-if page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from streamlit_apps.lib.config import API_TIMEOUT_SECONDS, api_headers, api_url


class ApiUnavailable(Exception):  # noqa: N818 - a state the page reports, not a programming error
    """The API did not answer (down, wrong URL, timed out)."""


class ApiRejected(Exception):  # noqa: N818
    """The API answered with an error status; ``detail`` is what it said."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Prediction:
    cancel_probability: float
    will_cancel: bool
    threshold: float | None
    model_version: str | None
    request_id: str | None
    reasons: list[dict[str, Any]]
    latency_ms: float


def _detail(response: httpx.Response) -> str:
    """FastAPI puts the reason in ``detail``: a string, or a list of validation errors."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def predict(
    booking: dict[str, Any], *, url: str | None = None, timeout: float = API_TIMEOUT_SECONDS
) -> Prediction:
    endpoint = f"{url or api_url()}/predict"
    try:
        response = httpx.post(endpoint, json=booking, headers=api_headers(), timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ApiUnavailable(f"no answer from {endpoint} within {timeout:g} s") from exc
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"cannot reach {endpoint}: {exc.__class__.__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise ApiRejected(response.status_code, _detail(response))
    try:
        body = response.json()
        return Prediction(
            cancel_probability=float(body["cancel_probability"]),
            will_cancel=bool(body["will_cancel"]),
            threshold=None if body.get("threshold") is None else float(body["threshold"]),
            model_version=None if body.get("model_version") is None else str(body["model_version"]),
            request_id=body.get("request_id"),
            reasons=[r if isinstance(r, dict) else {"reason": r} for r in body.get("reasons") or []],
            latency_ms=response.elapsed.total_seconds() * 1000,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiRejected(response.status_code, f"unexpected response: {response.text[:300]}") from exc

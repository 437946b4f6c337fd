"""Prometheus metrics of the API (``GET /metrics``).

Each app has its own registry, so several apps can live in one process (the tests). With
several uvicorn workers ``./cli.sh serve-api`` sets ``PROMETHEUS_MULTIPROC_DIR`` and a scrape
aggregates every worker's files instead of showing one random worker.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from api.estimate import Judgement

# Routes are labelled by their template; anything else is one label, so that scanners probing
# random paths cannot blow up the number of series.
ROUTES = frozenset(
    {
        "/predict",
        "/predict/batch",
        "/health",
        "/ready",
        "/model",
        "/admin/reload",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)
OTHER_ROUTE = "other"
# Sub-millisecond buckets: a single prediction takes well under a millisecond of server time.
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, *, multiprocess: bool = False) -> None:
        """``multiprocess``: a scrape adds up every worker's files (``PROMETHEUS_MULTIPROC_DIR``,
        ``MetricsSettings``) instead of this process's own registry."""
        self.multiprocess = multiprocess
        # The *_created series double the payload and no dashboard of ours reads them.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "hotel_api_requests",
            "HTTP requests by route, method and status code",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "hotel_api_request_duration_seconds",
            "Time from request to the last response byte, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "hotel_api_predictions", "Predictions by decision", ["decision"], registry=registry
        )
        self.model_info = Gauge(
            "hotel_api_model_info",
            "The model being served (1) and the ones served before (0)",
            ["name", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.micro_batch = Histogram(
            "hotel_api_micro_batch_size",
            "Single predictions scored together (requests that arrived together)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=registry,
        )
        self.log_written = Counter(
            "hotel_api_prediction_log_written", "Predictions stored in the database", registry=registry
        )
        self.log_refused = Counter(
            "hotel_api_prediction_log_refused",
            "Predictions refused (503) because they could not be put on disk: spill full or unwritable",
            registry=registry,
        )
        self.log_failed = Counter(
            "hotel_api_prediction_log_failed_writes",
            "Batch writes that failed and were retried",
            registry=registry,
        )
        self.log_queue = Gauge(
            "hotel_api_prediction_log_queue",
            "Predictions waiting to be written",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.model_load_failed = Gauge(
            "hotel_api_model_load_failed",
            "1 while the version the registry names cannot be loaded (the previous one is still served, "
            "or none); /ready and /model say why",
            registry=registry,
            multiprocess_mode="livemax",
        )
        # The label-free estimate of the recent answers (api/estimate.py). Each worker judges its
        # own window: per worker the estimate (a pid label in multiprocess mode), and the alert
        # at 1 when any worker's estimate is below the floor.
        self.estimated_roc_auc = Gauge(
            "hotel_api_estimated_roc_auc",
            "ROC AUC the outcomes of the recent answers will give if their probabilities are calibrated "
            "(estimated from the probabilities alone); NaN while too few answers to judge",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.estimated_roc_auc.set(math.nan)
        self.estimate_below_floor = Gauge(
            "hotel_api_estimated_roc_auc_below_floor",
            "1 while the estimated ROC AUC of the recent answers is below API_ESTIMATE_ROC_AUC_FLOOR",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.estimate_window = Gauge(
            "hotel_api_estimate_window_answers",
            "Answers the estimated ROC AUC is computed from (the newest of the model version served)",
            registry=registry,
            multiprocess_mode="liveall",
        )
        # Label children looked up once per key: .labels() takes a lock and builds a tuple.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.decision = {True: self.predictions.labels("cancel"), False: self.predictions.labels("stay")}

    def observe_request(self, path: str, method: str, status: int, seconds: float) -> None:
        key = (path, method, status)
        children = self._request_children.get(key)
        if children is None:
            route = path if path in ROUTES else OTHER_ROUTE
            children = (self.requests.labels(route, method, str(status)), self.latency.labels(route))
            if route != OTHER_ROUTE:
                self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def serving(self, name: str | None, version: str | None, previous: str | None = None) -> None:
        if previous is not None and previous != version:
            self.model_info.labels(name or "", previous).set(0)
        self.model_info.labels(name or "", version or "").set(1)

    def estimate(self, judgement: Judgement) -> None:
        self.estimated_roc_auc.set(judgement.roc_auc)
        self.estimate_below_floor.set(1 if judgement.below_floor else 0)
        self.estimate_window.set(judgement.answers)

    def render(self) -> tuple[bytes, str]:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

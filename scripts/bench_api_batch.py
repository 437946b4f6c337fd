"""``bench-api``'s runs on our API alone: a 10,000-booking ``/predict/batch`` against the bare work
(parse + ``inplace_predict``), and a soak that checks every answered prediction reached the log."""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request

import numpy as np
import orjson

from scripts.bench_api_load import http_request, median_time, post_once, run, run_level
from scripts.bench_api_servers import API_KEY


def bench_batch(port: int, bookings: list[dict], matrix: np.ndarray, model, repeat: int) -> dict:
    body = orjson.dumps({"bookings": bookings})
    payload = http_request("/predict/batch", body, port, API_KEY)
    status, response, _ = run(post_once(port, payload))
    if status != 200:
        raise RuntimeError(f"/predict/batch answered {status}: {response[:500]!r}")
    api_times = []
    for _ in range(repeat):
        wait_log_drained(port)  # each batch alone: the previous one's log rows are written first
        api_times.append(run(post_once(port, payload))[2])
    parse = median_time(lambda: orjson.loads(body), repeat)
    predict = median_time(lambda: model.booster.inplace_predict(matrix, validate_features=False), repeat)
    api = statistics.median(api_times)
    probabilities = np.array([p["cancel_probability"] for p in orjson.loads(response)["predictions"]])
    expected = model.calibrate(
        model.booster.inplace_predict(matrix, predict_type="margin", validate_features=False)
    )
    return {
        "rows": len(bookings),
        "body_mb": len(body) / 1e6,
        "api_seconds": api,
        "parse_seconds": parse,
        "inplace_predict_seconds": predict,
        "ratio": api / (parse + predict),
        "max_abs_diff_vs_bare": float(np.max(np.abs(probabilities - expected))),
    }


def count_logged(ids: list[str]) -> int:
    import sqlalchemy as sa

    from api.prediction_table import predictions
    from api.settings import Settings
    from data_engineering.src.engine import make_engine

    engine = make_engine(Settings().resolved_database_url())
    found = 0
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            query = sa.select(sa.func.count()).where(predictions.c.request_id.in_(ids[start : start + 1000]))
            found += conn.execute(query).scalar_one()
    engine.dispose()
    return found


def wait_log_drained(port: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    status: dict = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
                status = json.loads(response.read())["prediction_log"]
        except urllib.error.HTTPError as exc:
            status = json.loads(exc.read())["prediction_log"]
        if status.get("queued") == 0:
            time.sleep(0.5)  # the batch taken off the queue last may still be in flight
            return status
        time.sleep(0.2)
    return status


def soak(port: int, requests: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` clients for ``seconds``: no errors, and every prediction in the table."""
    result = run(run_level(port, requests, clients, 1.0, seconds, keep_ids=True))
    status = wait_log_drained(port)
    logged = count_logged(result.request_ids)
    print(
        f"soak: {clients} clients x {seconds:.0f}s: {result.requests:,} predictions ({result.rate:.0f}/s, "
        f"p99 {result.percentile(0.99):.1f} ms), {result.errors} errors; {logged:,} of them in the "
        f"predictions table, {status.get('refused')} refused"
    )
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": result.requests,
        "errors": result.errors,
        "logged": logged,
        "log_refused": status.get("refused"),
        "passed": result.errors == 0 and logged == len(result.request_ids),
    }

"""``./cli.sh bench-api``: our API against honest anchors, all measured in the same run.

Four servers, each one worker pinned to one core, the load generator pinned to the other:

  bare     a bare FastAPI app doing ``inplace_predict`` of the champion's own booster on rows that
           are already encoded (``scripts/bench_bare_app.py``): the limit;
  xgboost  ``mlflow models serve`` of that same booster logged as a plain xgboost-flavour model
           (encoded rows too): what an MLflow user would serve;
  pyfunc   ``mlflow models serve`` of our registered pyfunc (raw booking fields);
  api      our API (``python -m api.launcher``), reasons (exact TreeSHAP) and prediction logging on.

The same bookings go to every server (each in the form it takes), at each concurrency level
(1, 8, 32), for a fixed duration after a warm-up, from one asyncio keep-alive load generator.
It prints requests/s, p50, p99 and the server's CPU milliseconds per request, and the ratios
ours/bare, ours/xgboost, pyfunc/xgboost. Then it times a 10,000-booking ``POST /predict/batch``
against the bare work, and a soak (50 clients) checks nothing is lost from the prediction log.

Machines here are shared and their speed varies several-fold between days: the ratios, from one
run, are the figures to read; absolute times mean little.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.booking_schema import bookings_as_json  # noqa: E402
from data_engineering.src.ingest_source import local_bookings_file  # noqa: E402
from data_engineering.src.paths import RAW_FILE, SHARED_BOOKINGS  # noqa: E402
from data_engineering.src.schema import BOOKING_FIELDS  # noqa: E402
from scripts.bench_api_batch import bench_batch, soak  # noqa: E402
from scripts.bench_api_load import (  # noqa: E402
    LevelResult,
    http_request,
    post_once,
    run,
    run_level,
    split_payload,
)
from scripts.bench_api_servers import API_KEY, CLIENT_CORE, SERVER_CORE, Server, build_servers  # noqa: E402


# ---------------------------------------------------------------------------- data
def load_bookings(count: int) -> tuple[dict[str, np.ndarray], str]:
    """Validated bookings: the real file when present, else synthetic."""
    import pandas as pd
    import pyarrow as pa

    from data_engineering.src.synthetic import make_bookings
    from data_engineering.src.validate import validate

    source = local_bookings_file(SHARED_BOOKINGS, RAW_FILE)
    if source is not None:
        # Every 5th row of the first ones: several months of arrivals, not one week's.
        raw = pd.read_csv(source, dtype=str, keep_default_na=False, nrows=count * 6).iloc[::5]
        label = f"real bookings from {source.name}"
    else:
        raw = make_bookings(count * 2, seed=7)
        label = "synthetic bookings (real data not found)"
    validated = validate({c: pa.array(raw[c].tolist(), pa.string()) for c in BOOKING_FIELDS}, BOOKING_FIELDS)
    columns = {name: values[:count] for name, values in validated.columns.items()}
    return columns, label


def measure(server: Server, requests: list[bytes], level: int, warmup: float, duration: float) -> LevelResult:
    """One level on one server, with the server's CPU time over the measured part only."""
    # The warm-up runs as its own pass, so the CPU reading covers exactly the measured seconds.
    run(run_level(server.port, requests, level, 0.0, warmup))
    before = server.cpu()
    result = run(run_level(server.port, requests, level, 0.0, duration))
    result.cpu_seconds = server.cpu() - before
    return result


# ---------------------------------------------------------------------------- comparison
def _ratio(row: dict[str, Any], a: str, b: str, key: str = "requests_per_second") -> float:
    return row[a][key] / max(row[b][key], 1e-9)


def compare(
    servers: list[tuple[Server, list[bytes]]], levels: list[int], warmup: float, duration: float
) -> list[dict]:
    rows = []
    print()
    print(
        f"{'conc.':>5} | {'server':>8} | {'req/s':>8} | {'p50 ms':>8} | {'p99 ms':>8} | {'CPU ms/req':>10} | errors"
    )
    for level in levels:
        row: dict[str, Any] = {"concurrency": level}
        for server, payloads in servers:
            result = measure(server, payloads, level, warmup, duration)
            row[server.name] = {
                "requests_per_second": result.rate,
                "p50_ms": result.percentile(0.50),
                "p99_ms": result.percentile(0.99),
                "cpu_ms_per_request": result.cpu_ms_per_request,
                "requests": result.requests,
                "errors": result.errors,
            }
            print(
                f"{level:>5} | {server.name:>8} | {result.rate:>8.1f} | {result.percentile(0.5):>8.2f} | "
                f"{result.percentile(0.99):>8.2f} | {result.cpu_ms_per_request:>10.2f} | {result.errors}"
            )
        row["ratios"] = {
            "ours_over_bare": _ratio(row, "api", "bare"),
            "ours_over_xgboost": _ratio(row, "api", "xgboost"),
            "pyfunc_over_xgboost": _ratio(row, "pyfunc", "xgboost"),
            "p99_ours_over_bare": _ratio(row, "api", "bare", "p99_ms"),
        }
        r = row["ratios"]
        print(
            f"{'':>5}   ours/bare x{r['ours_over_bare']:.2f} · ours/xgboost x{r['ours_over_xgboost']:.1f} · "
            f"pyfunc/xgboost x{r['pyfunc_over_xgboost']:.2f} · p99 ours/bare x{r['p99_ours_over_bare']:.2f}"
        )
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- main
def run_all(  # noqa: PLR0917 - the run's parts, built once in main
    servers: list[Server],
    payloads: dict[str, list[bytes]],
    model,
    json_bookings: list[dict],
    features: np.ndarray,
    levels: list[int],
    ns: argparse.Namespace,
    work: Path,
    report: dict[str, Any],
) -> int:
    """Start the servers, compare them, then the batch and the soak on our API; 1 if the soak failed."""
    bare, xgb_server, pyfunc, ours = servers
    pin = report["pinned"]
    try:
        for server in servers:
            server.start(work, pin=pin)
        for server in servers:
            print(f"bench-api: {server.name} ready in {server.wait_ready():.1f}s (port {server.port})")
        for server in servers:  # every server must answer the same booking, or nothing compares
            status, body, _ = run(post_once(server.port, payloads[server.name][0]))
            if status != 200:
                raise RuntimeError(f"{server.name} rejected a booking: {status} {body[:300]!r}")
        report["levels"] = compare([(s, payloads[s.name]) for s in servers], levels, ns.warmup, ns.duration)
        for server in (bare, xgb_server, pyfunc):
            server.stop()  # the rest measures our API alone

        batch = bench_batch(ours.port, json_bookings[:10_000], features[:10_000], model, ns.batch_repeat)
        report["batch"] = batch
        print(
            f"\nbatch: {batch['rows']:,} bookings ({batch['body_mb']:.1f} MB) via /predict/batch "
            f"{batch['api_seconds'] * 1000:.0f} ms; bare orjson.loads {batch['parse_seconds'] * 1000:.0f} ms + "
            f"inplace_predict {batch['inplace_predict_seconds'] * 1000:.0f} ms -> ratio {batch['ratio']:.2f}x; "
            f"max |p_api - p_bare| = {batch['max_abs_diff_vs_bare']:.1e}"
        )
        if ns.soak_seconds > 0:
            report["soak"] = soak(ours.port, payloads["api"], ns.soak_clients, ns.soak_seconds)
            if not report["soak"]["passed"]:
                print("bench-api: soak FAILED", file=sys.stderr)
                return 1
    except Exception:
        print(f"bench-api: the servers' logs are in {work}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(work, ignore_errors=True)
    finally:
        for server in servers:
            server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh bench-api", description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per level (default 10)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each level")
    parser.add_argument("--batch-repeat", type=int, default=5, help="timed 10,000-row batches (median)")
    parser.add_argument("--soak-seconds", type=float, default=30.0, help="50-client soak; 0 skips it")
    parser.add_argument("--soak-clients", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ns = parser.parse_args(argv)
    levels = [int(x) for x in ns.levels.split(",")]
    pin = len(os.sched_getaffinity(0)) >= 2
    if pin:
        os.sched_setaffinity(0, {CLIENT_CORE})  # the load generator; every server on the other core

    from data_science.model import CancellationModel
    from data_science.tracking import default_model_uri, resolve, tracking_uri

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    model_uri = default_model_uri()
    resolved = resolve(model_uri, dst=work / "champion")
    model = CancellationModel.load(resolved.local_dir, nthread=1)
    columns, label = load_bookings(12_000)
    json_bookings = bookings_as_json(columns)
    features = model.encoder.encode(get_features(model, columns))
    names = model.feature_names
    singles = range(2_000)
    servers = build_servers(resolved.local_dir, work, model_uri, {"MLFLOW_TRACKING_URI": tracking_uri()})
    payloads = build_payloads(servers, json_bookings, features, names, singles)
    report: dict[str, Any] = {"data": label, "model_uri": model_uri, "pinned": pin}
    print(f"bench-api: {label}; model {model_uri} version {resolved.version} (tracking {tracking_uri()})")
    print(
        f"bench-api: servers on core {SERVER_CORE}, load generator on core {CLIENT_CORE}"
        if pin
        else "bench-api: one core only: nothing pinned"
    )
    code = run_all(servers, payloads, model, json_bookings, features, levels, ns, work, report)
    if code:
        return code
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def build_payloads(
    servers: list[Server], json_bookings: list[dict], features: np.ndarray, names: list[str], rows: range
) -> dict[str, list[bytes]]:
    """The same bookings in each server's form: encoded rows, MLflow's split frames, our JSON."""
    bare, xgb_server, pyfunc, ours = servers
    raw_rows = [[b[name] for name in BOOKING_FIELDS] for b in json_bookings]
    numpy = orjson.OPT_SERIALIZE_NUMPY
    return {
        "bare": [
            http_request("/predict", orjson.dumps({"row": features[i]}, option=numpy), bare.port)
            for i in rows
        ],
        "xgboost": [
            http_request("/invocations", split_payload(names, features[i]), xgb_server.port) for i in rows
        ],
        "pyfunc": [
            http_request("/invocations", split_payload(list(BOOKING_FIELDS), raw_rows[i]), pyfunc.port)
            for i in rows
        ],
        "api": [http_request("/predict", orjson.dumps(json_bookings[i]), ours.port, API_KEY) for i in rows],
    }


def get_features(model, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The transformed bookings, as the model computes them before encoding."""
    from data_engineering.transformation import get_transformation

    return get_transformation(model.transformation).transform(columns)


if __name__ == "__main__":
    sys.exit(main())

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
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.booking_schema import bookings_as_json  # noqa: E402
from data_engineering.src.ingest_source import local_bookings_file  # noqa: E402
from data_engineering.src.paths import RAW_FILE, SHARED_BOOKINGS  # noqa: E402
from data_engineering.src.ports import free_port, wait_for_server  # noqa: E402
from data_engineering.src.schema import BOOKING_FIELDS  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SERVER_CORE, CLIENT_CORE = 1, 0
API_KEY = secrets.token_urlsafe(24)  # this run's key of our API (outside development one is required)


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


def http_request(path: str, body: bytes, port: int, key: str | None = None) -> bytes:
    """The raw bytes of a POST, with our API's key when given (``X-API-Key``, as clients send it)."""
    auth = f"X-API-Key: {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def split_payload(columns: list[str], row: list[Any]) -> bytes:
    return orjson.dumps(
        {"dataframe_split": {"columns": columns, "data": [row]}}, option=orjson.OPT_SERIALIZE_NUMPY
    )


# ---------------------------------------------------------------------------- servers
def _pin_to_server_core() -> None:
    os.sched_setaffinity(0, {SERVER_CORE})


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending, seen = 0.0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: Path | None = None

    def start(self, log_dir: Path, *, pin: bool) -> None:
        self.log = log_dir / f"{self.name}.log"
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **self.env}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_pin_to_server_core if pin else None,  # noqa: PLW1509 - affinity only
            )

    def wait_ready(self, timeout: float = 240.0) -> float:
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        if wait_for_server(url, self.process, timeout, interval=0.2):
            return time.monotonic() - started
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log.read_text()[-3000:]}")

    def cpu(self) -> float:
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


# ---------------------------------------------------------------------------- load generator
async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at)
        return status, await reader.readexactly(int(lower[at + 15 : end]))
    chunks = []  # chunked transfer: read chunks until the empty one
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class LevelResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu_seconds: float = 0.0
    request_ids: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests if self.requests else float("nan")


async def run_level(
    port: int,
    requests: list[bytes],
    concurrency: int,
    warmup: float,
    duration: float,
    *,
    keep_ids: bool = False,
) -> LevelResult:
    # perf_counter, not loop.time(): uvloop's clock has millisecond resolution.
    clock = time.perf_counter
    start_measure = clock() + warmup
    stop = start_measure + duration
    latencies: list[float] = []
    ids: list[str] = []
    counts: dict[str, Any] = {"ok": 0, "errors": 0, "first_error": None}

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        i = offset
        try:
            while (now := clock()) < stop:
                writer.write(requests[i % len(requests)])
                i += concurrency
                status, body = await read_response(reader)
                done = clock()
                if now < start_measure:
                    continue
                if status == 200:
                    counts["ok"] += 1
                    latencies.append(done - now)
                    if keep_ids:
                        ids.append(orjson.loads(body)["request_id"])
                else:
                    counts["errors"] += 1
                    counts["first_error"] = counts["first_error"] or f"{status}: {body[:300]!r}"
        finally:
            writer.close()

    outcomes = await asyncio.gather(*(client(k) for k in range(concurrency)), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if counts["first_error"]:
        print(f"    first error: {counts['first_error']}", file=sys.stderr)
    if failures:
        print(f"    {len(failures)} client(s) failed: {failures[0]!r}", file=sys.stderr)
    return LevelResult(
        concurrency, counts["ok"], counts["errors"] + len(failures), duration, latencies, request_ids=ids
    )


def run(coro):
    import uvloop

    return uvloop.run(coro)


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


# ---------------------------------------------------------------------------- batch and soak
async def post_once(port: int, payload: bytes) -> tuple[int, bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(payload)
    status, body = await read_response(reader)
    elapsed = time.perf_counter() - started
    writer.close()
    return status, body, elapsed


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


# ---------------------------------------------------------------------------- main
def build_servers(model_dir: Path, work: Path, model_uri: str, tracking: dict[str, str]) -> list[Server]:
    """The four servers of the comparison (xgboost flavour saved from the champion's booster)."""
    import mlflow.xgboost
    import pandas as pd
    from mlflow.models import infer_signature

    from data_science.model import CancellationModel
    from data_science.model_bundle import BOOSTER_FILE

    model = CancellationModel.load(model_dir)
    flavour = work / "xgboost-flavour"
    # As an MLflow user logs a booster: with a signature (all doubles), so that a JSON null
    # (a category the encoder never saw) arrives as NaN, the booster's missing value.
    example = pd.DataFrame(np.zeros((2, len(model.feature_names))), columns=model.feature_names)
    mlflow.xgboost.save_model(
        model.booster, str(flavour), model_format="ubj", signature=infer_signature(example)
    )
    mlflow_serve = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-w",
        "1",
    ]
    ports = [free_port() for _ in range(4)]
    uvicorn = [
        str(VENV_BIN / "uvicorn"),
        "--host",
        "127.0.0.1",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
    ]
    return [
        Server(
            "bare",
            [*uvicorn, "--port", str(ports[0]), "scripts.bench_bare_app:app"],
            ports[0],
            "/ping",
            {"BENCH_BOOSTER": str(model_dir / BOOSTER_FILE)},
        ),
        Server(
            "xgboost", [*mlflow_serve, "-m", str(flavour), "-p", str(ports[1])], ports[1], "/ping", tracking
        ),
        Server("pyfunc", [*mlflow_serve, "-m", model_uri, "-p", str(ports[2])], ports[2], "/ping", tracking),
        Server(
            "api",
            [sys.executable, "-m", "api.launcher", "--port", str(ports[3]), "--workers", "1"],
            ports[3],
            "/ready",
            # API_REASONS and the rest come from the settings as for any serve-api (inherited);
            # the key is the run's own, sent with every request, as a booking engine would.
            {**tracking, "API_PREDICTION_LOG": "true", "API_KEYS": API_KEY},
        ),
    ]


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

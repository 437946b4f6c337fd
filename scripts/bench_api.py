"""``./cli.sh bench-api``: our API against ``mlflow models serve`` on the same champion, same run.

1. Starts both servers with one worker each: ``python -m api.serve`` (reasons and prediction
   logging on, as in production) and ``mlflow models serve -m models:/hotel-cancellation@champion
   --env-manager local``.
2. Sends both the same single-booking requests — real bookings when the data is here, else
   synthetic ones — from one load generator (asyncio, raw keep-alive HTTP/1.1 sockets on uvloop:
   a few microseconds per request, far below either server) at each concurrency level, for a
   fixed duration after a warm-up, and prints requests/s, p50 and p99 and the ratios ours/MLflow.
3. Times a 10,000-booking ``POST /predict/batch`` against the bare work: ``orjson.loads`` of the
   same body plus ``inplace_predict`` of the same rows' features.
4. Soak: 50 clients for ``--soak-seconds`` on our API; every request must succeed and every
   prediction must then be in the ``predictions`` table.

The load generator shares the machine's cores with the server under test, as a real
co-located client would; ratios from the same run are the figures to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.schemas import booking_from_raw  # noqa: E402
from data_engineering.src.paths import RAW_FILE  # noqa: E402
from data_engineering.src.schema import BOOKING_FIELDS, COLUMNS_BY_NAME  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data" / "hotel_bookings.csv.gz"
VENV_BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------- data
def load_bookings(count: int) -> tuple[list[dict], str]:
    """Valid bookings as API clients send them: the real file when present, else synthetic."""
    import pandas as pd

    from data_engineering.src.synthetic import make_bookings
    from data_engineering.src.validate import validate_raw

    candidates = [os.environ.get("HOTEL_BOOKINGS_SOURCE"), str(SHARED_DATA), str(RAW_FILE)]
    source = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
    if source is not None:
        # Every 5th row of the first ones: several months of arrivals, not one week's.
        raw = pd.read_csv(source, dtype=str, keep_default_na=False, nrows=count * 6)
        raw = raw.iloc[::5].reset_index(drop=True)
        label = f"real bookings from {source.name}"
    else:
        raw = make_bookings(count * 2, seed=7)
        label = "synthetic bookings (real data not found)"
    valid_lines = set(validate_raw(raw, scoring=True).valid["source_line"].tolist())
    rows = [row for line, row in enumerate(raw.to_dict("records"), start=2) if line in valid_lines]
    return [booking_from_raw(row) for row in rows[:count]], label


def mlflow_payload(booking: dict) -> bytes:
    """The same booking in MLflow's serving format, typed as the pyfunc's signature says."""
    row = []
    for name in BOOKING_FIELDS:
        value = booking.get(name)
        column = COLUMNS_BY_NAME[name]
        if value is not None and column.kind == "int" and column.nullable:
            value = float(value)  # the signature has nullable integers (children) as double
        elif value is not None and column.kind == "text":
            value = str(value)  # agent/company ids are strings in the signature
        row.append(value)
    return orjson.dumps({"dataframe_split": {"columns": list(BOOKING_FIELDS), "data": [row]}})


def http_request(path: str, body: bytes, port: int) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# ---------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: Path | None = None

    def start(self, log_dir: Path) -> None:
        self.log = log_dir / f"{self.name}.log"
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **self.env}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 180.0) -> float:
        started = time.monotonic()
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
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
    # Chunked transfer: read chunks until the empty one.
    chunks = []
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
    request_ids: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


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
    counts = {"ok": 0, "errors": 0, "first_error": None}

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        i = offset
        try:
            while (now := clock()) < stop:
                payload = requests[i % len(requests)]
                i += concurrency
                writer.write(payload)
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
    return LevelResult(concurrency, counts["ok"], counts["errors"] + len(failures), duration, latencies, ids)


def run(coro):
    import uvloop

    return uvloop.run(coro)


# ---------------------------------------------------------------------------- batch
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


def bench_batch(port: int, bookings: list[dict], repeat: int) -> dict:
    from api.serving import load_state

    body = orjson.dumps({"bookings": bookings})
    payload = http_request("/predict/batch", body, port)
    status, response, _ = run(post_once(port, payload))
    if status != 200:
        raise RuntimeError(f"/predict/batch answered {status}: {response[:500]!r}")
    api_times = []
    for _ in range(repeat):
        # Each batch alone: the previous one's 10,000 log rows are written first.
        wait_log_drained(port)
        api_times.append(run(post_once(port, payload))[2])
    # The bare work, on the model the API serves (one thread, as the API runs it).
    state = load_state(None, approx_contributions=False)
    model = state.model
    matrix = __import__("numpy").vstack([model.features_record(b) for b in bookings])
    parse = median_time(lambda: orjson.loads(body), repeat)
    parse_stdlib = median_time(lambda: json.loads(body), repeat)
    predict = median_time(lambda: model.margin_matrix(matrix), repeat)
    api = statistics.median(api_times)
    probabilities = [p["cancel_probability"] for p in orjson.loads(response)["predictions"]]
    expected = model.calibrate(model.margin_matrix(matrix))
    worst = float(max(abs(a - b) for a, b in zip(probabilities, expected, strict=True)))
    return {
        "rows": len(bookings),
        "body_mb": len(body) / 1e6,
        "api_seconds": api,
        "parse_seconds": parse,
        "parse_stdlib_seconds": parse_stdlib,
        "inplace_predict_seconds": predict,
        "ratio": api / (parse + predict),
        "ratio_stdlib_parse": api / (parse_stdlib + predict),
        "max_abs_diff_vs_bare": worst,
    }


# ---------------------------------------------------------------------------- soak
def count_logged(ids: list[str]) -> int:
    import sqlalchemy as sa

    from api.prediction_log import predictions
    from api.settings import Settings

    engine = sa.create_engine(Settings().resolved_database_url())
    found = 0
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = sa.select(sa.func.count()).where(predictions.c.request_id.in_(chunk))
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


def compare(servers, levels: list[int], warmup: float, duration: float) -> list[dict]:
    """Each concurrency level on each server in turn; prints and returns the figures."""
    rows = []
    print()
    print(f"{'concurrency':>11} | {'server':>6} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    for level in levels:
        row: dict = {"concurrency": level}
        for server, payloads in servers:
            result = run(run_level(server.port, payloads, level, warmup, duration))
            row[server.name] = {
                "requests_per_second": result.rate,
                "p50_ms": result.percentile(0.50),
                "p99_ms": result.percentile(0.99),
                "requests": result.requests,
                "errors": result.errors,
            }
            print(
                f"{level:>11} | {server.name:>6} | {result.rate:>8.0f} | {result.percentile(0.5):>7.2f} | "
                f"{result.percentile(0.99):>7.2f} | {result.errors}"
            )
        row["throughput_ratio"] = row["api"]["requests_per_second"] / max(
            row["mlflow"]["requests_per_second"], 1e-9
        )
        row["p99_ratio"] = row["api"]["p99_ms"] / row["mlflow"]["p99_ms"]
        print(
            f"{'':>11}   ours/MLflow: throughput x{row['throughput_ratio']:.1f}, "
            f"p99 {row['p99_ratio']:.3f} of MLflow's"
        )
        rows.append(row)
    return rows


def soak(port: int, requests: list[bytes], clients: int, seconds: float) -> dict:
    """``clients`` clients for ``seconds``: no errors, and every prediction in the table."""
    result = run(run_level(port, requests, clients, 1.0, seconds, keep_ids=True))
    status = wait_log_drained(port)
    logged = count_logged(result.request_ids)
    print(
        f"soak: {clients} clients x {seconds:.0f}s: {result.requests:,} predictions "
        f"({result.rate:.0f}/s, p99 {result.percentile(0.99):.1f} ms), {result.errors} errors; "
        f"{logged:,} of them in the predictions table, {status.get('dropped')} dropped"
    )
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": result.requests,
        "errors": result.errors,
        "requests_per_second": result.rate,
        "p99_ms": result.percentile(0.99),
        "logged": logged,
        "log_dropped": status.get("dropped"),
        "passed": result.errors == 0 and logged == len(result.request_ids),
    }


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh bench-api", description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels (default 1,8,32)")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per level (default 10)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each level")
    parser.add_argument("--batch-repeat", type=int, default=5, help="timed 10,000-row batches (median)")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="50-client soak; 0 skips it")
    parser.add_argument("--soak-clients", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ns = parser.parse_args(argv)
    levels = [int(x) for x in ns.levels.split(",")]

    from data_science.tracking import default_model_uri, tracking_uri

    bookings, label = load_bookings(12_000)
    singles = bookings[:2_000]
    ours_port, mlflow_port = free_port(), free_port()
    ours_requests = [http_request("/predict", orjson.dumps(b), ours_port) for b in singles]
    mlflow_requests = [http_request("/invocations", mlflow_payload(b), mlflow_port) for b in singles]
    tracking = {"MLFLOW_TRACKING_URI": tracking_uri()}
    ours = Server(
        "api",
        [sys.executable, "-m", "api.serve", "--port", str(ours_port), "--workers", "1"],
        ours_port,
        "/ready",
        {**tracking, "API_REASONS": os.environ.get("API_REASONS", "3"), "API_PREDICTION_LOG": "true"},
    )
    mlflow = Server(
        "mlflow",
        [
            str(VENV_BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            default_model_uri(),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(mlflow_port),
            "-w",
            "1",
        ],
        mlflow_port,
        "/ping",
        tracking,
    )
    log_dir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    report: dict = {"data": label, "model_uri": default_model_uri()}
    print(f"bench-api: {label}; model {default_model_uri()} (tracking {tracking_uri()})")
    try:
        for server in (ours, mlflow):
            server.start(log_dir)
        for server in (ours, mlflow):
            print(f"bench-api: {server.name} ready in {server.wait_ready():.1f}s (port {server.port})")
        # Both must answer the same booking, or the comparison is meaningless.
        for server, payloads in ((ours, ours_requests), (mlflow, mlflow_requests)):
            status, body, _ = run(post_once(server.port, payloads[0]))
            if status != 200:
                raise RuntimeError(f"{server.name} rejected a booking: {status} {body[:300]!r}")

        report["levels"] = compare(
            ((ours, ours_requests), (mlflow, mlflow_requests)), levels, ns.warmup, ns.duration
        )
        mlflow.stop()  # the rest measures our API alone

        batch = bench_batch(ours_port, bookings[:10_000], ns.batch_repeat)
        report["batch"] = batch
        print()
        print(
            f"batch: {batch['rows']:,} bookings ({batch['body_mb']:.1f} MB) via /predict/batch "
            f"{batch['api_seconds'] * 1000:.0f} ms; bare orjson.loads {batch['parse_seconds'] * 1000:.0f} ms + "
            f"inplace_predict {batch['inplace_predict_seconds'] * 1000:.0f} ms -> ratio {batch['ratio']:.2f}x "
            f"({batch['ratio_stdlib_parse']:.2f}x against json.loads {batch['parse_stdlib_seconds'] * 1000:.0f} ms); "
            f"max |p_api - p_bare| = {batch['max_abs_diff_vs_bare']:.1e}"
        )

        if ns.soak_seconds > 0:
            report["soak"] = soak(ours_port, ours_requests, ns.soak_clients, ns.soak_seconds)
            if not report["soak"]["passed"]:
                print("bench-api: soak FAILED", file=sys.stderr)
                return 1
    except Exception:
        print(f"bench-api: the servers' logs are in {log_dir}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    finally:
        for server in (ours, mlflow):
            server.stop()
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``bench-api``'s load generator: keep-alive clients on asyncio (uvloop), raw HTTP/1.1 bytes.

Each client sends prepared requests back to back on one connection and reads each answer before
the next (``run_level``); latencies are taken with ``time.perf_counter`` around each exchange.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import orjson


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

"""Workers following the champion alias under load: what the fault cases of a registry measure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.tests.servers import start_server, stop_server, wait_ready
from api.tests.traffic import Traffic
from data_engineering.src.ports import free_port, wait_until

# What /metrics shows while a worker could not load the champion it was told to serve.
FAILED_GAUGE = "hotel_api_model_load_failed 1.0"


@dataclass
class Fleet:
    """Two workers following the alias (every second) while clients predict."""

    url: str
    env: dict[str, str]
    traffic: Traffic
    output: str = ""  # everything the server printed, once stopped

    def failing(self) -> bool:
        return FAILED_GAUGE in httpx.get(f"{self.url}/metrics").text

    def record(self, fault_case: Callable[..., Path], case: str, detail: str) -> None:
        sent, kept = len(self.traffic.answers), self.traffic.statuses().get(200, 0)
        fault_case(case=case, sent=sent, kept=kept, lost=sent - kept, detail=detail)


@contextmanager
def following_fleet(tracking: str, booking: dict, tmp_path: Path) -> Iterator[Fleet]:
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": tracking,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "API_MODEL_REFRESH_SECONDS": "1",
    }
    server = start_server(port, env, "--workers", "2")
    fleet = None
    try:
        wait_ready(server, f"http://127.0.0.1:{port}")
        with Traffic(f"http://127.0.0.1:{port}", booking, clients=2) as traffic:
            assert wait_until(lambda: len(traffic.answers) >= 20, 30), "no predictions"
            fleet = Fleet(f"http://127.0.0.1:{port}", env, traffic)
            yield fleet
    finally:
        output = stop_server(server)
        if fleet is not None:
            fleet.output = output

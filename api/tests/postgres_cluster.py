"""A private PostgreSQL cluster a test may stop and start."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL server's bin folder."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "pg_ctl").exists()), None)


@dataclass
class Cluster:
    """A private PostgreSQL cluster a test may stop and start (the ``cluster`` fixture)."""

    bin: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, *args: str, check: bool = True) -> None:
        # initdb refuses to run as root: the server runs as postgres, the tests as themselves.
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True, timeout=60
        )

    def init(self) -> None:
        self._pg(str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "log.txt")
        self._pg(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l", log, "-w", "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-m",
            mode,
            "-w",
            "stop",
            check=mode == "fast",
        )

"""Timing and peak memory of a command run as a subprocess, for the benchmark scripts.

Peak memory is the child's VmHWM read from ``/proc`` while it runs, never
``getrusage(RUSAGE_CHILDREN)``: Linux carries the parent's memory high-water mark over a
fork+exec into the child's, so that would report the benchmark's own peak.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def high_water_kib(pid: int) -> int | None:
    """The process's peak resident memory so far (VmHWM), None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_measured(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``args``; raise RuntimeError with its output when it fails."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
        peak_kib = 0
        while process.poll() is None:
            peak_kib = max(peak_kib, high_water_kib(process.pid) or 0)
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({process.returncode}):\n{stdout}\n{stderr}")
    return Measured(seconds, peak_kib / 1024, stdout, stderr)

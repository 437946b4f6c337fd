"""What the data tests share."""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.synthetic import make_bookings


def workspace_files(workspace: Path) -> dict[str, bytes]:
    """Every file the loads write in a workspace (``data/`` and ``reports/``), with its bytes: equal
    before and after a refused load means it changed nothing (the SQLite tables are a file there)."""
    return {
        str(p.relative_to(workspace)): p.read_bytes()
        for folder in ("data", "reports")
        for p in sorted((workspace / folder).rglob("*"))
        if p.is_file()
    }


def bookings_lines(path: Path, rows: int) -> tuple[Path, list[bytes]]:
    """``rows`` bookings written to ``path``, and its lines (without their ends) to rearrange."""
    make_bookings(rows, seed=9).to_csv(path, index=False)
    return path, path.read_bytes().splitlines()


def bookings_file(tmp_path: Path, name: str = "bookings.csv", rows: int = 600, *, frame=None) -> Path:
    """``rows`` synthetic bookings (or ``frame``) written as ``name``, gzipped if it ends in .gz."""
    frame = make_bookings(rows, seed=5) if frame is None else frame
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", newline="") as out:
            frame.to_csv(out, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def write_file(tmp_path: Path, name: str, data: bytes) -> Path:
    """``data`` as the file ``name`` in ``tmp_path``."""
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``./cli.sh ARGS`` run from ``cwd``, as a user in that folder would, without the sync."""
    return subprocess.run(
        ["bash", str(REPO_ROOT / "cli.sh"), *args],
        cwd=cwd,
        env={**os.environ, "HOTEL_SKIP_SYNC": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

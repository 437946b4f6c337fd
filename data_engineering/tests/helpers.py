"""What the data tests share."""

from __future__ import annotations

from pathlib import Path

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

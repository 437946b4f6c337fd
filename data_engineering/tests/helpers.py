"""What the data tests share."""

from __future__ import annotations

from pathlib import Path


def workspace_files(workspace: Path) -> dict[str, bytes]:
    """Every file the loads write in a workspace (``data/`` and ``reports/``), with its bytes: equal
    before and after a refused load means it changed nothing (the SQLite tables are a file there)."""
    return {
        str(p.relative_to(workspace)): p.read_bytes()
        for folder in ("data", "reports")
        for p in sorted((workspace / folder).rglob("*"))
        if p.is_file()
    }

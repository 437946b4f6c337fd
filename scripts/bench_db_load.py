"""Benchmark: ``initialize-data v1 db`` against ``psql \\copy`` of the same file, in one run.

    ./cli.sh bench-db-load [--env local] [--repeat 3]

Prints, per repetition and as medians: the whole command's wall time, its database-write step
(the staging COPYs plus the swap, as the command itself measures it), the ``\\copy`` time psql
reports for the raw file into an equivalent all-text table, and the ratio write-step / ``\\copy``.
Needs PostgreSQL (``./cli.sh setup-db local``) and a raw source (HOTEL_BOOKINGS_SOURCE).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from data_engineering.src.environment import child_environment, export
from data_engineering.src.paths import RAW_FILE, REPO_ROOT
from data_engineering.src.settings import SettingsError, current_environment, database_url


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """psql wants a libpq URL without the SQLAlchemy driver; the password goes in the env."""
    parsed = make_url(url)
    env = child_environment(PGPASSWORD=parsed.password or "")
    plain = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def run_command(timings: Path) -> tuple[float, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_engineering.src.initialize_data",
            "v1",
            "db",
            "--timings-json",
            str(timings),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"bench-db-load: initialize-data failed:\n{result.stderr}")
    return wall, json.loads(timings.read_text())["write"]


def psql_copy(url: str, raw: Path) -> float:
    plain, env = _libpq(url)
    with raw.open(newline="") as stream:
        header = next(csv.reader(stream))
    columns = ", ".join(f'"{name}" text' for name in header)
    script = (
        "DROP TABLE IF EXISTS bench_copy_raw;\n"
        f"CREATE TABLE bench_copy_raw ({columns});\n"
        "\\timing on\n"
        f"\\copy bench_copy_raw FROM '{raw}' WITH (FORMAT csv, HEADER true)\n"
        "\\timing off\n"
        "DROP TABLE bench_copy_raw;\n"
    )
    result = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", plain],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    match = re.search(r"Time: ([0-9.]+) ms", result.stdout)
    if result.returncode != 0 or not match:
        sys.exit(f"bench-db-load: psql \\copy failed:\n{result.stderr}{result.stdout}")
    return float(match.group(1)) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    ns = parser.parse_args(argv)
    if not shutil.which("psql"):
        sys.exit("bench-db-load: psql not found (install the PostgreSQL client)")
    # The benchmark needs PostgreSQL: without --env it measures the local one.
    try:
        url = database_url(current_environment() or "local")
    except SettingsError as exc:
        sys.exit(f"bench-db-load: error: {exc}")
    if make_url(url).get_backend_name() != "postgresql":
        sys.exit(
            f"bench-db-load: needs PostgreSQL, got {make_url(url).get_backend_name()}: run ./cli.sh setup-db local"
        )
    export(DATABASE_URL=url)  # the initialize-data runs inherit it
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(ns.repeat):
            wall, write = run_command(Path(scratch) / "timings.json")
            copy = psql_copy(url, RAW_FILE)
            rows.append((wall, write, copy))
            print(
                f"run {i + 1}: initialize-data v1 db {wall:6.2f}s | write step {write:6.3f}s | "
                f"psql \\copy {copy:6.3f}s | write/\\copy {write / copy:5.2f}x"
            )
    wall, write, copy = (statistics.median(column) for column in zip(*rows, strict=True))
    print(
        f"median ({ns.repeat} runs): whole command {wall:.2f}s, write step {write:.3f}s, "
        f"\\copy {copy:.3f}s, ratio write/\\copy {write / copy:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

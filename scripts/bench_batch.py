"""``./cli.sh bench-batch``: streamed ``predict-batch`` against the bare work, in the same run.

Builds a file of ``--rows`` bookings (default 955,120: the full public file's size times eight;
1,000,000 with ``--engine spark``) by repeating the real extract (``HOTEL_BOOKINGS_SOURCE`` or
``../shared/data``; synthetic bookings when neither is there), then measures:

  bare   pyarrow's ``read_csv`` of that file + the champion booster's ``inplace_predict`` of a
         float32 matrix of the same shape (nothing validated, transformed, calibrated or written);
  ours   ``python -m data_science.predict_batch`` on it, as a user runs it (a subprocess), with
         its peak resident memory;
  spark  (``--engine spark``) the same command with ``--engine spark`` (``--spark-master``,
         default ``local[*]``) on the same file, after ``ours``.

and prints rows/s, peak memory and ours/bare. Targets, for ``ours``: <= 4x the bare work,
<= 1.2 GB peak RSS. Spark has none: on one machine it is not expected to win, and its figures say
what it costs.

Peak memory is read from /proc while the command runs: every 0.1 s, the peak resident set
(``VmHWM``) of each process descended from it — for Spark the driver's Python, its JVM (driver
and executors in local mode), the Python daemon and the workers it forks. Reported: the sum of
those peaks (an upper bound of what the machine held at once: they need not coincide) and the
largest of them.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.measure import high_water_kib  # noqa: E402


def build_file(target: Path, rows: int) -> str:
    """``rows`` bookings: the real extract repeated (its header once), else synthetic."""
    from data_engineering.src.ingest_source import local_bookings_file
    from data_engineering.src.paths import SHARED_BOOKINGS

    source = local_bookings_file(SHARED_BOOKINGS)
    if source is None:
        from data_engineering.src.synthetic import make_bookings

        make_bookings(rows, seed=3).to_csv(target, index=False)
        return f"{rows:,} synthetic bookings (real data not found)"
    opener = gzip.open if source.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(source, "rb") as stream:
        header, *lines = stream.read().splitlines(keepends=True)
    written = 0
    with target.open("wb") as out:
        out.write(header)
        while written < rows:
            chunk = lines[: rows - written]
            out.writelines(chunk)
            written += len(chunk)
    return f"{rows:,} real bookings ({source.name} repeated)"


def bare_work(path: Path, booster, width: int) -> dict[str, float]:
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    table = pacsv.read_csv(path)
    parse = time.perf_counter() - started
    matrix = np.random.default_rng(0).random((table.num_rows, width), dtype=np.float32)
    started = time.perf_counter()
    booster.inplace_predict(matrix, predict_type="margin", validate_features=False)
    predict = time.perf_counter() - started
    return {"parse_seconds": parse, "inplace_predict_seconds": predict, "rows": table.num_rows}


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (one pass)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces: after its ")"
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, found, pending = _children(), [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(children.get(pid, []))
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def ours(path: Path, output: Path, *options: str) -> dict[str, Any]:
    """``predict-batch`` as a subprocess, with the peak RSS of it and its descendants from /proc.

    Not ``getrusage(RUSAGE_CHILDREN)``: Linux carries the parent's memory high-water mark over
    a fork+exec into the child's, so it would report this script's own peak (the bare work's
    whole table) instead of predict-batch's; and it would not see the JVM's children apart.
    """
    started = time.perf_counter()
    peaks: dict[int, tuple[int, str]] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "data_science.predict_batch", str(path), str(output), *options],
            cwd=ROOT,
            stdout=out,
            stderr=err,
        )
        while process.poll() is None:
            for pid in _tree(process.pid):
                kib = high_water_kib(pid) or 0
                if kib > peaks.get(pid, (0, ""))[0]:
                    peaks[pid] = (kib, _name(pid))  # now: spark-submit's bash becomes java
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"predict-batch {' '.join(options)} failed:\n{stdout}\n{stderr}")
    largest_kib, largest = max(peaks.values(), default=(0, "?"))
    by_name: dict[str, float] = {}
    for kib, name in peaks.values():
        by_name[name] = by_name.get(name, 0.0) + kib / 1024
    return {
        "peak_rss_mb_by_process": by_name,
        "seconds": seconds,
        "peak_rss_mb": sum(kib for kib, _ in peaks.values()) / 1024,
        "processes": len(peaks),
        "largest_process": largest,
        "largest_process_mb": largest_kib / 1024,
        "output": stdout.strip(),
    }


def memory(figures: dict[str, Any]) -> str:
    if figures["processes"] <= 1:
        return f"peak RSS {figures['peak_rss_mb']:,.0f} MB"
    return (
        f"peak RSS {figures['peak_rss_mb']:,.0f} MB summed over its {figures['processes']} processes "
        f"(largest: {figures['largest_process']} {figures['largest_process_mb']:,.0f} MB)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh bench-batch", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, help="bookings in the file (default 955,120; 1,000,000 with --engine spark)"
    )
    parser.add_argument(
        "--engine",
        choices=("python", "spark"),
        default="python",
        help="spark: also run predict-batch --engine spark on the same file, after the default engine",
    )
    parser.add_argument("--spark-master", metavar="URL", help="for --engine spark (default local[*])")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ns = parser.parse_args(argv)
    rows = ns.rows or (1_000_000 if ns.engine == "spark" else 955_120)
    if ns.engine == "spark":
        from data_science.engines import SparkUnavailableError, check_spark

        try:
            check_spark(ns.spark_master)
        except SparkUnavailableError as exc:
            print(f"bench-batch: error: {exc}", file=sys.stderr)
            return 1

    from data_science.model import CancellationModel
    from data_science.tracking import default_model_uri, resolve

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        resolved = resolve(default_model_uri(), dst=work / "champion")
        model = CancellationModel.load(resolved.local_dir)
        path = work / "bookings.csv"
        label = build_file(path, rows)
        size_mb = path.stat().st_size / 1e6
        print(f"bench-batch: {label}, {size_mb:.0f} MB; model {resolved.uri} version {resolved.version}")
        bare = bare_work(path, model.booster, len(model.feature_names))
        bare_seconds = bare["parse_seconds"] + bare["inplace_predict_seconds"]
        print(
            f"bare:  pyarrow read_csv {bare['parse_seconds']:.2f}s + inplace_predict "
            f"{bare['inplace_predict_seconds']:.2f}s = {bare_seconds:.2f}s"
        )
        mine = ours(path, work / "scored.csv")
        print(mine["output"])
        ratio = mine["seconds"] / bare_seconds
        print(
            f"ours:  predict-batch {mine['seconds']:.2f}s ({bare['rows'] / mine['seconds']:,.0f} rows/s), "
            f"{memory(mine)} -> {ratio:.2f}x the bare work (targets: <= 4x, <= 1,200 MB)"
        )
        report = {"data": label, "file_mb": size_mb, "bare": bare, "ours": mine, "ratio": ratio}
        if ns.engine == "spark":
            master = ["--spark-master", ns.spark_master] if ns.spark_master else []
            spark = ours(path, work / "scored_spark.csv", "--engine", "spark", *master)
            print(spark["output"])
            print(
                f"spark: predict-batch --engine spark {spark['seconds']:.2f}s "
                f"({bare['rows'] / spark['seconds']:,.0f} rows/s), {memory(spark)} -> "
                f"{spark['seconds'] / mine['seconds']:.2f}x the default engine's time, "
                f"{spark['peak_rss_mb'] / mine['peak_rss_mb']:.1f}x its memory"
            )
            report["spark"] = spark
    if ns.json:
        ns.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if ratio <= 4 and mine["peak_rss_mb"] <= 1200 else 1


if __name__ == "__main__":
    sys.exit(main())

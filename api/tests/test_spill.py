"""The spill file: appended whole or not at all, read back in order, never shipped while its
owner lives, taken over once it is dead."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api.spill import NotRecordedError, Spill


def _lines(spill: Spill, max_rows: int = 1000) -> list[bytes]:
    out = []
    while (batch := spill.take(max_rows)) is not None:
        out += batch.lines
        spill.stored(batch)
    return out


def test_rows_come_back_in_order_in_batches_and_stored_segments_are_deleted(tmp_path: Path) -> None:
    spill = Spill(tmp_path, max_rows=100, segment_bytes=64)
    spill.open()
    for i in range(10):
        spill.append(f'["row {i}"]\n'.encode(), 1)
        spill.maintain()  # a new segment every 64 bytes
    assert spill.pending == 10
    batch = spill.take(3)
    assert batch is not None
    assert batch.lines == [b'["row 0"]', b'["row 1"]', b'["row 2"]']
    spill.stored(batch)
    assert _lines(spill) == [f'["row {i}"]'.encode() for i in range(3, 10)]
    assert spill.pending == 0
    assert len(list(tmp_path.glob("*.jsonl"))) == 1  # only the segment still being written
    assert spill.close() == 0
    assert list(tmp_path.glob("*.jsonl")) == []


def test_beyond_max_rows_a_prediction_is_refused_not_dropped(tmp_path: Path) -> None:
    spill = Spill(tmp_path, max_rows=2)
    spill.open()
    spill.append(b"[1]\n[2]\n", 2)
    with pytest.raises(NotRecordedError, match="2 predictions wait for the database"):
        spill.append(b"[3]\n", 1)
    assert _lines(spill) == [b"[1]", b"[2]"]
    spill.append(b"[3]\n", 1)  # room again once stored
    spill.close()


def test_rows_left_by_a_dead_process_are_taken_over_once_and_never_a_live_ones(tmp_path: Path) -> None:
    """Another process appends and dies (kill -9): its rows are ours to store; while it lives, never."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from api.spill import Spill
                spill = Spill(Path({str(tmp_path)!r}), max_rows=10)
                spill.open()
                spill.append(b'["theirs 1"]\\n["theirs 2"]\\n', 2)
                spill.append(b'["torn', 0)  # a write cut short by the kill: never answered
                print("ready", flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        ours = Spill(tmp_path, max_rows=10)
        assert ours.open() == 0  # its segment is locked: alive
        assert ours.take(10) is None
        holder.kill()
        holder.wait()
        assert ours.claim_leftovers() == 2
        assert _lines(ours) == [b'["theirs 1"]', b'["theirs 2"]']
        assert ours.claim_leftovers() == 0
        ours.close()
        assert list(tmp_path.glob("*.jsonl")) == []
    finally:
        holder.kill()


def test_a_full_disk_refuses_the_prediction_and_leaves_no_half_line(tmp_path: Path) -> None:
    """The file size limit (RLIMIT_FSIZE) stands in for a full disk: a write is cut short."""
    script = textwrap.dedent(
        f"""
        import json, resource, signal
        from pathlib import Path
        from api.spill import NotRecordedError, Spill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
        spill = Spill(Path({str(tmp_path)!r}), max_rows=100)
        spill.open()
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
        outcome = []
        for i in range(8):
            try:
                spill.append(json.dumps(["row", i, "x" * 10]).encode() + b"\\n", 1)
                outcome.append("kept")
            except NotRecordedError as exc:
                outcome.append(str(exc))
        print(json.dumps(outcome))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    outcome = json.loads(result.stdout)
    kept = outcome.count("kept")
    assert 0 < kept < 8
    assert all("cannot write the prediction log's spill file" in o for o in outcome[kept:])
    (segment,) = tmp_path.glob("*.jsonl")
    lines = segment.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    assert [json.loads(line)[1] for line in lines[:-1]] == list(range(kept))


def test_a_claimer_starts_after_what_the_dead_process_had_stored(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from api.spill import Spill
        spill = Spill(Path({str(tmp_path)!r}), max_rows=10)
        spill.open()
        spill.append(b'["stored 1"]\\n["stored 2"]\\n["waiting"]\\n', 3)
        batch = spill.take(2)
        spill.stored(batch)  # as the writer does once the database has them
        os._exit(0)  # no close: as if killed
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    ours = Spill(tmp_path, max_rows=10)
    assert ours.open() == 1
    assert _lines(ours) == [b'["waiting"]']
    ours.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []

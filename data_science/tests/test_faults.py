"""The fault suite's batch-scoring cases (``./cli.sh test fault``): what was sent, what was kept.

Each runs the command a user runs (``./cli.sh predict-batch``, ``./cli.sh score-db``) against the
session's trained champion, and breaks it as production would: ``kill -9`` of the whole command
halfway, a disk that fills up, two runs at once. Then it counts the rows that came out, after a
rerun where there is one. They go through the CLI, not the modules, so that they hold whatever
the commands become.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.synthetic import (
    OUTCOME_COLUMNS,
    booking_dates,
    make_bookings,
    write_bookings,
    write_frame,
)
from tests_support.checkout import clean_env
from tests_support.postgres import fresh_schema

pytestmark = [pytest.mark.fault, pytest.mark.slow]

BATCH_ROWS = 300_000  # long enough to be killed halfway, on any machine
DB_ROWS = 120_000
PERCENT = re.compile(r"\((\d+)%\)")


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``./cli.sh ARGS`` in a session of its own (its process group is the whole command)."""
    return subprocess.Popen(
        ["bash", str(REPO_ROOT / "cli.sh"), *args],
        cwd=REPO_ROOT,
        env=clean_env(HOTEL_PROGRESS_SECONDS="0.2", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def _kill_halfway(process: subprocess.Popen[str], at_percent: int = 40) -> int:
    """SIGKILL the whole command once its progress passes ``at_percent``; returns the percent seen."""
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        match = PERCENT.search(line)
        if match and int(match.group(1)) >= at_percent:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
            return int(match.group(1))
    process.wait(timeout=60)
    pytest.fail(
        f"the command ended (exit {process.returncode}) before {at_percent}% of its work:\n{''.join(seen)}"
    )


def _csv_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bookings(tmp_path_factory.mktemp("batch") / "bookings.csv", BATCH_ROWS, seed=17)


def test_predict_batch_killed_halfway_then_rerun(trained_workspace, big_input, tmp_path, fault_case) -> None:
    output = tmp_path / "scored.csv"
    env = trained_workspace.env()
    run = _cli("predict-batch", str(big_input), str(output), env=env)
    percent = _kill_halfway(run)
    after_kill = sorted(p.name for p in tmp_path.iterdir())
    assert not output.exists(), f"a partial file under the output's name after kill -9: {after_kill}"
    code, printed = _finish(_cli("predict-batch", str(big_input), str(output), env=env))
    assert code == 0, printed
    rejected = output.with_name(output.name + ".rejected.csv")
    kept = _csv_rows(output) + (_csv_rows(rejected) if rejected.exists() else 0)
    fault_case(
        case="kill -9 of predict-batch halfway, then a rerun",
        sent=BATCH_ROWS,
        kept=kept,
        lost=BATCH_ROWS - kept,
        detail=f"killed at {percent}%: nothing under the output's name; the rerun wrote every row "
        "(scored or set aside with its reason)",
    )
    assert kept == BATCH_ROWS


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: the output fills it long before the end."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("a full-disk case needs root to mount a tmpfs")
        pytest.skip("needs root to mount a tmpfs")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_predict_batch_on_a_full_disk_fails_clearly_then_reruns(
    trained_workspace, small_disk, tmp_path, fault_case
) -> None:
    source = write_bookings(tmp_path / "bookings.csv", 40_000, seed=23)
    output = small_disk / "scored.csv"
    env = trained_workspace.env()
    code, printed = _finish(_cli("predict-batch", str(source), str(output), env=env))
    left = sorted(p.name for p in small_disk.iterdir())
    elsewhere = tmp_path / "scored.csv"
    rerun_code, rerun_printed = _finish(_cli("predict-batch", str(source), str(elsewhere), env=env))
    rejected = elsewhere.with_name(elsewhere.name + ".rejected.csv")
    kept = _csv_rows(elsewhere) + (_csv_rows(rejected) if rejected.exists() else 0)
    fault_case(
        case="predict-batch writing to a full disk (a 2 MB tmpfs), then a rerun with room",
        sent=40_000,
        kept=kept,
        lost=40_000 - kept,
        detail=f"exit {code} with one line ({_error_line(printed).replace(str(output), 'OUT.csv')!r}); "
        "nothing left on the full disk",
    )
    assert code == 1, printed
    assert "No space left on device" in _error_line(printed)
    assert "Traceback" not in printed
    assert left == [], f"left on the full disk: {left}"
    assert rerun_code == 0, rerun_printed
    assert kept == 40_000


def _error_line(printed: str) -> str:
    return next((line for line in printed.splitlines() if "error:" in line), "")


# ---------------------------------------------------------------------------- score-db
ON_THE_BOOKS_DAY = "2017-10-01"


@dataclass(frozen=True)
class Loaded:
    url: str
    on_the_books: int  # bookings on the books at the end of ON_THE_BOOKS_DAY: what score-db must score


def _export(rows: int, seed: int) -> pd.DataFrame:
    """A hotel's export at the end of ON_THE_BOOKS_DAY: bookings made by then for the autumn, an
    outcome only where it was recorded by then (the others are on the books)."""
    day = pd.Timestamp(ON_THE_BOOKS_DAY)
    frame = make_bookings(
        rows, seed=seed, start=(day + pd.Timedelta(days=1)).date(), end=pd.Timestamp("2017-12-20").date()
    )
    frame = frame[booking_dates(frame) <= day].copy()
    frame.loc[pd.to_datetime(frame["reservation_status_date"]) > day, OUTCOME_COLUMNS] = ""
    return frame


@pytest.fixture(scope="module")
def loaded_database(
    pg_url: str, trained_workspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """A schema of the test PostgreSQL with a hotel's export loaded by ``./cli.sh initialize-data``:
    about DB_ROWS bookings on the books at the end of ON_THE_BOOKS_DAY."""
    workspace = tmp_path_factory.mktemp("score-db")
    frame = _export(2 * DB_ROWS, seed=29)
    source = write_frame(workspace / "source.csv", frame)
    with fresh_schema(pg_url, "faults") as url:
        env = {"HOTEL_WORKSPACE": str(workspace), "HOTEL_BOOKINGS_SOURCE": str(source), "DATABASE_URL": url}
        code, printed = _finish(_cli("initialize-data", "v2", "db", env=env))
        assert code == 0, printed
        yield Loaded(url, int((frame["reservation_status"] == "").sum()))


def _scores(url: str) -> tuple[int, int]:
    """(score rows, distinct bookings scored)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows, distinct = conn.exec_driver_sql(
                "SELECT count(*), count(DISTINCT booking_id) FROM booking_scores"
            ).one()
    finally:
        engine.dispose()
    return int(rows), int(distinct)


@pytest.fixture
def unscored(loaded_database: Loaded) -> Loaded:
    """The loaded bookings with no score yet."""
    engine = sa.create_engine(loaded_database.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS booking_scores")
    engine.dispose()
    return loaded_database


def _score_db(database: Loaded, trained_workspace) -> subprocess.Popen[str]:
    env = trained_workspace.env() | {"DATABASE_URL": database.url}
    return _cli("score-db", "--as-of", ON_THE_BOOKS_DAY, env=env)


@pytest.mark.postgres
def test_score_db_killed_halfway_then_rerun(unscored, trained_workspace, fault_case) -> None:
    percent = _kill_halfway(_score_db(unscored, trained_workspace))
    code, printed = _finish(_score_db(unscored, trained_workspace))
    assert code == 0, printed
    rows, distinct = _scores(unscored.url)
    fault_case(
        case="kill -9 of score-db halfway, then a rerun",
        sent=unscored.on_the_books,
        kept=distinct,
        lost=unscored.on_the_books - distinct,
        detail=f"killed at {percent}%; the rerun scored every booking on the books once ({rows - distinct} duplicates)",
    )
    assert distinct == unscored.on_the_books
    assert rows == distinct


@pytest.mark.postgres
def test_two_score_db_at_once_score_each_booking_once(unscored, trained_workspace, fault_case) -> None:
    first, second = _score_db(unscored, trained_workspace), _score_db(unscored, trained_workspace)
    (code_1, printed_1), (code_2, printed_2) = _finish(first), _finish(second)
    rows, distinct = _scores(unscored.url)
    waited = [p for p in (printed_1, printed_2) if "waiting for it to finish" in p]
    fault_case(
        case="two score-db at once",
        sent=unscored.on_the_books,
        kept=distinct,
        lost=unscored.on_the_books - distinct,
        detail=f"exits {code_1} and {code_2}; {len(waited)} waited for the other, then found the day "
        f"scored already; {rows - distinct} duplicates",
    )
    assert (code_1, code_2) == (0, 0), printed_1 + printed_2
    assert distinct == unscored.on_the_books
    assert rows == distinct
    assert len(waited) == 1, printed_1 + printed_2
    assert sum("this day was scored already" in p for p in (printed_1, printed_2)) == 1

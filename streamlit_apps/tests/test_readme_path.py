"""The README's path, command by command as a new user types them, with no ``--env`` anywhere:

    HOTEL_BOOKINGS_SOURCE=... ./cli.sh dvc-init-pipeline
    ./cli.sh setup-db local
    HOTEL_BOOKINGS_SOURCE=... ./cli.sh initialize-data db
    ./cli.sh serve-api                       # then one POST /predict
    ./cli.sh score-db --as-of 2017-05-01
    ./cli.sh dashboard                       # Bookings, Monitoring and Forecast show what was done

in a copy of the repository, on generated bookings, with a PostgreSQL of its own (a free port).
Once ``setup-db local`` has recorded its database, every later command uses it by default: the
dashboard shows the loaded bookings and, on its Monitoring page, the prediction the API made.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from dotenv import dotenv_values

from api.tests.helpers import json_bookings, on_the_books
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port
from data_engineering.src.synthetic import write_bookings
from streamlit_apps.lib.sql import BOOKINGS
from streamlit_apps.tests.chromium import Browser, ensure_chromium
from streamlit_apps.tests.dashboard_pages import PAGES
from streamlit_apps.tests.helpers import server

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "reports" / "test-artifacts" / "dashboards"
SCORED = dt.date(2017, 5, 1)  # the README's score-db --as-of


@pytest.fixture(scope="module")
def repo(repo_copy: Path, repo_cli) -> Iterator[Path]:
    """The copy, whose local PostgreSQL (if the test started one) is stopped and removed after."""
    yield repo_copy
    cluster = repo_copy / ".local" / "postgres" / "local"
    if cluster.exists():
        repo_cli(repo_copy, "teardown-db", "local")
        # As root the cluster lives outside the copy (the server's user cannot enter pytest's
        # folders), behind a link: remove what it points at.
        target = cluster.resolve()
        shutil.rmtree(target, ignore_errors=True)
        if target.parent != repo_copy / ".local" / "postgres" and not any(target.parent.iterdir()):
            target.parent.rmdir()


def recorded(repo: Path) -> dict[str, str]:
    """What ``setup-db local`` wrote in the copy's .env.local."""
    return {k: v for k, v in dotenv_values(repo / ".env.local").items() if v is not None}


def wait_for_rows(url: str, query: str, expected: int, timeout: float = 15) -> int:
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                found = int(conn.execute(sa.text(query)).scalar_one())
            if found >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_the_readme_commands_meet_in_one_database(repo: Path, repo_cli, repo_env, tmp_path: Path) -> None:
    source = write_bookings(tmp_path / "bookings.csv.gz", 4000, seed=5)
    data = {"HOTEL_BOOKINGS_SOURCE": str(source)}
    logs = tmp_path / "logs"

    trained = repo_cli(repo, "dvc-init-pipeline", env=data)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]

    port = free_port()
    database = repo_cli(repo, "setup-db", "local", env={"POSTGRES_PORT": str(port)})
    assert database.returncode == 0, database.stdout + database.stderr
    assert "now the default" in database.stdout
    urls = recorded(repo)
    assert f"@127.0.0.1:{port}/" in urls["DATABASE_URL"]
    where = f"127.0.0.1:{port}/hotel"  # how each command names the database it used

    loaded = repo_cli(repo, "initialize-data", "db", env=data)
    assert loaded.returncode == 0, loaded.stderr
    assert f"{BOOKINGS}, bookings_raw, bookings_rejected in postgresql+psycopg://hotel_app:***@{where}" in (
        loaded.stdout
    )
    bookings = wait_for_rows(urls["DATABASE_URL"], f"SELECT COUNT(*) FROM {BOOKINGS}", 1, timeout=0)
    assert bookings > 3900

    booking = json_bookings(pd.read_csv(source, dtype=str, keep_default_na=False).head(1))[0]
    api_port, dashboard_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    serve_api = ["bash", str(repo / "cli.sh"), "serve-api", "--port", str(api_port)]
    with server(serve_api, repo_env(), f"{api}/ready", logs / "api.log", cwd=repo):
        answer = httpx.post(f"{api}/predict", json=booking, timeout=30)
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["request_id"]
    assert f"prediction log -> postgresql+psycopg://hotel_app:***@{where}" in (logs / "api.log").read_text()
    logged = f"SELECT COUNT(*) FROM predictions WHERE request_id = '{request_id}'"
    assert wait_for_rows(urls["DATABASE_URL"], logged, 1) == 1

    # The README scores the bookings on the books on 1 May 2017 (the public file and its extracts
    # all have arrivals after it), as of that day.
    scored = repo_cli(repo, "score-db", "--as-of", str(SCORED))
    assert scored.returncode == 0, scored.stderr
    assert where in scored.stdout
    books = int(on_the_books(pd.read_csv(source, dtype=str, keep_default_na=False), SCORED).sum())
    assert books > 100
    assert wait_for_rows(urls["DATABASE_URL"], "SELECT COUNT(*) FROM booking_scores", 1, timeout=0) == books

    ensure_chromium()
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    run_dashboard = ["bash", str(repo / "cli.sh"), "dashboard", "--port", str(dashboard_port)]
    pages = {page.path: page for page in PAGES}
    with (
        server(run_dashboard, repo_env(), f"{dashboard}/_stcore/health", logs / "dashboard.log", cwd=repo),
        Browser(1400, 1000) as browser,
    ):
        browser.open(f"{dashboard}/", pages[""])
        assert browser.metrics()["Bookings"] == f"{bookings:,}"
        assert where in browser.text()  # the sidebar names the database it reads
        browser.open(f"{dashboard}/monitoring", pages["monitoring"])
        assert browser.metrics()["Predictions"] == "1"
        browser.screenshot(ARTIFACTS / "readme_path_monitoring.png")
        browser.navigate(pages["forecast"])
        assert browser.metrics()["Bookings on the books"] == f"{books:,}"

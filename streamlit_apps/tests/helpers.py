"""Running the app in-process (streamlit.testing) and reading what it rendered."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import wait_for_server

APP = REPO_ROOT / "streamlit_apps" / "app.py"

# The first run of a page imports pandas, altair and (Model, Monitoring) mlflow: seconds, once.
TIMEOUT = 60


def open_page(page: str | None = None) -> AppTest:
    """The app as a browser session sees it: the entry script, then the page picked in the menu."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def messages(at: AppTest) -> str:
    """Every info, warning and error box of the page, as one text."""
    return "\n".join(str(e.value) for kind in (at.info, at.warning, at.error) for e in kind)


def with_search_path(url: str, schema: str) -> str:
    """The URL with every session's search_path set to ``schema`` only."""
    parsed = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return parsed.render_as_string(hide_password=False)


@contextmanager
def server(
    argv: list[str],
    env: dict[str, str],
    health: str,
    log: Path,
    *,
    timeout: float = 120,
    cwd: Path = REPO_ROOT,
) -> Iterator[None]:
    """A server in its own process group, up once ``health`` answers 200, stopped on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            if not wait_for_server(health, process, timeout):
                if process.poll() is not None:
                    pytest.fail(f"{argv[:4]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                pytest.fail(f"{health} not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            yield
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)

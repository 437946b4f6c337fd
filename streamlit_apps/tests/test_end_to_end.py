"""End to end: the real API and ``streamlit run`` over a seeded PostgreSQL, read in headless Chromium.

Every page is opened in the browser; the test checks that the rendered DOM holds the page's key
numbers (computed here from the database and the registry), submits the What-if form to the
real API, reads the Forecast of the bookings score-db scored, and saves a screenshot of each page, the render times and both servers' logs under
``reports/test-artifacts/dashboards/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import mlflow
import pytest
import sqlalchemy as sa

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port
from data_science.tracking import CHAMPION, MODEL_NAME
from streamlit_apps.tests.browser import shrink_png
from streamlit_apps.tests.chromium import Browser, ensure_chromium
from streamlit_apps.tests.dashboard_pages import PAGES
from streamlit_apps.tests.helpers import server
from streamlit_apps.tests.oracles import expected_kpis, on_the_books
from streamlit_apps.tests.seed import SCORED_DAYS, raw_booking

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ARTIFACTS = REPO_ROOT / "reports" / "test-artifacts" / "dashboards"
API_KEY = "dashboard-e2e-key-0123456789"  # pragma: allowlist secret
KEY_HEADER = {"X-API-Key": API_KEY}


@dataclass(frozen=True)
class Stack:
    api: str
    dashboard: str


@pytest.fixture(scope="module")
def stack(own_seeded, trained_workspace) -> Iterator[Stack]:
    if not (REPO_ROOT / "api" / "main.py").exists():
        if os.environ.get("CI"):
            pytest.fail("api/main.py is missing: the end-to-end test needs the real API")
        pytest.skip("api/main.py does not exist yet: the end-to-end test needs the real API")
    ensure_chromium()
    api_port, dashboard_port = free_port(), free_port()
    base = {
        k: v for k, v in os.environ.items() if k not in ("APP_ENV", "DATABASE_URL", "DATABASE_URL_READONLY")
    }
    base |= {
        "MLFLOW_TRACKING_URI": trained_workspace.tracking_uri,
        "HOTEL_WORKSPACE": str(trained_workspace.root),
    }
    api_env = {
        **base,
        # The log writes where the URL's search_path points: the module's own schema.
        "DATABASE_URL": own_seeded.app_url,
        "API_PREDICTION_LOG": "true",
        "API_LOG_FLUSH_SECONDS": "0.05",
        "API_KEYS": API_KEY,  # the What-if page must send it, as in a deployment
    }
    api_env.pop("MODEL_URI", None)
    dashboard_env = {
        **base,
        "DATABASE_URL_READONLY": own_seeded.readonly_url,
        "API_URL": f"http://127.0.0.1:{api_port}",
        "API_KEY": API_KEY,
    }
    api_argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port),
    ]
    dashboard_argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO_ROOT / "streamlit_apps" / "app.py"),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(dashboard_port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    with ExitStack() as stack:
        stack.enter_context(
            server(api_argv, api_env, f"http://127.0.0.1:{api_port}/ready", ARTIFACTS / "api.log")
        )
        stack.enter_context(
            server(
                dashboard_argv,
                dashboard_env,
                f"http://127.0.0.1:{dashboard_port}/_stcore/health",
                ARTIFACTS / "dashboard.log",
            )
        )
        yield Stack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dashboard_port}")


def what_if_defaults() -> dict:
    """The booking the What-if form sends untouched (its defaults, today's arrival + 60 days)."""
    arrival = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)
    return {
        "hotel": "City Hotel",
        "lead_time": 60,
        "arrival_date_year": arrival.year,
        "arrival_date_month": arrival.strftime("%B"),
        "arrival_date_week_number": arrival.isocalendar().week,
        "arrival_date_day_of_month": arrival.day,
        "stays_in_weekend_nights": 1,
        "stays_in_week_nights": 2,
        "adults": 2,
        "children": 0,
        "babies": 0,
        "meal": "BB",
        "country": "PRT",
        "market_segment": "Online TA",
        "distribution_channel": "TA/TO",
        "is_repeated_guest": 0,
        "previous_cancellations": 0,
        "previous_bookings_not_canceled": 0,
        "reserved_room_type": "A",
        "deposit_type": "No Deposit",
        "agent": 9,
        "company": None,
        "days_in_waiting_list": 0,
        "customer_type": "Transient",
        "adr": 100.0,
        "required_car_parking_spaces": 0,
        "total_of_special_requests": 0,
    }


def recent_predictions(url: str) -> int:
    engine = sa.create_engine(url)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM predictions WHERE created_at >= :s"), {"s": since})
        value = int(count.scalar_one())
    engine.dispose()
    return value


def logged_probability(url: str, request_id: str) -> float:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT cancel_probability FROM predictions WHERE request_id = :r"), {"r": request_id}
        )
        value = row.scalar_one()
    engine.dispose()
    return float(value)


def test_every_page_in_a_browser_against_the_real_api(stack: Stack, own_seeded, trained_workspace) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    bookings = own_seeded.bookings
    client = mlflow.MlflowClient(
        tracking_uri=trained_workspace.tracking_uri, registry_uri=trained_workspace.tracking_uri
    )
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    assert champion.run_id is not None
    threshold = client.get_run(champion.run_id).data.metrics["threshold"]
    before = recent_predictions(own_seeded.app_url)

    # Predictions sent straight to the API, as a hotel system would: they must reach Monitoring.
    sent = [raw_booking(row, i) for i, (_, row) in enumerate(bookings.head(5).iterrows())]
    for booking in sent:
        assert (
            httpx.post(f"{stack.api}/predict", json=booking, headers=KEY_HEADER, timeout=10).status_code
            == 200
        )
    expected_answer = httpx.post(
        f"{stack.api}/predict", json=what_if_defaults(), headers=KEY_HEADER, timeout=10
    ).json()

    with Browser(1400, 1000) as browser:
        pages = {page.path: page for page in PAGES}

        timings["Bookings"] = browser.open(f"{stack.dashboard}/", pages[""])
        assert browser.metrics() == expected_kpis(bookings)
        shrink_png(browser.screenshot(ARTIFACTS / "bookings.png"))

        timings["Model"] = browser.navigate(pages["model"])
        text = browser.text()
        shown = browser.metrics()
        assert shown["Version"] == str(champion.version)
        assert shown["Decision threshold"] == f"{threshold:.3f}"
        assert "Evaluation plots" in text
        assert "Confusion matrix" in text  # image captions: the figures came from the run
        assert "Registered versions" in text
        shrink_png(browser.screenshot(ARTIFACTS / "model.png"))

        timings["What-if"] = browser.navigate(pages["what_if"])
        started = time.perf_counter()
        browser.click_button("Predict")
        timings["What-if answer"] = browser.wait_until_ready(
            ("Cancellation probability", "Every field the API returned"), started
        )
        text = browser.text()
        shown = browser.metrics()
        assert shown["Cancellation probability"] == f"{expected_answer['cancel_probability']:.1%}"
        assert shown["Decision"] == ("Will cancel" if expected_answer["will_cancel"] else "Will stay")
        assert shown["Model version"] == str(champion.version)
        missing = [r["text"] for r in expected_answer["reasons"] if r["text"] not in text]
        assert not missing, f"reasons not shown: {missing}\n{text[-1500:]}"
        shown_id = re.search(r"request ([0-9a-f-]{8,})", text)
        assert shown_id, text[-1500:]
        shrink_png(browser.screenshot(ARTIFACTS / "what_if.png"))

        # 5 sent directly, 1 for the expected answer, 1 from the form; the log writes asynchronously.
        expected = before + 7
        deadline = time.monotonic() + 15
        while recent_predictions(own_seeded.app_url) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        assert recent_predictions(own_seeded.app_url) == expected
        logged = logged_probability(own_seeded.app_url, shown_id.group(1))
        assert logged == pytest.approx(expected_answer["cancel_probability"])

        timings["Monitoring"] = browser.navigate(pages["monitoring"])
        text = browser.text()
        shown = browser.metrics()
        assert shown["Predictions"] == f"{expected:,}"
        assert "Realised precision" in shown
        assert shown["Estimated ROC AUC"] != "–"
        assert "Realised ROC AUC" in shown
        assert "Input drift against the training data" in text
        assert "Left out: the 4 parts of the arrival date" in text
        shrink_png(browser.screenshot(ARTIFACTS / "monitoring.png"))

        # The bookings on the books on the newest day score-db ran, turned into the nightly forecast.
        timings["Forecast"] = browser.navigate(pages["forecast"])
        shown = browser.metrics()
        assert shown["Bookings on the books"] == f"{len(on_the_books(bookings, SCORED_DAYS[-1])):,}"
        assert "Nights inside the 80% band" in shown
        assert f"{SCORED_DAYS[-1]:%a %d %b %Y}, the newest day" in browser.text()
        shrink_png(browser.screenshot(ARTIFACTS / "forecast.png"))

    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2) + "\n")
    assert all(seconds < 30 for seconds in timings.values()), timings

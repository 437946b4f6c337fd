"""``/docs`` and ``/redoc`` work on a closed network: their scripts, styles and icon are served by
the API itself, and headless Chromium renders them with every other host unreachable."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.tests.helpers import api_settings
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port
from streamlit_apps.tests.chromium import OFFLINE_FLAGS, Browser, ensure_chromium

ARTIFACTS = REPO_ROOT / "reports" / "test-artifacts" / "api"
PAGES = ("/docs", "/redoc")
# Attributes (ReDoc's spec-url too) and Swagger UI's options that name a resource the page loads.
REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl\s*:\s*["']([^"']+)["']""")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    # The documentation needs neither the model nor the log: the app is served without its
    # lifespan (start-up would load the champion), exactly as created for production otherwise.
    log = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'log.sqlite'}"
    return create_app(api_settings(log))


def references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", PAGES)
def test_the_page_references_no_other_host_and_its_assets_are_served(app, page: str) -> None:
    client = TestClient(app)
    response = client.get(page)
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert not re.findall(r"(?:https?:)?//[\w.-]+", html), html  # no absolute or protocol-relative URL
    found = references(html)
    assert "/openapi.json" in found
    assets = [url for url in found if url != "/openapi.json"]
    assert any(url.endswith(".js") for url in assets), found  # the page needs its script
    for url in assets:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url  # the real file, not an error page


@pytest.fixture(scope="module")
def served(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the docs server stopped"
        assert time.monotonic() < deadline, "the docs server did not start within 30 s"
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(10)


def rendered(browser: Browser, expect: tuple[str, ...], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = browser.evaluate("document.body ? document.body.innerText : ''") or ""
        if all(t in text for t in expect):
            return text
        time.sleep(0.2)
    raise AssertionError(
        f"not rendered within {timeout:.0f} s (missing {[t for t in expect if t not in text]}):\n{text[:1500]}"
    )


@pytest.mark.slow
def test_docs_render_in_chromium_with_the_network_cut_off(served: str) -> None:
    ensure_chromium()
    # Every external host is unreachable for this browser: a page that needed a CDN stays blank.
    with Browser(1280, 900, flags=OFFLINE_FLAGS, record_requests=True) as browser:
        blocked = browser.call("Page.navigate", url="https://cdn.jsdelivr.net/npm/redoc@2/package.json")
        assert blocked.get("errorText", "").startswith("net::ERR_"), blocked

        browser.requests.clear()
        browser.call("Page.navigate", url=f"{served}/docs")
        # Drawn by Swagger UI's script from /openapi.json: the title, a route and its summary.
        text = rendered(browser, ("Hotel booking cancellation API", "/predict", "/predict/batch", "Schemas"))
        assert "Failed to load" not in text
        shot = browser.screenshot(ARTIFACTS / "docs_offline.png", full_height=False)
        assert shot.stat().st_size > 20_000
        browser.call("Page.navigate", url=f"{served}/redoc")
        rendered(browser, ("Hotel booking cancellation API", "/predict/batch", "API docs by Redocly"))
        browser.screenshot(ARTIFACTS / "redoc_offline.png", full_height=False)

    sent = [url for url in browser.requests if url not in browser.blocked]
    hosts = {urlsplit(url).netloc for url in sent if not url.startswith(("data:", "blob:"))}
    assert hosts == {urlsplit(served).netloc}, sent
    # ReDoc's bundle asks cdn.redoc.ly for a logo: the pages' policy stops it in the browser.
    assert all(urlsplit(url).netloc == "cdn.redoc.ly" for url in browser.blocked), browser.blocked

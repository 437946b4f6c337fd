"""Headless Chromium driven over the DevTools protocol (CDP): open a dashboard page, wait until
Streamlit has finished rendering it, read its text, click, time it and take screenshots.

No chromedriver/selenium: one websocket to the page target is enough, and ``websockets`` is
already installed (uvicorn's). Used by the end-to-end tests (the dashboards', the README path's, the
API docs') and by browser.py's command.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from streamlit_apps.tests.dashboard_pages import Page

# The flags ENVIRONMENT.md prescribes for these machines (root, no GPU, no network but registries).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
# A closed network: every host name fails to resolve and every address goes through a proxy that
# is not there; only loopback, which Chromium never sends to a proxy, is reached.
OFFLINE_FLAGS = (
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
# True once Streamlit has nothing left to draw: the script finished (no status widget, no stale
# elements), every chart has its canvas or SVG and every image has loaded.
READY_JS = """(() => {
  const running = document.querySelector('[data-testid="stStatusWidget"]') !== null
    || document.querySelector('[data-stale="true"]') !== null
    || document.querySelector('[data-testid="stSkeleton"]') !== null;
  const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
  const drawn = Array.from(charts).every(c => c.querySelector('canvas, svg.marks'));
  const images = Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);
  return {text: document.body ? document.body.innerText : '', busy: running || !drawn || !images};
})()"""


# Streamlit shows its "running" badge only after a moment, so a page counts as rendered once
# its texts are there and nothing changed for this long (not included in the times reported).
SETTLE_SECONDS = 0.25


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def ensure_chromium() -> str:
    """Chromium's path, installing Debian's package first when missing (CI runs as root)."""
    path = find_chromium()
    if path:
        return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError("chromium is not installed and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
    path = find_chromium()
    if not path:
        raise RuntimeError("apt-get installed chromium but it is not on PATH")
    return path


class Browser:
    def __init__(
        self,
        width: int = 1400,
        height: int = 1000,
        executable: str | None = None,
        *,
        flags: tuple[str, ...] = (),
        record_requests: bool = False,
    ) -> None:
        self.width, self.height = width, height
        # Every URL the page asked for, and those the browser itself refused to send (a Content
        # Security Policy, ...): with record_requests, from the Network domain's events.
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self._urls: dict[str, str] = {}
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.process = subprocess.Popen(
            [
                executable or ensure_chromium(),
                *FLAGS,
                *flags,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._ids = itertools.count(1)
            self._stack = ExitStack()
            self.ws = self._stack.enter_context(connect(self._page_target(), max_size=None, open_timeout=20))
            self.call("Page.enable")
            if record_requests:
                self.call("Network.enable")
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def _page_target(self) -> str:
        # Chromium writes the port it picked (--remote-debugging-port=0) into the profile.
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = port_file.read_text().splitlines()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            method, params = message.get("method"), message.get("params", {})
            if method == "Network.requestWillBeSent":
                self._urls[params["requestId"]] = params["request"]["url"]
                self.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed" and params.get("blockedReason"):
                self.blocked.append(self._urls.get(params["requestId"], "?"))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"javascript failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def resize(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def wait_until_ready(
        self, expect: tuple[str, ...], started: float, timeout: float = 60, *, any_of: tuple[str, ...] = ()
    ) -> float:
        """Seconds from ``started`` until the texts (all of ``expect``, one of ``any_of``) are
        shown and Streamlit is idle."""
        deadline = started + timeout
        state: dict[str, Any] = {}
        ready_at, ready_text = None, None
        while time.perf_counter() < deadline:
            state = self.evaluate(READY_JS) or {}
            text = state.get("text", "")
            shown = all(t in text for t in expect) and (not any_of or any(t in text for t in any_of))
            now = time.perf_counter()
            if state.get("busy", True) or not shown or text != ready_text:
                ready_at, ready_text = (now, text) if shown and not state.get("busy", True) else (None, None)
            elif ready_at is not None and now - ready_at >= SETTLE_SECONDS:
                return ready_at - started
            time.sleep(0.02)
        missing = [t for t in expect if t not in state.get("text", "")]
        raise TimeoutError(
            f"page not ready after {timeout:.0f} s (missing {missing}):\n{state.get('text', '')[:2000]}"
        )

    def open(self, url: str, page: Page, timeout: float = 60) -> float:
        """Load ``url`` (the whole Streamlit front end) and wait for it; returns the seconds."""
        started = time.perf_counter()
        self.call("Page.navigate", url=url)
        return self.wait_until_ready(page.ready, started, timeout, any_of=page.any_of)

    def navigate(self, page: Page, timeout: float = 60) -> float:
        """Click the page in the app's menu, as a user switches pages; returns the seconds."""
        started = time.perf_counter()
        clicked = self.evaluate(
            "(() => { const link = Array.from(document.querySelectorAll('a[data-testid=\"stSidebarNavLink\"]'))"
            f".find(a => new URL(a.href).pathname === {json.dumps('/' + page.path)});"
            " if (!link) return false; link.click(); return true; })()"
        )
        if not clicked:
            raise RuntimeError(f"no menu entry {page.title!r}")
        return self.wait_until_ready(page.ready, started, timeout, any_of=page.any_of)

    def click_button(self, label: str) -> None:
        clicked = self.evaluate(
            "(() => { const b = Array.from(document.querySelectorAll('button'))"
            f".find(b => b.innerText.trim() === {json.dumps(label)});"
            " if (!b) return false; b.click(); return true; })()"
        )
        if not clicked:
            raise RuntimeError(f"no button {label!r}")

    def metrics(self) -> dict[str, str]:
        """Every st.metric on the page: label -> value, as displayed."""
        pairs = self.evaluate(
            "Array.from(document.querySelectorAll('[data-testid=\"stMetric\"]')).map(m => ["
            "m.querySelector('[data-testid=\"stMetricLabel\"]').innerText.trim(),"
            "m.querySelector('[data-testid=\"stMetricValue\"]').innerText.trim()])"
        )
        return dict(pairs or [])

    def text(self) -> str:
        return self.evaluate("document.body.innerText")

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path: Path, *, full_height: bool = True) -> Path:
        """PNG of the page; Streamlit scrolls inside its own container, so the viewport is made
        as tall as that container's content for a whole-page picture."""
        if full_height:
            height = self.evaluate(
                "(() => { const m = document.querySelector('[data-testid=\"stMain\"]')"
                " || document.scrollingElement; return Math.ceil(m.scrollHeight) + 40; })()"
            )
            self.resize(self.width, max(self.height, min(int(height or self.height), 6000)))
            time.sleep(0.5)  # let charts reflow to the new size
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        if full_height:
            self.resize(self.width, self.height)
        return path

    def close(self) -> None:
        stack = getattr(self, "_stack", None)
        if stack is not None:
            stack.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

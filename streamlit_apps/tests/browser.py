"""Render times and the README's screenshots of a running dashboard, taken with headless Chromium
(chromium.py); shrink_png is the end-to-end test's too:

    python -m streamlit_apps.tests.browser http://127.0.0.1:8501 --rounds 0,65,0 --out docs/screenshots
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from streamlit_apps.tests.chromium import Browser
from streamlit_apps.tests.dashboard_pages import PAGES


def shrink_png(path: Path, colours: int = 128) -> Path:
    """Palette PNG: dashboards have few colours, so this cuts the file ~4x with no visible loss."""
    from PIL import Image

    with Image.open(path) as image:
        image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def measure(base_url: str, out: Path | None, rounds: list[float]) -> dict[str, dict[str, list[float]]]:
    """Render times of every page, per round: a full load of its URL, then a switch to it through
    the menu. Each round starts after its pause (a pause beyond the dashboards' cache TTL makes
    the round's queries cold again)."""
    timings: dict[str, dict[str, list[float]]] = {p.title: {"load": [], "switch": []} for p in PAGES}
    with Browser() as browser:
        for pause in rounds:
            time.sleep(pause)
            for page in PAGES:
                timings[page.title]["load"].append(round(browser.open(f"{base_url}/{page.path}", page), 3))
            for page in (*PAGES[1:], PAGES[0]):
                timings[page.title]["switch"].append(round(browser.navigate(page), 3))
        if out is not None:
            for page in PAGES:
                browser.open(f"{base_url}/{page.path}", page)
                if page.path == "what_if":
                    started = time.perf_counter()
                    browser.click_button("Predict")
                    browser.wait_until_ready(
                        (), started, any_of=("Every field the API returned", "not reachable")
                    )
                shrink_png(browser.screenshot(out / f"{page.path or 'bookings'}.png"))
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render times (and screenshots) of a running dashboard")
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8501")
    parser.add_argument("--out", type=Path, help="write one screenshot per page here")
    parser.add_argument(
        "--rounds",
        default="0,0",
        help="comma-separated pauses (s) before each round; > 60 s lets the query caches expire",
    )
    ns = parser.parse_args(argv)
    results = measure(ns.url.rstrip("/"), ns.out, [float(p) for p in ns.rounds.split(",")])
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The dashboard's pages as a browser finds them: menu label, URL path and the texts that show each
is rendered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    title: str  # the label in the navigation menu
    path: str  # URL path ("" for the default page)
    ready: tuple[str, ...]  # texts only this page shows, the last of them at its bottom
    any_of: tuple[str, ...] = ()  # one of these must show too (a section's alternatives)


PAGES = (
    Page("Bookings", "", ("Average lead time (days)", "Numbers behind the charts")),
    Page("Model", "model", ("Decision threshold", "Feature importance", "Registered versions")),
    Page(
        "Monitoring",
        "monitoring",
        ("Latency p95 (ms)", "Estimated ROC AUC", "Input drift against the training data"),
        ("Left out: the", "Drift needs a champion model"),
    ),
    Page("What-if", "what_if", ("Guest history and waiting list", "Predict")),
    Page(
        "Forecast",
        "forecast",
        ("Bookings on the books", "How past forecasts did"),
        ("Nights compared", "has been scored so far", "No night after"),
    ),
)

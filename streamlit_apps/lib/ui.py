"""Pieces every page uses: number formats and the messages shown when a source is unavailable."""

from __future__ import annotations

import math

import streamlit as st

from streamlit_apps.lib.config import setup_db_command
from streamlit_apps.lib.db import DataUnavailable
from streamlit_apps.lib.registry import ModelUnavailable

SEVERITY_COLOURS = {"ok": "#2e7d32", "watch": "#f9a825", "alert": "#c62828"}
SEVERITY_BACKGROUNDS = {"ok": "#e8f5e9", "watch": "#fff8e1", "alert": "#ffebee"}
# Time labels per bucket of a time axis, 24-hour and in UTC like the pages' text (Vega-Lite's
# default is the browser's time zone with a 12-hour clock: 15:25 UTC read "03:25").
TIME_FORMATS = {"minute": "%H:%M", "hour": "%d %b %H:%M", "day": "%d %b %Y"}


def count(value: float | None) -> str:
    return "–" if value is None or _nan(value) else f"{int(value):,}"


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or _nan(value) else f"{value:.{digits}%}"


def number(value: float | None, digits: int = 1, suffix: str = "") -> str:
    return "–" if value is None or _nan(value) else f"{value:,.{digits}f}{suffix}"


def _nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)


def data_unavailable(exc: DataUnavailable, *, table: str, missing: str) -> None:
    """Explain why a table cannot be read; ``missing`` says what to do when it was never loaded."""
    where = f" ({exc.where})" if exc.where else ""
    if exc.kind == "down":
        st.error(
            f"**Cannot connect to the database**{where}.\n\n{exc.detail}\n\n"
            f"Is it running? Start it with `{setup_db_command()}`, "
            "or point `DATABASE_URL_READONLY` at a running server."
        )
    elif exc.kind == "config":
        st.error(f"**No database configured.** {exc.detail}")
    elif exc.kind == "no_data":
        st.info(f"**No `{table}` table yet**{where}. {missing}\n\n`{exc.detail}`")
    elif exc.kind == "permission":
        st.error(
            f"**The dashboards' read-only role may not read `{table}`**{where}. Run "
            f"`{setup_db_command()}` again to grant it.\n\n`{exc.detail}`"
        )
    else:
        st.error(f"**Database error while reading `{table}`**{where}.\n\n`{exc.detail}`")


def model_unavailable(exc: ModelUnavailable, tracking: str) -> None:
    if exc.kind == "no_store":
        st.info(
            f"**No MLflow tracking store yet** ({exc.detail}). Train and register a model with "
            "`./cli.sh dvc-init-pipeline`, or point `MLFLOW_TRACKING_URI` at the tracking server."
        )
    elif exc.kind == "no_model":
        st.info(
            f"**No registered model** in `{tracking}`. Train and register one with "
            f"`./cli.sh dvc-init-pipeline`.\n\n`{exc.detail}`"
        )
    else:
        st.error(f"**Cannot read the MLflow registry** at `{tracking}`.\n\n`{exc.detail}`")

"""Model: the champion's card and every registered version, from the MLflow registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from data_engineering.src.messages import masked_uri
from data_science.tracking import CHALLENGER, CHAMPION
from streamlit_apps.lib import registry, ui

COMPARED = ("roc_auc", "pr_auc", "brier", "log_loss", "f1", "precision", "recall")


def when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def metrics_table(version: registry.VersionSummary) -> pd.DataFrame:
    """Backtest means of the model beside the baselines, on the same folds, each at its threshold."""
    rows = []
    for key, label in registry.METRICS.items():
        row = {"metric": label, "model": version.backtest(key)}
        for baseline, name in registry.BASELINES.items():
            row[name] = version.metrics.get(f"baseline_{baseline}_{key}_mean")
        rows.append(row)
    return pd.DataFrame(rows)


def folds_table(report: dict[str, Any]) -> pd.DataFrame:
    """The backtest fold by fold (from the run's metrics.json)."""
    folds = report.get("backtest", {}).get("folds", [])
    plain = {
        f["start"]: f["roc_auc"]
        for f in report.get("baselines", {}).get("plain_xgboost", {}).get("folds", [])
    }
    return pd.DataFrame(
        [
            {
                "arrivals": f"{f['start']} – {f['end']}",
                "trained on": f["train_rows"],
                "bookings": f["rows"],
                "ROC AUC": f["roc_auc"],
                "PR AUC": f["pr_auc"],
                "Brier": f["brier"],
                "log loss": f["log_loss"],
                "F1": f["f1"],
                "ROC AUC, booked after cut-off": f.get("roc_auc_booked_after_cutoff"),
                "plain XGBoost ROC AUC": plain.get(f["start"]),
            }
            for f in folds
        ]
    )


def versions_table(reg: registry.Registry) -> pd.DataFrame:
    rows = []
    for v in reg.versions:
        role = CHAMPION if CHAMPION in v.aliases else CHALLENGER if CHALLENGER in v.aliases else "earlier"
        rows.append(
            {
                "version": int(v.version),
                "role": role,
                "aliases": ", ".join(v.aliases),
                "trained at": when(v.trained_at),
                **{registry.METRICS[k]: v.backtest(k) for k in COMPARED},
                "threshold": v.threshold,
                "training window": f"{v.tags.get('train_start', '?')} – {v.tags.get('train_end', '?')}",
                "data version": (v.tags.get("data_version") or "")[:12],
                "git commit": (v.tags.get("git_commit") or "")[:12],
            }
        )
    return pd.DataFrame(rows)


st.title("Model")
uri = registry.current_tracking_uri()
shown_uri = masked_uri(uri)
try:
    reg = registry.load_registry(uri)
except registry.ModelUnavailable as exc:
    ui.model_unavailable(exc, shown_uri)
    st.stop()

champion = reg.by_alias(CHAMPION)
if champion is None:
    st.warning(
        f"**`{reg.name}` has {len(reg.versions)} registered version(s) but no `{CHAMPION}` alias.** "
        "The next `./cli.sh dvc-init-pipeline` run assigns one."
    )
    st.dataframe(versions_table(reg), hide_index=True)
    st.stop()

st.subheader(f"`{reg.name}` version {champion.version} · {CHAMPION}")
st.caption(f"MLflow registry: `{shown_uri}` · run `{champion.run_id}`")
top = st.columns(4)
top[0].metric("Version", champion.version)
top[1].metric(
    "Trained at",
    champion.trained_at.strftime("%Y-%m-%d") if champion.trained_at else "–",
    help=when(champion.trained_at),
)
top[2].metric("Data version", (champion.tags.get("data_version") or "unknown")[:12])
top[3].metric("Decision threshold", ui.number(champion.threshold, 3))
scores = st.columns(4)
plain_auc = champion.metrics.get("baseline_plain_xgboost_roc_auc_mean")
auc = champion.backtest("roc_auc")
scores[0].metric(
    "Expected ROC AUC on future bookings",
    ui.number(auc, 4),
    delta=None if auc is None or plain_auc is None else f"{auc - plain_auc:+.4f} vs plain XGBoost",
    help="The mean of the rolling-origin backtest: each fold's model was trained on earlier arrivals only.",
)
scores[1].metric("PR AUC", ui.number(champion.backtest("pr_auc"), 4))
scores[2].metric("Brier score", ui.number(champion.backtest("brier"), 4), delta_color="inverse")
scores[3].metric("F1 at the threshold", ui.number(champion.backtest("f1"), 4))

try:
    artifacts = registry.run_artifacts(uri, champion.run_id) if champion.run_id else None
except registry.ModelUnavailable as exc:
    st.warning(f"The champion's run artifacts cannot be read: `{exc.detail}`")
    artifacts = None
report = (artifacts.report if artifacts else None) or {}
window = report.get("training_window", {})
backtest = report.get("backtest", {})

st.markdown(
    "**Expected performance on future bookings** — the rolling-origin backtest: each window of arrivals "
    "scored by the whole pipeline fitted on the arrivals before it, never on the window itself"
)
if backtest:
    st.dataframe(
        folds_table(report),
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(format="%.4f")
            for name in (
                "ROC AUC",
                "PR AUC",
                "Brier",
                "log loss",
                "F1",
                "ROC AUC, booked after cut-off",
                "plain XGBoost ROC AUC",
            )
        },
    )
left, right = st.columns(2)
with left:
    st.markdown("**Backtest means beside the baselines** (same folds, each at its own threshold)")
    st.dataframe(
        metrics_table(champion),
        hide_index=True,
        column_config={
            name: st.column_config.NumberColumn(name, format="%.4f")
            for name in ("model", *registry.BASELINES.values())
        },
    )
with right:
    st.markdown("**Card**")
    facts = {
        "algorithm": champion.tags.get("algorithm", "–"),
        "training window": f"{window.get('train_start', '?')} – {window.get('train_end', '?')}"
        + (f" ({window['train_rows']:,} bookings, refit on all)" if "train_rows" in window else ""),
        "backtest windows": champion.tags.get("backtest_windows", "–"),
        "trees (chosen out of fold)": champion.params.get("n_trees", "–"),
        "recency half-life (days)": champion.params.get("train.half_life_days", "–"),
        "transformation": champion.params.get("transformation", "–"),
        "features": ", ".join(report.get("features", [])) or "–",
        "data version (md5)": champion.tags.get("data_version", "–"),
        "git commit": champion.tags.get("git_commit", "–"),
        "registered at": when(champion.registered_at),
        "gate": champion.tags.get("alias_decision", "–"),
    }
    st.dataframe(
        pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]}),
        hide_index=True,
        column_config={"value": st.column_config.TextColumn(width="large")},
    )
if report.get("caveats"):
    st.markdown("**Caveats**\n\n" + "\n".join(f"- {c}" for c in report["caveats"]))

st.subheader("Evaluation plots")
if artifacts and artifacts.figures:
    names = [n for n in registry.FIGURES if n in artifacts.figures]
    for row in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[row : row + 3], strict=False):
            column.image(artifacts.figures[name], caption=registry.FIGURES[name], width="stretch")
else:
    st.info("This run logged no figures (the evaluate stage writes them under `figures/`).")

st.subheader("Registered versions")
st.caption(
    f"{CHAMPION} serves predictions; {CHALLENGER} lost the last gate (on bookings neither model was fitted on)."
)
st.dataframe(
    versions_table(reg),
    hide_index=True,
    column_config={
        **{registry.METRICS[k]: st.column_config.NumberColumn(format="%.4f") for k in COMPARED},
        "threshold": st.column_config.NumberColumn(format="%.3f"),
    },
)

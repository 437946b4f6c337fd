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
    """The backtest fold by fold (from the run's metrics.json): both questions, and the estimate."""
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
                "estimated before outcomes": f.get("estimated_roc_auc"),
                "PR AUC": f["pr_auc"],
                "Brier": f["brier"],
                "log loss": f["log_loss"],
                "F1": f["f1"],
                "at booking: mean predicted − realised": f.get("calibration_in_the_large"),
                "at booking: ± by chance (1 s.e.)": f.get("calibration_in_the_large_se"),
                "ROC AUC, booked after cut-off": f.get("roc_auc_booked_after_cutoff"),
                "booked after cut-off: mean predicted − realised": f.get(
                    "calibration_in_the_large_booked_after_cutoff"
                ),
                "booked after cut-off: ± by chance (1 s.e.)": f.get(
                    "calibration_in_the_large_booked_after_cutoff_se"
                ),
                "plain XGBoost ROC AUC": plain.get(f["start"]),
                "on the books at": f.get("on_the_books_as_of"),
                "bookings on the books": f.get("rows_on_the_books"),
                "on the books: ROC AUC": f.get("roc_auc_on_the_books"),
                "on the books: estimated": f.get("estimated_roc_auc_on_the_books"),
                "on the books: mean predicted − realised": f.get("calibration_in_the_large_on_the_books"),
                "on the books: ± by chance (1 s.e.)": f.get("calibration_in_the_large_on_the_books_se"),
                "nightly WAPE": f.get("nightly_wape"),
                "nightly bias": f.get("nightly_bias"),
                "nights in the 80% interval": f.get("nightly_coverage_80"),
            }
            for f in folds
        ]
    )


def spread(folds: list[dict[str, Any]], key: str) -> str:
    """``min – max`` of a per-fold figure: what a later window gave, rather than one mean of them."""
    values = [f[key] for f in folds if f.get(key) is not None]
    return f"{min(values):.4f} – {max(values):.4f}" if values else "–"


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
try:
    artifacts = registry.run_artifacts(uri, champion.run_id) if champion.run_id else None
except registry.ModelUnavailable as exc:
    st.warning(f"The champion's run artifacts cannot be read: `{exc.detail}`")
    artifacts = None
report = (artifacts.report if artifacts else None) or {}
window = report.get("training_window", {})
backtest = report.get("backtest", {})
folds = backtest.get("folds", [])

# What to expect on later bookings: the range the backtest's windows gave (the level moves between
# windows, so one mean of them promises too much), and how close the label-free estimate came on each:
# the estimate is the figure for the bookings on the books now (the Monitoring page, estimate-performance).
scores = st.columns(4)
plain_auc = champion.metrics.get("baseline_plain_xgboost_roc_auc_mean")
auc = champion.backtest("roc_auc")
scores[0].metric(
    "ROC AUC at booking, later windows",
    spread(folds, "roc_auc"),
    delta=None if auc is None or plain_auc is None else f"{auc - plain_auc:+.4f} vs plain XGBoost (means)",
    help=f"Each window of the rolling-origin backtest scored by a model trained on earlier arrivals only; "
    f"mean {ui.number(auc, 4)}.",
)
scores[1].metric(
    "ROC AUC on the books, later windows",
    spread(folds, "roc_auc_on_the_books"),
    help="The bookings on the books at each window's cut-off, judged as of it; mean "
    f"{ui.number(champion.backtest('roc_auc_on_the_books'), 4)}.",
)
scores[2].metric(
    "Label-free estimate's error",
    "–"
    if champion.backtest("estimate_error_roc_auc") is None
    else f"±{champion.backtest('estimate_error_roc_auc'):.4f}",
    help="Mean absolute difference, over the windows, between the ROC AUC estimated from the probabilities "
    "alone (before any outcome) and the realised one: how far to trust the estimate the Monitoring page "
    "gives for the bookings scored now.",
)
scores[3].metric(
    "Nightly cancellations: WAPE",
    ui.number(champion.backtest("nightly_wape"), 3),
    help="Expected cancellations per hotel and night among the bookings on the books, against what happened "
    "(mean over the windows).",
)
more = st.columns(4)
more[0].metric("PR AUC", ui.number(champion.backtest("pr_auc"), 4))
more[1].metric("Brier score", ui.number(champion.backtest("brier"), 4), delta_color="inverse")
more[2].metric("F1 at the threshold", ui.number(champion.backtest("f1"), 4))
more[3].metric(
    "Nightly bias",
    "–" if champion.backtest("nightly_bias") is None else f"{champion.backtest('nightly_bias'):+.1%}",
    help="Expected − realised cancellations, as a share of the realised (mean over the windows).",
)

st.markdown(
    "**The backtest, window by window** — each window of arrivals scored by the whole pipeline fitted on "
    "the arrivals before it, never on the window itself: every booking judged the day it was made, and "
    "the bookings on the books at the cut-off judged as of it; *estimated* is what the model said of "
    "itself from its probabilities alone, before any outcome was known"
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
                "estimated before outcomes",
                "on the books: ROC AUC",
                "on the books: estimated",
                *(
                    f"{population}: {figure}"
                    for population in ("at booking", "booked after cut-off", "on the books")
                    for figure in ("mean predicted − realised", "± by chance (1 s.e.)")
                ),
                "nightly WAPE",
                "nightly bias",
                "nights in the 80% interval",
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
    half_life = champion.params.get("train.half_life_days", "–")
    # MLflow keeps parameters as text: unset, the later head's own half-life is logged as "None".
    later_half_life = champion.params.get("train.half_life_days_on_the_books", "None")
    later_half_life = half_life if later_half_life == "None" else later_half_life
    facts = {
        "algorithm": champion.tags.get("algorithm", "–"),
        "training window": f"{window.get('train_start', '?')} – {window.get('train_end', '?')}"
        + (f" ({window['train_rows']:,} bookings, refit on all)" if "train_rows" in window else ""),
        "backtest windows": champion.tags.get("backtest_windows", "–"),
        "trees (chosen out of fold)": champion.params.get("n_trees", "–"),
        "recency half-life (days)": half_life,
        "later head's half-life (days)": later_half_life,
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

"""Model: the champion's card and every registered version, from the MLflow registry."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from data_science.tracking import CHALLENGER, CHAMPION
from streamlit_apps.lib import config, registry, ui

COMPARED = ("roc_auc", "pr_auc", "brier", "log_loss", "f1", "precision", "recall", "accuracy")


def when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def metrics_table(version: registry.VersionSummary) -> pd.DataFrame:
    """Validation metrics of the model beside the baselines trained on the same split."""
    rows = []
    for key, label in registry.METRICS.items():
        row = {"metric": label, "model": version.metrics.get(f"val_{key}")}
        for baseline, name in registry.BASELINES.items():
            row[name] = version.metrics.get(f"baseline_{baseline}_{key}")
        rows.append(row)
    return pd.DataFrame(rows)


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
                **{registry.METRICS[k]: v.metrics.get(f"val_{k}") for k in COMPARED},
                "threshold": v.threshold,
                "validation window": f"{v.tags.get('validation_start', '?')} – {v.tags.get('validation_end', '?')}",
                "data version": (v.tags.get("data_version") or "")[:12],
                "git commit": (v.tags.get("git_commit") or "")[:12],
            }
        )
    return pd.DataFrame(rows)


st.title("Model")
uri = registry.current_tracking_uri()
shown_uri = config.masked_uri(uri)
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
baseline_auc = champion.metrics.get("baseline_logistic_regression_roc_auc")
auc = champion.metrics.get("val_roc_auc")
scores[0].metric(
    "Validation ROC AUC",
    ui.number(auc, 4),
    delta=None
    if auc is None or baseline_auc is None
    else f"{auc - baseline_auc:+.4f} vs logistic regression",
)
scores[1].metric("PR AUC", ui.number(champion.metrics.get("val_pr_auc"), 4))
scores[2].metric("Brier score", ui.number(champion.metrics.get("val_brier"), 4), delta_color="inverse")
scores[3].metric("F1 at the threshold", ui.number(champion.metrics.get("val_f1"), 4))

try:
    artifacts = registry.run_artifacts(uri, champion.run_id) if champion.run_id else None
except registry.ModelUnavailable as exc:
    st.warning(f"The champion's run artifacts cannot be read: `{exc.detail}`")
    artifacts = None
report = (artifacts.report if artifacts else None) or {}
window = report.get("validation_window", {})

left, right = st.columns(2)
with left:
    st.markdown("**Validation metrics** (the last months of arrivals, never seen in training)")
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
        + (f" ({window['train_rows']:,} rows)" if "train_rows" in window else ""),
        "validation window": f"{champion.validation_start or '?'} – {champion.tags.get('validation_end', '?')}"
        + (f" ({window['validation_rows']:,} rows)" if "validation_rows" in window else ""),
        "cancellation rate (validation)": ui.percent(champion.metrics.get("val_cancellation_rate")),
        "trees": champion.params.get("n_trees", "–"),
        "transformation": champion.params.get("transformation", "–"),
        "data version (md5)": champion.tags.get("data_version", "–"),
        "git commit": champion.tags.get("git_commit", "–"),
        "registered at": when(champion.registered_at),
        "decision": champion.tags.get("alias_decision", "–"),
    }
    st.dataframe(
        pd.DataFrame({"": list(facts), "value": [str(v) for v in facts.values()]}),
        hide_index=True,
        column_config={"value": st.column_config.TextColumn(width="large")},
    )

st.subheader("Evaluation plots")
if artifacts and artifacts.figures:
    names = [n for n in registry.FIGURES if n in artifacts.figures]
    for row in range(0, len(names), 3):
        for column, name in zip(st.columns(3), names[row : row + 3], strict=False):
            column.image(artifacts.figures[name], caption=registry.FIGURES[name], width="stretch")
else:
    st.info("This run logged no figures (the evaluate stage writes them under `figures/`).")

st.subheader("Registered versions")
st.caption(f"{CHAMPION} serves predictions; {CHALLENGER} lost the last comparison on the same window.")
st.dataframe(
    versions_table(reg),
    hide_index=True,
    column_config={
        **{registry.METRICS[k]: st.column_config.NumberColumn(format="%.4f") for k in COMPARED},
        "threshold": st.column_config.NumberColumn(format="%.3f"),
    },
)

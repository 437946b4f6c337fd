"""Entry point of the dashboards: ``./cli.sh dashboard`` runs ``streamlit run streamlit_apps/app.py``.

Five pages over the platform's read-only database role, its MLflow registry and its prediction
API. Page files live in ``pages/``; ``st.navigation`` (not the folder name) declares them.
"""

from __future__ import annotations

import streamlit as st

from data_engineering.src.messages import masked_uri
from streamlit_apps.lib import config, registry

st.set_page_config(page_title="Hotel cancellations", page_icon=":material/hotel:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/bookings.py", title="Bookings", icon=":material/bar_chart:", default=True),
        st.Page("pages/model.py", title="Model", icon=":material/model_training:"),
        st.Page("pages/forecast.py", title="Forecast", icon=":material/event_available:"),
        st.Page("pages/monitoring.py", title="Monitoring", icon=":material/monitoring:"),
        st.Page("pages/what_if.py", title="What-if", icon=":material/tune:"),
    ]
)
with st.sidebar:
    st.caption(
        f"Database: `{config.database_label()}`  \n"
        f"MLflow: `{masked_uri(registry.current_tracking_uri())}`  \n"
        f"API: `{config.api_url()}`"
    )
try:
    navigation.run()
finally:
    # Model and Monitoring need mlflow (~1.3 s to import): import it in the background once the
    # first page is drawn (not during, where it would compete for the interpreter), even when a
    # page stopped early on a message.
    registry.warm_up()

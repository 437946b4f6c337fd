"""Every project path, resolved from the repository root (never from the current directory).

Commands run from any folder (cron, Airflow, a user's shell in a sub-folder) must read and write
the same files, so nothing here depends on ``os.getcwd()``.
"""

from __future__ import annotations

from pathlib import Path

from data_engineering.src import settings as _settings
from data_engineering.src.settings import WorkspaceSettings

# Defined with the settings (they resolve relative paths from it); every path below starts here.
REPO_ROOT: Path = _settings.REPO_ROOT

# Where generated state lives (data, reports, models, the embedded databases). The repo root,
# unless HOTEL_WORKSPACE points elsewhere: tests use that to run the real commands in isolation.
WORKSPACE = WorkspaceSettings().workspace

PARAMS_FILE = REPO_ROOT / "params.yaml"
DATA_DIR = WORKSPACE / "data"
RAW_DIR = DATA_DIR / "raw"
RAW_FILE = RAW_DIR / "hotel_bookings.csv"
# The vocabulary the raw file is validated with (HOTEL_VOCABULARY's, else the default), as of the
# last ingest: DVC cannot see an environment variable, it sees this copy change.
RAW_VOCABULARY = RAW_DIR / "vocabulary.yaml"
REJECTED_DIR = DATA_DIR / "rejected"
REJECTED_FILE = REJECTED_DIR / "hotel_bookings_rejected.csv"
PROCESSED_DIR = DATA_DIR / "processed"
REPORTS_DIR = WORKSPACE / "reports"
VALIDATION_REPORT = REPORTS_DIR / "data_validation.json"
METRICS_FILE = REPORTS_DIR / "metrics.json"
BACKTEST_FILE = REPORTS_DIR / "backtest.json"
BASELINES_FILE = REPORTS_DIR / "baselines.json"
PLOTS_DIR = REPORTS_DIR / "plots"
FIGURES_DIR = REPORTS_DIR / "figures"
DVC_LOCK = REPO_ROOT / "dvc.lock"
MODELS_DIR = WORKSPACE / "models"
MODEL_DIR = MODELS_DIR / "model"
OOF_FILE = MODELS_DIR / "oof_predictions.csv"  # row-level predictions: DVC-tracked, never in git
BASELINES_OOF_FILE = MODELS_DIR / "baselines_oof.csv"
SQLITE_DEFAULT = WORKSPACE / _settings.EMBEDDED_DATABASE
MLFLOW_DB_DEFAULT = WORKSPACE / "mlflow.db"
MLFLOW_ARTIFACTS_DEFAULT = WORKSPACE / "mlartifacts"
# A copy of the full public file beside the checkout (the machine's shared data): the tests and
# benchmarks that want real bookings use it when it is there, so they need no download.
SHARED_BOOKINGS = REPO_ROOT.parent / "shared" / "data" / "hotel_bookings.csv.gz"
# Where fault-suite cases record their figures (the fault_case fixture of conftest.py, unless
# HOTEL_FAULT_RESULTS says otherwise); README's "Reliability" table is generated from them.
FAULT_RESULTS_DIR = REPO_ROOT / ".local" / "faults"


def processed_file(version: str) -> Path:
    """CSV destination of one transformation version."""
    return PROCESSED_DIR / f"bookings_{version}.csv"


def display_path(path: Path) -> str:
    """A path as users should read it: relative to the workspace when inside it."""
    return str(path.relative_to(WORKSPACE)) if path.is_relative_to(WORKSPACE) else str(path)

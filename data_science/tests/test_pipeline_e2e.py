"""The main job end to end: ``./cli.sh dvc-init-pipeline`` on a small generated dataset.

Runs in a copy of the repository (so the real dvc.yaml, params.yaml and code are exercised
without touching this checkout's data, models or MLflow store).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from data_engineering.src.synthetic import write_bookings

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(repo_copy: Path, repo_cli):
    def run(source: Path, *args: str):
        return repo_cli(repo_copy, *args, env={"HOTEL_BOOKINGS_SOURCE": str(source)})

    return run


def test_dvc_init_pipeline_end_to_end(repo_copy: Path, cli, repo_cli, tmp_path: Path) -> None:
    source = write_bookings(tmp_path / "bookings.csv.gz", 4000, seed=21)
    first = cli(source, "dvc-init-pipeline")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # Not a terminal (as under CI, Airflow or `| tee`): progress comes as lines, no bar redrawn with \r.
    assert "\r" not in first.stdout + first.stderr
    # The two heads of the as-of model, each backtested on its own question, and a baseline.
    for stage in ("backtest at booking", "backtest on the books", "baselines: plain_xgboost"):
        assert f"{stage}: done, 4 of 4 folds (100%)" in first.stdout + first.stderr
    for stage in ("ingest", "transform", "train", "baselines", "evaluate"):
        assert f"Running stage '{stage}'" in first.stdout
    for fold in range(1, 5):  # progress per fold
        assert f"backtest at booking: fold {fold}/4" in first.stdout
        assert f"backtest on the books: fold {fold}/4" in first.stdout
    assert "registered hotel-cancellation version 1 as champion" in first.stdout
    assert re.search(
        r"on later windows \(backtest, 4 folds .*\):\n  at booking: +ROC AUC 0\.\d{4} \(windows 0\.\d{4}-0\.\d{4}\)",
        first.stdout,
    )
    assert re.search(r"\n  on the books: ROC AUC 0\.\d{4} .* WAPE \d\.\d{3}", first.stdout)
    assert re.search(r"\nbefore outcomes: the ROC AUC estimated .* off by 0\.\d{4} at booking", first.stdout)
    assert "champion:   version 1, the newest model" in first.stdout
    figures = (
        "backtest",
        "confusion_matrix",
        "roc_curve",
        "feature_importance",
        "calibration",
        "precision_recall",
    )
    for figure in figures:
        assert (repo_copy / "reports" / "figures" / f"{figure}.png").stat().st_size > 10_000
    shown = subprocess.run(
        [str(repo_copy / ".venv" / "bin" / "dvc"), "metrics", "show", "--json"],
        cwd=repo_copy,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"roc_auc_mean"' in shown.stdout  # dvc metrics show has the headline

    again = cli(source, "dvc-init-pipeline")
    assert again.returncode == 0, again.stderr
    for stage in ("transform", "train", "baselines", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in again.stdout
    assert "unchanged, kept" in again.stdout
    # The register step again, on the same model: nothing new in the registry, champion kept.
    assert "register: hotel-cancellation version 1 is this model already" in again.stdout
    assert "champion:   version 1, the newest model" in again.stdout

    # The recency half-life is a training choice: it reruns train and evaluate, not the rest.
    params = yaml.safe_load((repo_copy / "params.yaml").read_text())
    params["train"]["half_life_days"] = 0
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    tuned = cli(source, "dvc-init-pipeline")
    assert tuned.returncode == 0, tuned.stderr
    for stage in ("transform", "baselines"):
        assert f"Stage '{stage}' didn't change, skipping" in tuned.stdout
    assert "Running stage 'train'" in tuned.stdout
    assert "Running stage 'evaluate'" in tuned.stdout
    assert "registered hotel-cancellation version 2" in tuned.stdout
    # The gate compared the two pipelines on the same folds, and said so.
    assert "backtest on the same folds" in tuned.stdout

    # Another, empty registry while every stage is up to date: DVC skips every stage (their
    # outputs are in the cache) and the register step, which is not a stage, registers the model there.
    fresh = {"HOTEL_BOOKINGS_SOURCE": str(source), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'new.db'}"}
    moved = repo_cli(repo_copy, "dvc-init-pipeline", env=fresh)
    assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
    for stage in ("transform", "train", "baselines", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in moved.stdout
    assert "registered hotel-cancellation version 1 as champion" in moved.stdout
    assert "champion:   version 1, the newest model" in moved.stdout
    assert "has no hotel-cancellation@champion" not in moved.stderr


def test_missing_source_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli(tmp_path / "nowhere.csv", "dvc-init-pipeline")
    assert result.returncode == 1
    assert "does not exist (from HOTEL_BOOKINGS_SOURCE)" in result.stderr + result.stdout

"""A damaged model is refused before XGBoost reads it, and never becomes champion.

XGBoost crashes the process (SIGSEGV) on a booster file cut short: these tests cut one and check
that every path that loads a model says why instead, and that registration refuses to move an
alias to a version that cannot be loaded back as a server loads it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from data_engineering.src.files.writing import read_processed
from data_engineering.src.paths import REPO_ROOT, WORKSPACE, processed_file
from data_science import integrity, register
from data_science.load_check import PromotionRefusedError, check
from data_science.model import CancellationModel
from data_science.model_bundle import BOOSTER_FILE, ModelBundleError
from data_science.model_signature import input_example
from data_science.tracking import CHAMPION, MODEL_NAME

CRASH = "import sys, xgboost; xgboost.Booster().load_model(sys.argv[1])"


@pytest.fixture
def saved(trained_workspace, tmp_path: Path) -> Path:
    """A copy of the trained model, saved by CancellationModel.save (its booster's checksum beside it)."""
    CancellationModel.load(trained_workspace.root / "models" / "model").save(tmp_path / "model")
    return tmp_path / "model"


def _cut(booster: Path, size: int = 1000) -> None:
    booster.write_bytes(booster.read_bytes()[:size])


def test_a_cut_booster_fails_in_xgboost_itself(saved: Path) -> None:
    """What the checks protect from: XGBoost reading the file used below fails inside its C++ code —
    with a signal (SIGSEGV, the whole process gone) or with an XGBoostError, depending on where the
    cut falls in the booster (this model's gives the error; the issue's, a segfault). So the checks
    run before XGBoost ever reads a file, or in a child process, never trusting it to fail cleanly."""
    _cut(saved / BOOSTER_FILE)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH, str(saved / BOOSTER_FILE)], check=False, capture_output=True, text=True
    )
    assert crashed.returncode < 0 or (crashed.returncode == 1 and "XGBoostError" in crashed.stderr), crashed


def test_save_records_the_boosters_checksum_in_sha256sum_format(saved: Path) -> None:
    recorded = integrity.checksum_file(saved / BOOSTER_FILE).read_text()
    assert recorded == f"{integrity.sha256(saved / BOOSTER_FILE)}  {BOOSTER_FILE}\n"
    verified = subprocess.run(["sha256sum", "-c", f"{BOOSTER_FILE}.sha256"], cwd=saved, check=False)
    assert verified.returncode == 0


def test_a_damaged_booster_is_refused_by_its_checksum(saved: Path) -> None:
    _cut(saved / BOOSTER_FILE)
    with pytest.raises(ModelBundleError, match=r"booster\.ubj is damaged \(1,000 bytes"):
        CancellationModel.load(saved)


def test_a_damaged_booster_without_a_checksum_is_refused_after_a_child_process_crashed(saved: Path) -> None:
    """A model saved before checksums existed: loaded in a child first, whose crash is the reason."""
    _cut(saved / BOOSTER_FILE)
    integrity.checksum_file(saved / BOOSTER_FILE).unlink()
    with pytest.raises(ModelBundleError, match=r"booster\.ubj crashed XGBoost \(SIGSEGV\)"):
        CancellationModel.load(saved)


def test_a_good_booster_without_a_checksum_still_loads(saved: Path) -> None:
    integrity.checksum_file(saved / BOOSTER_FILE).unlink()
    assert CancellationModel.load(saved).feature_names


def test_the_load_check_passes_the_champion_and_scores_its_example(trained_workspace, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_workspace.tracking_uri)
    result = check(f"models:/{MODEL_NAME}@{CHAMPION}")
    assert result.passed, result.reason
    assert result.rows == 5  # model_signature.input_example's bookings


def test_the_gate_never_promotes_a_version_that_cannot_be_loaded(
    trained_workspace, saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration and the gate as evaluate runs them, with a bundle that uploads fine and cannot
    be loaded back: no alias moves, the run is failed and its tags say why."""
    store = tmp_path / "mlflow.db"
    shutil.copy(trained_workspace.root / "mlflow.db", store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    root = trained_workspace.root
    model = CancellationModel.load(saved)
    _cut(saved / BOOSTER_FILE)
    monkeypatch.setattr(register, "MODEL_DIR", saved)  # what log_and_register uploads
    for name in ("FIGURES_DIR", "PLOTS_DIR", "METRICS_FILE"):
        monkeypatch.setattr(register, name, root / getattr(register, name).relative_to(WORKSPACE))
    report = json.loads((root / "reports" / "metrics.json").read_text())
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    version = params["transform"]["version"]
    frame = read_processed(version, root / processed_file(version).relative_to(WORKSPACE))
    oof = pd.read_csv(root / "models" / "oof_predictions.csv", parse_dates=["arrival_date", "booking_date"])
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}", registry_uri=f"sqlite:///{store}")
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version

    with pytest.raises(PromotionRefusedError, match="cannot be loaded back") as refused:
        register.log_and_register(
            model,
            report,
            params,
            example=input_example(frame),
            frame=frame,
            oof=oof,
            commit="test",
            fingerprint="test",
        )

    newest = max(client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version))
    assert int(newest.version) > int(champion)  # it was registered...
    assert newest.aliases == []  # ...and no alias moved to it
    assert client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version == champion
    assert newest.run_id is not None
    run = client.get_run(newest.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["load_check"].startswith("failed")
    assert "booster.ubj is damaged (1,000 bytes" in run.data.tags["load_check"]
    assert run.data.tags["alias_decision"].startswith(f"none (version {newest.version} cannot be served")
    assert f"version {newest.version}" in str(refused.value)

"""The quick start leaves a clean tree: a fresh clone that reruns the pipeline on the same data
reproduces every committed file (dvc.lock, the reports, the figures) byte for byte.

One checkout runs ``./cli.sh dvc-init-pipeline`` on generated bookings and commits what git
tracks, as a maintainer does. A ``git clone`` of it in another folder runs the same command on
the same data with numpy's widest SIMD kernels switched off (the code path of another CPU: their
``exp`` differs in the last bit), and ``git status --porcelain`` must then be empty. The outputs
DVC keeps out of git (model, out-of-fold predictions) must be identical too, since their hashes
are in ``dvc.lock``.
"""

from __future__ import annotations

import filecmp
import importlib
import subprocess
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.synthetic import write_bookings

pytestmark = pytest.mark.slow


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def other_cpu_kernels() -> str:
    """NPY_DISABLE_CPU_FEATURES that moves numpy to a narrower SIMD path than this CPU's best."""
    # numpy's own record of the kernels it dispatches to, and which this CPU supports (what
    # numpy.show_runtime prints).
    umath = importlib.import_module("numpy._core._multiarray_umath")
    available = [target for target in umath.__cpu_dispatch__ if umath.__cpu_features__.get(target)]
    return " ".join(available[1:] or available)


def ignore_environments(repo: Path) -> None:
    # The copies link the checkout's environments; links are not the folders .gitignore names.
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("/.venv\n/.venv-airflow\n")


def test_a_fresh_clone_reproduces_the_committed_outputs(tmp_path: Path, checkout_copy, repo_cli) -> None:
    source = write_bookings(tmp_path / "bookings.csv.gz", 4000, seed=21)
    first = checkout_copy(tmp_path / "maintainer" / "hotel")
    ignore_environments(first)
    ran = repo_cli(first, "dvc-init-pipeline", env={"HOTEL_BOOKINGS_SOURCE": str(source)})
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    git(first, "add", "-A")
    git(first, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "pipeline outputs")
    committed = git(first, "ls-files").split()
    assert "dvc.lock" in committed
    assert "reports/metrics.json" in committed
    assert "reports/figures/backtest.png" in committed

    clone = tmp_path / "user" / "hotel"
    git(tmp_path, "clone", "-q", str(first), str(clone))
    for venv in (".venv", ".venv-airflow"):
        if (REPO_ROOT / venv).exists():
            (clone / venv).symlink_to(REPO_ROOT / venv)
    ignore_environments(clone)
    env = {"HOTEL_BOOKINGS_SOURCE": str(source), "NPY_DISABLE_CPU_FEATURES": other_cpu_kernels()}
    again = repo_cli(clone, "dvc-init-pipeline", env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Running stage 'train'" in again.stdout  # nothing came from a cache: all recomputed

    assert git(clone, "status", "--porcelain") == ""
    assert "git add dvc.lock" not in again.stdout + again.stderr
    for output in ("models/model", "models/oof_predictions.csv", "models/baselines_oof.csv"):
        left, right = first / output, clone / output
        if left.is_dir():  # every file, the at-booking head's folder included
            names = sorted(str(p.relative_to(left)) for p in left.rglob("*") if p.is_file())
            assert names == sorted(str(p.relative_to(right)) for p in right.rglob("*") if p.is_file())
            same, mismatch, errors = filecmp.cmpfiles(left, right, names, shallow=False)
            assert (same, mismatch, errors) == (names, [], []), output
        else:
            assert filecmp.cmp(left, right, shallow=False), output

"""The registered model deploys with MLflow's own tooling, outside this repository.

``models:/hotel-cancellation@champion`` is downloaded to a folder outside the checkout, a fresh
virtualenv gets nothing but the model's ``requirements.txt``, and ``mlflow models serve`` from
that virtualenv answers raw bookings with the probabilities ``predict-batch`` writes (<= 1e-6).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port, wait_for_server
from data_engineering.src.schema import BOOKING_FIELDS
from data_engineering.src.synthetic import arrival_dates, booking_dates, make_bookings
from data_science.tracking import MODEL_NAME

pytestmark = pytest.mark.slow


def _uv() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".tools" / "uv" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is needed to build the model's virtualenv (./cli.sh sync installs it)")
    return found


def _wait(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    if wait_for_server(url, process, timeout, interval=0.5):
        return
    if process.poll() is not None:
        pytest.fail(f"mlflow models serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
    pytest.fail(f"mlflow models serve not ready after {timeout:.0f}s:\n{log.read_text()[-4000:]}")


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


def test_mlflow_serves_the_champion_from_a_clean_virtualenv(
    trained_workspace, tmp_path_factory, run_module
) -> None:
    import mlflow

    outside = tmp_path_factory.mktemp("deploy")  # pytest's temp folders are outside the checkout
    assert not outside.resolve().is_relative_to(REPO_ROOT)
    mlflow.set_tracking_uri(trained_workspace.tracking_uri)
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{MODEL_NAME}@champion", dst_path=str(outside / "model")
        )
    )
    requirements = (model_dir / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} >= {"mlflow", "xgboost-cpu", "pandas", "pyarrow"}

    venv = outside / "venv"
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MLFLOW_TRACKING_URI")
    }
    subprocess.run(
        [_uv(), "venv", "--quiet", "-p", sys.executable, str(venv)], check=True, env=env, cwd=outside
    )
    subprocess.run(
        [
            _uv(),
            "pip",
            "install",
            "--quiet",
            "-p",
            str(venv / "bin" / "python"),
            "-r",
            str(model_dir / "requirements.txt"),
        ],
        check=True,
        env=env,
        cwd=outside,
        timeout=900,
    )
    # Nothing of this project is importable there: the model must bring its own code.
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import data_science"],
        cwd=outside,
        env=env,
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0

    port = free_port()
    log = outside / "serve.log"
    serve_env = env | {"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(venv / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "1",
            ],
            cwd=outside,
            env=serve_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/ping", server, log)
        source = outside / "bookings.csv"
        make_bookings(200, seed=31).to_csv(source, index=False)
        # predict-batch, the platform's own batch scoring, on the same file.
        scored_file = outside / "scored.csv"
        result = run_module(
            "data_science.predict_batch", str(source), str(scored_file), env=trained_workspace.env()
        )
        assert result.returncode == 0, result.stderr
        expected = pd.read_csv(scored_file)["cancel_probability"].to_numpy()

        frame = pd.read_csv(source)[list(BOOKING_FIELDS)]  # as pandas reads the file: ids as 9.0
        body = orjson.dumps(
            {"dataframe_split": frame.to_dict(orient="split", index=False)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", body)
        assert status == 200, answer
        served = np.array([p["cancel_probability"] for p in answer["predictions"]], dtype=float)
        assert len(served) == len(expected)
        assert np.max(np.abs(served - expected)) <= 1e-6

        # The other question: each booking judged as of the eve of its arrival (its booking date
        # for one made that day), by the served model and by predict-batch, from an as_of column.
        later = frame.assign(as_of=(arrival_dates(frame.astype(str)) - pd.Timedelta(days=1)).dt.date)
        later.loc[frame["lead_time"] == 0, "as_of"] = booking_dates(frame.astype(str))[
            frame["lead_time"] == 0
        ].dt.date
        later["as_of"] = later["as_of"].astype(str)
        later_file, later_scored = outside / "later.csv", outside / "later_scored.csv"
        later.to_csv(later_file, index=False)
        result = run_module(
            "data_science.predict_batch", str(later_file), str(later_scored), env=trained_workspace.env()
        )
        assert result.returncode == 0, result.stderr
        expected_later = pd.read_csv(later_scored)["cancel_probability"].to_numpy()
        body = orjson.dumps(
            {"dataframe_split": later.to_dict(orient="split", index=False)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", body)
        assert status == 200, answer
        assert [p["as_of"] for p in answer["predictions"]] == later["as_of"].tolist()
        served_later = np.array([p["cancel_probability"] for p in answer["predictions"]], dtype=float)
        assert np.max(np.abs(served_later - expected_later)) <= 1e-6
        assert np.max(np.abs(served_later - served)) > 0.01  # judged later is another answer

        bad = frame.head(2).copy()
        bad.loc[1, "adults"] = -1
        body = orjson.dumps(
            {"dataframe_split": bad.to_dict(orient="split", index=False)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", body)
        assert status >= 400
        assert "adults: must be >= 0" in str(answer)
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)

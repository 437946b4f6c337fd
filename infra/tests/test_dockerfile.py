"""infra/Dockerfile: lint (hadolint) and the service selector.

The runtime image is built and run for real by ``./cli.sh docker-check`` (infra/e2e): its stages,
build context, lock-file installs, user, entrypoint and environment are checked there by behaviour.
Here, without an engine: hadolint, and the selector script (extracted from the Dockerfile) run
against stub servers. What the file merely says (an ENV line, a RUN line) is not restated here.
"""

from __future__ import annotations

import re
import shlex
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "infra" / "Dockerfile"


def selector_script() -> str:
    """The text of /usr/local/bin/hotel, exactly as the Dockerfile's printf writes it."""
    match = re.search(r"RUN printf '%s\\n' \\\n(.*?)\n\s*>/usr/local/bin/hotel", DOCKERFILE.read_text(), re.S)
    assert match, "the Dockerfile must write /usr/local/bin/hotel with printf '%s\\n' 'line' ..."
    lines = []
    for raw in match.group(1).splitlines():
        stripped = raw.strip()
        assert stripped.endswith("\\"), raw
        words = shlex.split(stripped[:-1])
        assert len(words) == 1, f"one quoted script line per Dockerfile line: {raw}"
        lines.append(words[0])
    return "\n".join(lines) + "\n"


def test_hadolint_reports_nothing(commands, venv_tool):
    result = commands.run([venv_tool("hadolint"), "--no-color", DOCKERFILE], timeout=60)
    assert result.returncode == 0, commands.describe(result)


def test_hadolint_ignores_are_justified():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore" in line:
            justification = lines[number - 1].strip()
            assert justification.startswith("#"), f"line {number + 1}: explain the ignore above it"
            assert len(justification) > 30, f"line {number + 1}: explain the ignore above it"


# ------------------------------------------------------------------------------ selector script


@pytest.fixture
def selector(tmp_path: Path, commands):
    """run(*args, env=...) -> CompletedProcess of the selector, with stub python, streamlit,
    mlflow and ./cli.sh that print their arguments instead of serving."""
    script = tmp_path / "hotel"
    script.write_text(selector_script())
    script.chmod(0o755)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name in ("streamlit", "mlflow"):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\n" {name} "$@"\n')
        stub.chmod(0o755)
    # python serves the API and the proxy (printed, not run) and runs the healthcheck (really run).
    python = stubs / "python"
    python.write_text(
        '#!/bin/sh\nif [ "$1" = -m ] && { [ "$2" = api.launcher ] || [ "$2" = api.proxy ]; }; '
        f'then printf "%s\\n" python "$@"; else exec {sys.executable} "$@"; fi\n'
    )
    python.chmod(0o755)
    workdir = tmp_path / "app"
    workdir.mkdir()
    cli = workdir / "cli.sh"
    cli.write_text('#!/bin/sh\nprintf "%s\\n" cli.sh "$@"\n')
    cli.chmod(0o755)
    state = tmp_path / "hotel-service"
    python_dir = Path(sys.executable).parent  # `python` of the probe (stubs shadow the venv's servers)

    def run(*args: str, env: dict[str, str] | None = None):
        path = f"{stubs}:{python_dir}:/usr/bin:/bin"
        return commands.run(
            [script, *args],
            cwd=workdir,
            env={"PATH": path, "HOTEL_SERVICE_FILE": str(state), **(env or {})},
            timeout=30,
        )

    run.state = state
    return run


@pytest.mark.parametrize("key", [None, "", "change-me"])
def test_api_refuses_to_start_without_a_real_admin_key(selector, key):
    result = selector("api", env={} if key is None else {"API_ADMIN_KEY": key})
    assert result.returncode == 64
    assert "API_ADMIN_KEY" in result.stderr
    assert "api.launcher" not in result.stdout


def test_api_serves_the_fastapi_app_on_8000(selector):
    result = selector("api", env={"API_ADMIN_KEY": "k" * 32})
    assert result.returncode == 0, result.stderr
    argv = result.stdout.split()
    # api.launcher migrates the prediction log, checks the model, then runs uvicorn's workers.
    assert argv[:3] == ["python", "-m", "api.launcher"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    assert selector.state.read_text() == "api\n"


def test_default_service_is_the_api(selector):
    result = selector(env={"API_ADMIN_KEY": "k" * 32})
    assert result.stdout.split()[:3] == ["python", "-m", "api.launcher"]


def test_proxy_runs_the_platforms_front_door_with_its_arguments(selector):
    result = selector("proxy", "--servers", "api-1:8000,api-2:8000", "--internal-port", "8000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "python",
        "-m",
        "api.proxy",
        "--servers",
        "api-1:8000,api-2:8000",
        "--internal-port",
        "8000",
    ]
    assert selector.state.read_text() == "proxy\n"


def test_dashboard_runs_streamlit_on_8501(selector):
    result = selector("dashboard")
    assert result.returncode == 0, result.stderr
    argv = result.stdout.split()
    assert argv[:3] == ["streamlit", "run", "streamlit_apps/app.py"]
    assert argv[argv.index("--server.port") + 1] == "8501"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert selector.state.read_text() == "dashboard\n"


def test_mlflow_needs_a_backend_store(selector):
    result = selector("mlflow")
    assert result.returncode != 0
    assert "MLFLOW_BACKEND_STORE_URI" in result.stderr


def test_mlflow_serves_artifacts_with_host_validation(selector):
    uri = "postgresql+psycopg://user:change-me@postgres:5432/mlflow"
    result = selector(
        "mlflow", env={"MLFLOW_BACKEND_STORE_URI": uri, "MLFLOW_ALLOWED_HOSTS": "mlflow,mlflow:*"}
    )
    assert result.returncode == 0, result.stderr
    argv = result.stdout.split()
    assert argv[:2] == ["mlflow", "server"]
    assert argv[argv.index("--backend-store-uri") + 1] == uri
    assert argv[argv.index("--artifacts-destination") + 1] == "/var/lib/mlflow/artifacts"
    assert "--serve-artifacts" in argv
    assert argv[argv.index("--port") + 1] == "5000"
    assert argv[argv.index("--allowed-hosts") + 1] == "mlflow,mlflow:*"


def test_pipeline_runs_the_dvc_pipeline_through_the_cli(selector):
    result = selector("pipeline")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cli.sh", "dvc-init-pipeline"]


def test_other_commands_run_as_given(selector):
    result = selector("echo", "hello", "world")
    assert result.stdout == "hello world\n"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_healthcheck_follows_the_http_status(selector, health_server):
    assert selector("healthcheck", f"{health_server}/health").returncode == 0
    assert selector("healthcheck", f"{health_server}/broken").returncode != 0


def test_healthcheck_fails_when_nothing_listens(selector):
    # Port 9 (discard) has no HTTP server: a refused connection must fail the probe.
    result = selector("healthcheck", "http://127.0.0.1:9/health")
    assert result.returncode != 0


def test_healthcheck_of_a_one_shot_job_passes(selector):
    selector.state.write_text("pipeline\n")
    assert selector("healthcheck").returncode == 0

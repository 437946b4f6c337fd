"""The platform's front door (``api/proxy.py``): TLS with a certificate made here, the operators'
password before the dashboard, MLflow and Airflow, the API's own key before ``/predict``.

The local stack is real processes on loopback: ``serve-cluster`` (HAProxy and an API replica),
an MLflow server under ``/mlflow``, the Streamlit dashboards under ``/dashboard`` and Airflow's
api-server under ``/airflow``. Each is asked through ``curl https://...``, with and without
credentials, as an operator or a booking engine would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.haproxy_config import Listener, render
from api.proxy import ProxySettings, validate
from api.tests.servers import haproxy_or_skip, start_cluster, stop_server
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_port, wait_until
from data_engineering.src.settings import SettingsError

KEY = "booking-engine-key-0123456789"
OPERATOR, PASSWORD = "ops", "operators-password-0123"  # pragma: allowlist secret
AIRFLOW = REPO_ROOT / ".venv-airflow" / "bin" / "airflow"


@dataclass(frozen=True)
class Certificate:
    cert: Path  # what clients trust
    pem: Path  # what the proxy serves: the certificate and its key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, made now (as an operator would)."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    pem = folder / "proxy.pem"
    pem.write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
    pem.chmod(0o600)
    return Certificate(folder / "cert.pem", pem)


def test_every_shape_of_the_configuration_loads_in_haproxy(certificate, tmp_path) -> None:
    haproxy = haproxy_or_skip()
    shapes = {
        "plain": render(Listener("127.0.0.1", 8000), ["127.0.0.1:8001", "127.0.0.1:8002"]),
        "stack": render(
            Listener("0.0.0.0", 8443, certificate.pem),
            ["api-1:8000", "api-2:8000"],
            routes={
                "dashboard": "dashboard:8501",
                "mlflow": "mlflow:5000",
                "airflow": "airflow-apiserver:8080",
            },
            authenticate=True,
            internal=Listener("0.0.0.0", 8000),
        ),
    }
    env = {"HOTEL_PROXY_USER": OPERATOR, "HOTEL_PROXY_PASSWORD": PASSWORD}
    for name, text in shapes.items():
        config = tmp_path / f"{name}.cfg"
        config.write_text(text)
        assert validate(haproxy, config, env) is None, f"{name}:\n{text}"
    assert PASSWORD not in shapes["stack"]  # read from the environment by HAProxy, never written


def test_routed_services_need_the_operators_password(settings_env, monkeypatch) -> None:
    monkeypatch.setenv("PROXY_MLFLOW_URL", "http://127.0.0.1:5000")
    with pytest.raises(
        SettingsError, match=r"^PROXY_PASSWORD is not set: PROXY_MLFLOW_URL must not be served"
    ):
        ProxySettings().checked()
    monkeypatch.setenv("PROXY_PASSWORD", "change-me")
    with pytest.raises(SettingsError, match=r"^PROXY_PASSWORD holds a placeholder secret"):
        ProxySettings()
    monkeypatch.setenv("PROXY_DASHBOARD_URL", "https://dashboard:8501/")
    with pytest.raises(SettingsError, match=r"PROXY_DASHBOARD_URL: Value error, expected http://HOST:PORT"):
        ProxySettings()


def test_serve_cluster_names_a_missing_certificate(tmp_path) -> None:
    haproxy_or_skip()
    missing = tmp_path / "nowhere.pem"
    cluster = start_cluster(free_port(), {"PROXY_TLS_CERT": str(missing), "API_REQUIRE_KEY": "false"})
    output, _ = cluster.communicate(timeout=60)
    assert cluster.returncode == 1
    assert output.strip().splitlines() == [f"serve-cluster: error: PROXY_TLS_CERT={missing} is not a file"]


# ---------------------------------------------------------------------------- the local stack


@dataclass
class Servers:
    """Processes of the stack, each logging to a file of ``root``, stopped in reverse order."""

    root: Path
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], health: str) -> subprocess.Popen[str]:
        """Start ``argv`` and wait until ``health`` answers 200 (failing with its log otherwise)."""
        log = self.root / f"{name}.log"
        with log.open("w") as handle:
            server = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env={**os.environ, **env},
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.started.append(server)

        def up() -> bool:
            assert server.poll() is None, f"{name} exited:\n{log.read_text()[-3000:]}"
            try:
                return httpx.get(health, timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(up, 180, interval=0.5), f"{name} not up:\n{log.read_text()[-3000:]}"
        return server

    def stop(self) -> None:
        for server in reversed(self.started):
            stop_server(server)


@dataclass(frozen=True)
class Stack:
    url: str  # https://127.0.0.1:PORT, the proxy
    certificate: Certificate

    def curl(self, path: str, *args: str) -> tuple[int, str]:
        """``curl`` through the proxy, trusting only the test's certificate: (status, body), or
        (0, curl's complaint) when no HTTP answer came."""
        options = ["--silent", "--show-error", "--max-time", "30", "--write-out", "\n%{http_code}"]
        result = subprocess.run(
            ["curl", *options, "--cacert", str(self.certificate.cert), *args, f"{self.url}{path}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            return 0, result.stderr
        body, _, status = result.stdout.rpartition("\n")
        return int(status), body


@pytest.fixture(scope="module")
def stack(served_workspace, certificate, tmp_path_factory) -> Iterator[Stack]:
    haproxy_or_skip()
    if not AIRFLOW.exists():
        message = "no .venv-airflow: run ./cli.sh sync --airflow"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("front-door")
    port = {name: free_port() for name in ("proxy", "mlflow", "dashboard", "airflow")}
    local = {name: f"http://127.0.0.1:{number}" for name, number in port.items()}
    public = f"https://127.0.0.1:{port['proxy']}"
    bin_dir = Path(sys.executable).parent
    tracking = {"MLFLOW_TRACKING_URI": served_workspace.tracking_uri}
    servers = Servers(root)
    try:
        mlflow = [str(bin_dir / "mlflow"), "server", "--backend-store-uri", served_workspace.tracking_uri]
        mlflow += f"--static-prefix /mlflow --host 127.0.0.1 --port {port['mlflow']} --workers 1".split()
        servers.start(
            "mlflow", mlflow, {"PATH": f"{bin_dir}:{os.environ['PATH']}"}, f"{local['mlflow']}/mlflow/health"
        )

        dashboard = [str(bin_dir / "streamlit"), "run", "streamlit_apps/app.py"]
        dashboard += (
            f"--server.headless true --server.address 127.0.0.1 --server.port {port['dashboard']}".split()
        )
        dashboard += ["--server.baseUrlPath", "dashboard", "--browser.gatherUsageStats", "false"]
        readonly = {"DATABASE_URL_READONLY": f"sqlite:///{root / 'empty.sqlite'}"}
        servers.start(
            "dashboard", dashboard, tracking | readonly, f"{local['dashboard']}/dashboard/_stcore/health"
        )

        airflow_env = {
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            # Served under /airflow as the proxy routes it; its tasks would use the private address.
            "AIRFLOW__API__BASE_URL": f"{public}/airflow",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{local['airflow']}/airflow/execution/",
            "PATH": f"{AIRFLOW.parent}:{os.environ['PATH']}",
        }
        migrate = subprocess.run(
            [str(AIRFLOW), "db", "migrate"],
            env={**os.environ, **airflow_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        airflow = [str(AIRFLOW), *f"api-server --host 127.0.0.1 --port {port['airflow']} --workers 1".split()]
        servers.start("airflow", airflow, airflow_env, f"{local['airflow']}/airflow/api/v2/monitor/health")

        proxy_env = {
            "PROXY_TLS_CERT": str(certificate.pem),
            "PROXY_USER": OPERATOR,
            "PROXY_PASSWORD": PASSWORD,
            **{f"PROXY_{name.upper()}_URL": local[name] for name in ("dashboard", "mlflow", "airflow")},
        }
        log_env = {"DATABASE_URL": f"sqlite:///{root / 'log.sqlite'}", "API_KEYS": KEY}
        cluster = start_cluster(port["proxy"], tracking | log_env | proxy_env, "--replicas", "1")
        servers.started.append(cluster)
        stack = Stack(public, certificate)
        assert wait_until(
            lambda: cluster.poll() is None and stack.curl("/health")[0] == 200, 120, interval=0.5
        )
        yield stack
    finally:
        servers.stop()


def test_the_api_through_the_proxy_needs_its_key(stack, booking) -> None:
    body = ["--header", "content-type: application/json", "--data", json.dumps(booking)]
    status, answer = stack.curl("/predict", *body)
    assert status == 401, answer
    assert json.loads(answer)["detail"] == "missing or unknown API key (header X-API-Key)"
    status, answer = stack.curl("/predict", *body, "--header", f"X-API-Key: {KEY}")
    assert status == 200, answer
    assert 0 <= json.loads(answer)["cancel_probability"] <= 1


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dashboard/", "<title>Streamlit</title>"),
        ("/dashboard/_stcore/health", "ok"),
        (
            "/mlflow/api/2.0/mlflow/registered-models/alias?name=hotel-cancellation&alias=champion",
            '"version": "1"',
        ),
        ("/mlflow/", "<title>MLflow</title>"),
        ("/airflow/api/v2/monitor/health", '"metadatabase"'),
        ("/metrics", "hotel_api_requests_total"),
    ],
)
def test_operators_pages_need_the_password(stack, path: str, expected: str) -> None:
    status, body = stack.curl(path)
    assert status == 401, body
    status, body = stack.curl(path, "--user", f"{OPERATOR}:{PASSWORD[:-1]}")
    assert status == 401, body
    status, body = stack.curl(path, "--user", f"{OPERATOR}:{PASSWORD}")
    assert status == 200, body[:500]
    assert expected in body, body[:500]


def test_airflow_still_checks_its_own_tokens_behind_the_proxy(stack) -> None:
    # Airflow's UI sends its JWT as a bearer token on every call: the proxy lets it through and
    # Airflow decides, so a made-up token is refused by Airflow itself.
    status, body = stack.curl("/airflow/api/v2/dags", "--header", "Authorization: Bearer made-up")
    assert status in (401, 403), body


def test_plain_http_is_not_served(stack) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(stack.url.replace("https://", "http://") + "/health", timeout=5)

"""The deployment for real: the image built on a Debian-made base, the compose stack up with host
networking, the pipeline trained in a container, predictions served and logged.

Run by ``./cli.sh docker-check`` (which provides the engine, the Compose plugin and the base
images, and passes them in HOTEL_DOCKER, DOCKER_HOST, DOCKER_CONFIG, HOTEL_PYTHON_IMAGE and
HOTEL_POSTGRES_IMAGE), not by ``./cli.sh test``: a cold run builds images for minutes.

One compose project per run (infra/docker-compose.yml + infra/ci/docker-compose.ci.yml): postgres
(the Debian stand-in), db-bootstrap, mlflow, then the pipeline service once on generated bookings,
then the two API replicas, the dashboard and the proxy, which serves them all over HTTPS with a
certificate made here. ``down --volumes`` removes every container, volume and network it made;
the built image stays as the next run's cache.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_ports
from data_engineering.src.synthetic import make_bookings, write_bookings

COMPOSE_FILES = (
    REPO_ROOT / "infra" / "docker-compose.yml",
    REPO_ROOT / "infra" / "ci" / "docker-compose.ci.yml",
)
IMAGE, TAG = "hotel-cancellation", "e2e"
CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
MODEL = "hotel-cancellation"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        message = f"{name} is not set: run these tests through ./cli.sh docker-check"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return value


def _run(
    argv: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run(
        argv, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout, check=False
    )
    print(f"[{time.monotonic() - started:6.1f}s] {' '.join(argv[:6])} ... -> {result.returncode}")
    assert result.returncode == 0, f"$ {' '.join(argv)}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture(scope="module")
def docker() -> str:
    return _required("HOTEL_DOCKER")


@pytest.fixture(scope="module")
def image(docker: str) -> str:
    """infra/Dockerfile's runtime target on the Debian-made base; the CA bundle as a build secret."""
    argv = [
        docker,
        "build",
        "--network",
        "host",
        "--progress",
        "plain",
        "-f",
        str(REPO_ROOT / "infra" / "Dockerfile"),
    ]
    argv += ["--target", "runtime", "--build-arg", f"PYTHON_IMAGE={_required('HOTEL_PYTHON_IMAGE')}"]
    if CA_BUNDLE.is_file():
        argv += ["--secret", f"id=ca-certificates,src={CA_BUNDLE}"]
    _run([*argv, "-t", f"{IMAGE}:{TAG}", str(REPO_ROOT)], timeout=1500, env={"DOCKER_BUILDKIT": "1"})
    return f"{IMAGE}:{TAG}"


@dataclass
class Stack:
    project: str
    root: Path
    env_file: Path
    values: dict[str, str]
    pipeline_log: str = ""

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        argv = ["docker", "compose", *files, "-p", self.project, "--env-file", str(self.env_file), *args]
        return _run(argv, timeout=timeout)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.values[f'CI_{service.upper()}_PORT']}{path}"

    def https(self, path: str, **kwargs) -> httpx.Response:
        """GET (or POST, with ``json=``) through the proxy, trusting only the stack's certificate."""
        url = f"https://127.0.0.1:{self.values['CI_HTTPS_PORT']}{path}"
        method = "POST" if "json" in kwargs else "GET"
        trusted = ssl.create_default_context(cafile=self.root / "tls" / "cert.pem")
        return httpx.request(method, url, verify=trusted, timeout=30, **kwargs)

    @property
    def operator(self) -> tuple[str, str]:
        return (self.values["PROXY_USER"], self.values["PROXY_PASSWORD"])

    @property
    def key(self) -> dict[str, str]:
        return {"X-API-Key": self.values["API_KEYS"]}

    def in_dashboard(self, code: str) -> str:
        """Python run inside the dashboard container, with its environment (the read-only role)."""
        return self.compose("exec", "-T", "dashboard", "python", "-c", code, timeout=120).stdout


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    bookings = root / "bookings"
    write_bookings(bookings / "bookings.csv", 3000, seed=5)
    # The containers run as uid 10001: the mounted folder must be readable by it.
    bookings.chmod(0o755)
    (bookings / "bookings.csv").chmod(0o644)
    names = ("POSTGRES", "MLFLOW", "API", "API_2", "DASHBOARD", "PROXY", "HTTPS", "AIRFLOW")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    values = {
        "PROXY_TLS_CERT_FILE": str(_certificate(root / "tls")),
        "PROXY_USER": "operator",
        "HOTEL_IMAGE": IMAGE,
        "HOTEL_IMAGE_TAG": TAG,
        "POSTGRES_IMAGE": _required("HOTEL_POSTGRES_IMAGE"),
        "CI_BOOKINGS_DIR": str(bookings),
        **{f"CI_{name}_PORT": str(port) for name, port in ports.items()},
        **{
            name: secrets.token_urlsafe(24)
            for name in (
                "POSTGRES_SUPERUSER_PASSWORD",
                "POSTGRES_APP_PASSWORD",
                "POSTGRES_READONLY_PASSWORD",
                "API_ADMIN_KEY",
                "API_KEYS",
                "DASHBOARD_API_KEY",
                "PROXY_PASSWORD",
            )
        },
        "API_WORKERS": "1",
    }
    env_file = root / "stack.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    stack = Stack(f"hotel-e2e-{secrets.token_hex(3)}", root, env_file, values)
    try:
        stack.compose("up", "--detach", "--wait", "--no-build", "postgres", "db-bootstrap", "mlflow")
        stack.pipeline_log = stack.compose("run", "--rm", "pipeline", timeout=1200).stdout
        stack.compose("up", "--detach", "--wait", "--no-build", "api-1", "api-2", "dashboard", "proxy")
        yield stack
    finally:
        logs = subprocess.run(
            ["docker", "compose", *[a for p in COMPOSE_FILES for a in ("-f", str(p))], "-p", stack.project,
             "--env-file", str(env_file), "logs", "--no-color", "--tail", "40"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        print(logs.stdout[-8000:])
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)


def _certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (cert.pem) and the proxy's PEM of it and its key,
    readable by the containers' user (uid 10001) only, as an operator would install it."""
    folder.mkdir(parents=True)
    _run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
        timeout=60,
    )  # fmt: skip
    pem = folder / "proxy.pem"
    pem.write_bytes((folder / "cert.pem").read_bytes() + (folder / "key.pem").read_bytes())
    os.chown(pem, 10001, 10001)
    pem.chmod(0o600)
    folder.chmod(0o755)
    return pem


@pytest.fixture(scope="module")
def booking() -> dict:
    from api.tests.helpers import json_bookings

    return json_bookings(make_bookings(50, seed=77))[0]


def test_the_pipeline_container_registered_a_champion(stack: Stack) -> None:
    assert "champion:   version 1, the newest model" in stack.pipeline_log, stack.pipeline_log[-3000:]
    answer = httpx.get(
        stack.url("mlflow", "/mlflow/api/2.0/mlflow/registered-models/alias"),
        params={"name": MODEL, "alias": "champion"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"]["version"] == "1"


def test_the_api_replicas_predict_through_the_proxy_and_log_to_the_stack_postgres(
    stack: Stack, booking: dict
) -> None:
    count = 6
    for _ in range(count):
        answer = stack.https("/predict", json=booking, headers=stack.key)
        assert answer.status_code == 200, answer.text
        assert 0.0 <= answer.json()["cancel_probability"] <= 1.0
    # The dashboard container reads the log with its own settings: the read-only role.
    probe = """
import json, os, time
import sqlalchemy as sa
engine = sa.create_engine(os.environ["DATABASE_URL_READONLY"])
deadline = time.monotonic() + 30
with engine.connect() as conn:
    while True:
        rows = conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar_one()
        if rows >= COUNT or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    user = conn.exec_driver_sql("SELECT current_user").scalar_one()
    try:
        conn.exec_driver_sql("DELETE FROM predictions")
        writable = True
    except sa.exc.DBAPIError as exc:
        if "read-only transaction" not in str(exc):
            raise
        writable = False
print(json.dumps({"rows": rows, "user": user, "writable": writable}))
""".replace("COUNT", str(count))
    seen = json.loads(stack.in_dashboard(probe).strip().splitlines()[-1])
    assert seen == {"rows": count, "user": "hotel_readonly", "writable": False}


def test_the_proxy_asks_for_credentials_before_every_service(stack: Stack, booking: dict) -> None:
    wrong_key = {"X-API-Key": "not-a-key-0123456789"}  # pragma: allowlist secret
    assert stack.https("/predict", json=booking).status_code == 401
    assert stack.https("/predict", json=booking, headers=wrong_key).status_code == 401
    alias = "/mlflow/api/2.0/mlflow/registered-models/alias?name=hotel-cancellation&alias=champion"
    for path in ("/dashboard/", "/dashboard/_stcore/health", alias, "/metrics"):
        assert stack.https(path).status_code == 401, path
        assert stack.https(path, auth=(stack.operator[0], "wrong-password")).status_code == 401, path
        assert stack.https(path, auth=stack.operator).status_code == 200, path
    assert stack.https(alias, auth=stack.operator).json()["model_version"]["version"] == "1"
    page = stack.https("/dashboard/", auth=stack.operator)
    assert "<title>Streamlit</title>" in page.text
    with pytest.raises(httpx.TransportError):  # HTTPS only
        httpx.get(f"http://127.0.0.1:{stack.values['CI_HTTPS_PORT']}/health", timeout=10)


def test_the_dashboard_calls_the_api_through_the_proxy_with_its_key(stack: Stack, booking: dict) -> None:
    # The What-if page's own client, in the dashboard container, with its settings (API_URL: the
    # proxy's private listener; API_KEY: the dashboard's key).
    probe = f"import json; from streamlit_apps.lib.api import predict; print(predict(json.loads({json.dumps(booking)!r})).model_version)"
    assert stack.in_dashboard(probe).strip().splitlines()[-1] == "1"


def test_a_replica_that_dies_is_restarted_and_no_request_fails(stack: Stack, booking: dict) -> None:
    # The uvicorn process of api-1 killed outright: its container exits, Docker restarts it, and
    # meanwhile the proxy sends everything to api-2 (a request it held is resent there).
    container = stack.compose("ps", "--quiet", "api-1").stdout.strip()

    def state() -> dict:
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{json .State}}", container],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return json.loads(inspected.stdout)

    started = state()["StartedAt"]
    # (Not this probe itself, whose own command line names api.launcher too.)
    kill = "import os, signal; [os.kill(int(p), signal.SIGKILL) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid() and b'-mapi.launcher' in open(f'/proc/{p}/cmdline', 'rb').read().replace(b'\\0', b'')]"
    stack.compose("exec", "-T", "api-1", "python", "-c", kill, timeout=60)
    statuses, deadline, back = [], time.monotonic() + 180, False
    while time.monotonic() < deadline and not back:
        statuses.append(stack.https("/predict", json=booking, headers=stack.key).status_code)
        now = state()
        back = now["StartedAt"] != started and now.get("Health", {}).get("Status") == "healthy"
    assert back, f"api-1 did not come back healthy: {state()}"
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}


def test_every_container_runs_unprivileged_on_the_host_network(stack: Stack) -> None:
    listed = stack.compose("ps", "--format", "json").stdout
    services = [json.loads(line) for line in listed.splitlines() if line.strip()]
    assert {s["Service"] for s in services} == {"postgres", "mlflow", "api-1", "api-2", "dashboard", "proxy"}
    for service in ("mlflow", "api-1", "api-2", "dashboard", "proxy"):
        uid = stack.compose("exec", "-T", service, "id", "-u").stdout.strip()
        assert uid == "10001", service

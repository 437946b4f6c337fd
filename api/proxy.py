"""The platform's front door: one HAProxy that balances the API replicas and, in front of the
dashboard, MLflow and Airflow, terminates TLS and asks for the operators' password.

``api.haproxy_config.render`` writes its configuration; ``./cli.sh serve-cluster`` (``api.cluster``) runs it beside
the replicas it supervises, and the compose stack's ``proxy`` service (``python -m api.proxy``)
in front of the replica containers. One configuration, so the local cluster, the compose stack
and the EC2 host behave alike:

- ``/dashboard/``, ``/mlflow/`` and ``/airflow/`` go to those services (each configured to serve
  under its prefix), behind HTTP basic authentication (``PROXY_USER``/``PROXY_PASSWORD``);
  Airflow's own bearer tokens pass too, since its UI sends one on every call and Airflow checks
  it. ``/metrics`` needs the operators' password as well. The password header goes no further.
- everything else goes to the API replicas, which check ``/predict``'s key themselves
  (``API_KEYS``): round robin, health checks on ``/health`` every 0.5 s, and a request that finds
  a replica dead (refused, closed without an answer, timed out) retried on another one.
  ``/predict`` may be resent: it changes nothing but the log, where each answer has its own id.

The password is never written to disk: the configuration names environment variables, which
HAProxy reads at start (``"${HOTEL_PROXY_PASSWORD}"``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from api.haproxy_config import PASSWORD_VARIABLE, USER_VARIABLE, Listener, render
from data_engineering.src.arguments import port
from data_engineering.src.environment import child_environment
from data_engineering.src.settings import HotelSettings, SettingsError, repo_path

INSTALL_HINT = "haproxy is not installed: install it with `apt-get install haproxy` (Debian/Ubuntu)"


class ProxySettings(HotelSettings):
    model_config = SettingsConfigDict(env_prefix="PROXY_")

    tls_cert: Path | None = Field(
        None,
        validation_alias="PROXY_TLS_CERT",
        description="PEM file with the certificate (chain) and its private key: the proxy then speaks "
        "HTTPS only; a relative path is taken from the repository root",
        json_schema_extra={"default_shown": "unset: plain HTTP"},
    )
    user: str = Field("operator", validation_alias="PROXY_USER", description="the operators' user name")
    password: SecretStr | None = Field(
        None,
        validation_alias="PROXY_PASSWORD",
        description="the operators' password (HTTP basic authentication) for the dashboard, MLflow, "
        "Airflow and `/metrics` through the proxy; required as soon as one of them is routed",
        json_schema_extra={"default_shown": "unset"},
    )
    dashboard_url: str | None = Field(
        None,
        validation_alias="PROXY_DASHBOARD_URL",
        description="the dashboards, served under `/dashboard/` (Streamlit's `server.baseUrlPath` "
        "`dashboard`), e.g. `http://127.0.0.1:8501`",
        json_schema_extra={"default_shown": "not routed"},
    )
    mlflow_url: str | None = Field(
        None,
        validation_alias="PROXY_MLFLOW_URL",
        description="the MLflow server, served under `/mlflow/` (`mlflow server --static-prefix "
        "/mlflow`), e.g. `http://127.0.0.1:5000`",
        json_schema_extra={"default_shown": "not routed"},
    )
    airflow_url: str | None = Field(
        None,
        validation_alias="PROXY_AIRFLOW_URL",
        description="Airflow's api-server, served under `/airflow/` (`AIRFLOW__API__BASE_URL` ending "
        "in `/airflow`), e.g. `http://127.0.0.1:8080`",
        json_schema_extra={"default_shown": "not routed"},
    )

    @field_validator("tls_cert")
    @classmethod
    def _from_repo_root(cls, value: Path | None) -> Path | None:
        return None if value is None else repo_path(value)

    @field_validator("dashboard_url", "mlflow_url", "airflow_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            address(value)  # raises ValueError: the settings error names the variable
        return value

    def routes(self) -> dict[str, str]:
        """Prefix -> upstream address (host:port) of the services routed through the proxy."""
        urls = {"dashboard": self.dashboard_url, "mlflow": self.mlflow_url, "airflow": self.airflow_url}
        return {name: address(url) for name, url in urls.items() if url}

    def checked(self) -> ProxySettings:
        """These settings, or SettingsError naming what is missing: no service goes out without
        the operators' password, and the certificate must be a readable file."""
        if self.routes() and (self.password is None or not self.password.get_secret_value()):
            routed = ", ".join(f"PROXY_{name.upper()}_URL" for name in self.routes())
            raise SettingsError(f"PROXY_PASSWORD is not set: {routed} must not be served without one")
        if self.tls_cert is not None and not self.tls_cert.is_file():
            raise SettingsError(f"PROXY_TLS_CERT={self.tls_cert} is not a file")
        return self

    def environment(self) -> dict[str, str]:
        """The variables HAProxy's configuration reads (the operators' credentials)."""
        if self.password is None:
            return {}
        return {USER_VARIABLE: self.user, PASSWORD_VARIABLE: self.password.get_secret_value()}


def address(url: str) -> str:
    """``host:port`` of an ``http://host:port`` upstream URL (ValueError for anything else)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"expected http://HOST:PORT, got {url!r}")
    return f"{parts.hostname}:{parts.port or 80}"


def find_haproxy() -> str | None:
    return shutil.which("haproxy")


def validate(haproxy: str, config: Path, env: Mapping[str, str]) -> str | None:
    """``haproxy -c``: None when the configuration (certificate included) loads, else its alerts."""
    result = subprocess.run(
        [haproxy, "-c", "-q", "-f", str(config)],
        env=child_environment(**env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode == 0:
        return None
    alerts = [line for line in (result.stdout + result.stderr).splitlines() if "ALERT" in line]
    return "; ".join(alerts[:3]) or f"haproxy -c exited {result.returncode}"


def write_config(text: str) -> Path:
    """The configuration in a private folder (it names no secret, but says where the key is)."""
    folder = Path(tempfile.mkdtemp(prefix="hotel-proxy-"))
    path = folder / "haproxy.cfg"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> int:
    """The compose stack's ``proxy`` service: HAProxy alone, in front of replicas that run
    elsewhere (containers that restart on their own)."""
    parser = argparse.ArgumentParser(prog="python -m api.proxy", description=main.__doc__)
    parser.add_argument("--servers", required=True, help="the API replicas, HOST:PORT,HOST:PORT...")
    parser.add_argument("--host", default="0.0.0.0", help="interface of both listeners (default 0.0.0.0)")  # noqa: S104 - a container's private network
    parser.add_argument("--port", type=port, default=8443, help="the public listener (default 8443)")
    parser.add_argument(
        "--internal-port", type=port, help="a plain-HTTP listener to the API alone, for the private network"
    )
    ns = parser.parse_args(argv)
    haproxy = find_haproxy()
    if haproxy is None:
        print(f"proxy: error: {INSTALL_HINT}", file=sys.stderr)
        return 1
    try:
        settings = ProxySettings().checked()
        servers = [address(f"http://{server.strip()}") for server in ns.servers.split(",") if server.strip()]
    except (SettingsError, ValueError) as exc:
        print(f"proxy: error: {exc}", file=sys.stderr)
        return 1
    if not servers:
        print("proxy: error: --servers names no replica", file=sys.stderr)
        return 2
    internal = Listener(ns.host, ns.internal_port) if ns.internal_port else None
    text = render(
        Listener(ns.host, ns.port, settings.tls_cert),
        servers,
        routes=settings.routes(),
        authenticate=settings.password is not None,
        internal=internal,
    )
    config = write_config(text)
    env = settings.environment()
    problem = validate(haproxy, config, env)
    if problem:
        print(f"proxy: error: {problem}", file=sys.stderr)
        return 1
    print(
        f"proxy: {len(servers)} API replica(s), routes: {', '.join(settings.routes()) or 'none'}",
        file=sys.stderr,
    )
    return _become(haproxy, config, env)


def _become(haproxy: str, config: Path, env: Mapping[str, str]) -> NoReturn:
    # HAProxy replaces this process: the container's init forwards signals to it directly.
    os.execve(haproxy, [haproxy, "-db", "-f", str(config)], child_environment(**env))  # noqa: S606 - fixed argv


if __name__ == "__main__":
    sys.exit(main())

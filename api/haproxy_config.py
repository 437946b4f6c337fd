"""HAProxy's configuration for the platform's front door (``api.proxy``): one text for the local
cluster, the compose stack and the EC2 host. It names environment variables for the operators'
login, which HAProxy reads at start: the password never reaches a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Variables the configuration reads at start; the password itself never reaches a file.
USER_VARIABLE = "HOTEL_PROXY_USER"
PASSWORD_VARIABLE = "HOTEL_PROXY_PASSWORD"  # noqa: S105 - the name of a variable, not its value  # pragma: allowlist secret
REALM = "hotel-platform"
HEALTH_PATH = "/health"


@dataclass(frozen=True)
class Listener:
    """Where the proxy listens: ``host:port``, with TLS when ``cert`` is a PEM file."""

    host: str
    port: int
    cert: Path | None = None

    def bind(self) -> str:
        tls = f" ssl crt {self.cert} alpn h2,http/1.1" if self.cert else ""
        return f"bind {self.host}:{self.port}{tls}"


def _server_options(target: str) -> str:
    # A name is looked up again while running: a restarted container may get a new address.
    # Unresolvable at start (a profile not started), the server is simply down, not an error.
    named = not target.split(":", maxsplit=1)[0].replace(".", "").isdigit()
    return " resolvers system init-addr last,libc,none" if named else ""


def render(
    public: Listener,
    api_servers: Sequence[str],
    *,
    routes: Mapping[str, str] | None = None,
    authenticate: bool = False,
    internal: Listener | None = None,
) -> str:
    """HAProxy's configuration: ``public`` fronts the API replicas (``host:port`` each) and the
    ``routes`` (prefix name -> ``host:port``); ``internal`` is a plain-HTTP listener to the API
    alone, for callers inside a private network (the dashboards in the compose stack)."""
    routes = dict(routes or {})
    if routes and not authenticate:
        raise ValueError("routed services need the operators' password")
    named = any(_server_options(target) for target in [*api_servers, *routes.values()])
    lines = [
        "# Written by api/haproxy_config.py at start; edit that, not this.",
        "global",
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "    hard-stop-after 30s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout tunnel 1h",  # the dashboards' websockets
        # A refused connection is tried again, on another server where there is one.
        "    retries 3",
        "    option redispatch 1",
        "",
    ]
    if named:
        lines += ["resolvers system", "    parse-resolv-conf", "    hold valid 10s", ""]
    if authenticate:
        lines += [
            "userlist operators",
            f'    user "${{{USER_VARIABLE}}}" insecure-password "${{{PASSWORD_VARIABLE}}}"',
            "",
        ]
    # One line per request that went wrong or was resent (a normal one is not logged); server
    # state changes HAProxy prints itself.
    logging = ["    log stderr format raw local0 info", "    option httplog", "    option dontlog-normal"]
    lines += ["frontend public", f"    {public.bind()}", *logging, "    option forwardfor"]
    if public.cert:
        lines += [
            "    http-request set-header X-Forwarded-Proto https",
            '    http-response set-header Strict-Transport-Security "max-age=31536000"',
        ]
    if authenticate:
        lines += [
            "    acl operator http_auth(operators)",
            '    acl bearer req.hdr(authorization) -m beg "Bearer "',
            "    acl metrics path /metrics",
            f"    http-request auth realm {REALM} if metrics !operator",
        ]
    for name in routes:
        # Two lines of one name are OR-ed: the prefix itself, and everything below it.
        lines += [f"    acl to_{name} path /{name}", f"    acl to_{name} path_beg /{name}/"]
        # Airflow's UI and REST clients carry Airflow's own token, which Airflow itself checks.
        bearer = " !bearer" if name == "airflow" else ""
        lines.append(f"    http-request auth realm {REALM} if to_{name} !operator{bearer}")
    if authenticate:
        lines.append("    http-request del-header authorization if operator")
    lines += [f"    use_backend {name} if to_{name}" for name in routes]
    lines += ["    default_backend api", ""]
    if internal is not None:
        lines += ["frontend internal", f"    {internal.bind()}", *logging, "    default_backend api", ""]
    lines += [
        "backend api",
        "    balance roundrobin",
        # A replica that refuses, closes without answering or does not answer in time: the
        # request goes to another one. The API's requests only (/predict may be resent; MLflow's
        # or Airflow's writes may not). The whole body is held before the request leaves: only
        # a request HAProxy holds complete can be resent (a body still arriving turns retries off).
        "    retry-on conn-failure empty-response response-timeout",
        "    option http-buffer-request",
        f"    option httpchk GET {HEALTH_PATH}",
        "    http-check expect status 200",
        "    default-server check inter 500ms fall 2 rise 2",
    ]
    lines += [
        f"    server api{i} {target}{_server_options(target)}" for i, target in enumerate(api_servers, 1)
    ]
    for name, target in routes.items():
        lines += [
            "",
            f"backend {name}",
            f"    server {name} {target} check inter 2s{_server_options(target)}",
        ]
    return "\n".join(lines) + "\n"

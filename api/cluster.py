"""``./cli.sh serve-cluster [--replicas N] [--port P]``: N API processes behind HAProxy, supervised.

Each replica is the ``serve-api`` server (one uvicorn worker) on a loopback port of its own; it
loads the champion and follows the alias by itself, as any server does. HAProxy (``api.proxy``)
listens on ``--host``:``--port``, checks every replica's ``/health`` twice a second and sends a
request that finds a replica dead to another one. This process starts them all, restarts a
replica that exits (at once, then backing off up to 30 s while it keeps failing within seconds
of its start), and stops everything on SIGTERM or Ctrl-C: HAProxy stops listening first, then
the replicas finish what they hold and flush their prediction log.

Before anything starts, once: HAProxy must be installed (one line says how otherwise), the
API keys and the proxy's settings are checked, the log's table migrated and the
tracking store opened (a new one is created here, not by the replicas together). A replica that
cannot start the first time (no model, say) ends the command, with its own message.
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from api.haproxy_config import Listener, render
from api.proxy import INSTALL_HINT, ProxySettings, find_haproxy, validate, write_config
from api.settings import HOST_DEFAULT, PORT_DEFAULT
from data_engineering.src.arguments import port, positive_int
from data_engineering.src.environment import child_environment
from data_engineering.src.messages import first_line
from data_engineering.src.paths import REPO_ROOT
from data_engineering.src.ports import free_ports
from data_engineering.src.settings import SettingsError

PROG = "serve-cluster"
MAX_REPLICAS = 32
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 10.0  # a replica that ran this long before exiting is restarted at once
STOP_SECONDS = 30.0
PR_SET_PDEATHSIG = 1
# Looked up here, once: the child only calls it (no dynamic loading between fork and exec).
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this supervisor is killed outright (SIGKILL),
    # the kernel stops its children too, so no replica or HAProxy outlives it holding a port.
    # Safe here: this process starts children from its main thread and runs no other thread.
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Its own process group: Ctrl-C reaches this supervisor only, which stops them in order.
    return subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        process_group=0,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - no other thread runs here
    )


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Replica:
    index: int
    port: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # when a replica that exited is started again
    backoff: float = 0.0
    restarts: int = 0

    def start(self) -> None:
        argv = [sys.executable, "-m", "api.launcher", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = _spawn(argv)
        self.started_at = time.monotonic()
        self.restart_at = None
        say(f"replica {self.index} started (pid {self.process.pid}, 127.0.0.1:{self.port})")

    def exited(self, now: float) -> None:
        """It stopped by itself: schedule its restart (backing off while it fails fast)."""
        assert self.process is not None
        code = self.process.returncode
        fast = now - self.started_at < STABLE_SECONDS
        self.backoff = min(BACKOFF_MAX_SECONDS, max(1.0, self.backoff * 2)) if fast else 0.0
        self.restart_at = now + self.backoff
        self.restarts += 1
        when = f"in {self.backoff:.0f} s" if self.backoff else "now"
        say(
            f"replica {self.index} (pid {self.process.pid}) stopped: {_exit_reason(code)}; "
            f"restarting it {when} (restart {self.restarts})"
        )


@dataclass
class Cluster:
    haproxy: str
    config: Path
    proxy_env: dict[str, str]
    replicas: list[Replica]
    balancer: subprocess.Popen[bytes] | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stopping.is_set():
            say(f"{signal.Signals(signum).name}: stopping HAProxy, then the replicas")
        self.stopping.set()

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        try:
            for replica in self.replicas:
                replica.start()
            self.balancer = _spawn(
                [self.haproxy, "-db", "-f", str(self.config)], child_environment(**self.proxy_env)
            )
            say(f"HAProxy started (pid {self.balancer.pid})")
            if not self._first_start():
                return 0 if self.stopping.is_set() else 1  # asked to stop while starting: not a failure
            return self._supervise()
        finally:
            self._stop_all()

    def _first_start(self) -> bool:
        """Until every replica answers ``/health``. One that exits first could not start (no
        model, a bad setting: its own message is above): the command fails instead of retrying."""
        import httpx

        waiting = {replica.index: replica for replica in self.replicas}
        started = last_note = time.monotonic()
        while waiting and not self.stopping.wait(0.25):
            if not self._balancer_alive():
                return False
            for index, replica in list(waiting.items()):
                assert replica.process is not None
                if replica.process.poll() is not None:
                    code = _exit_reason(replica.process.returncode)
                    say(f"error: replica {index} could not start ({code}; its reason is above)")
                    return False
                try:
                    answer = httpx.get(f"http://127.0.0.1:{replica.port}/health", timeout=1)
                except httpx.TransportError:
                    continue
                if answer.status_code == 200:
                    version = answer.json().get("model_version")
                    say(f"replica {index} ready (model version {version})")
                    del waiting[index]
            if waiting and time.monotonic() - last_note > 15:
                last_note = time.monotonic()
                pending = ", ".join(map(str, waiting))
                say(
                    f"still waiting for replica(s) {pending} ({last_note - started:.0f} s: loading the model)"
                )
        return not waiting

    def _supervise(self) -> int:
        while not self.stopping.wait(0.2):
            if not self._balancer_alive():
                return 1
            now = time.monotonic()
            for replica in self.replicas:
                assert replica.process is not None
                if replica.restart_at is None and replica.process.poll() is not None:
                    replica.exited(now)
                if replica.restart_at is not None and now >= replica.restart_at:
                    replica.start()
        return 0

    def _balancer_alive(self) -> bool:
        """False, after saying so, once HAProxy has exited (its own alert is above: a port taken...)."""
        assert self.balancer is not None
        if self.balancer.poll() is None:
            return True
        say(f"error: HAProxy stopped ({_exit_reason(self.balancer.returncode)}); stopping the replicas")
        return False

    def _stop_all(self) -> None:
        if self.balancer is not None and self.balancer.poll() is None:
            self.balancer.send_signal(signal.SIGUSR1)  # soft stop: no new connection, finish the rest
        for replica in self.replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.terminate()  # uvicorn's graceful shutdown; the log is flushed
        deadline = time.monotonic() + STOP_SECONDS
        children = [r.process for r in self.replicas if r.process is not None]
        children += [self.balancer] if self.balancer is not None else []
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        shutil.rmtree(self.config.parent, ignore_errors=True)
        say("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./cli.sh serve-cluster", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replicas", type=positive_int, default=2, help=f"API processes (default 2, at most {MAX_REPLICAS})"
    )
    parser.add_argument(
        "--host", default=HOST_DEFAULT, help=f"interface the balancer listens on (default {HOST_DEFAULT})"
    )
    parser.add_argument(
        "--port", type=port, default=PORT_DEFAULT, help=f"the balancer's port (default {PORT_DEFAULT})"
    )
    ns = parser.parse_args(argv)
    if ns.replicas > MAX_REPLICAS:
        parser.error(f"argument --replicas: at most {MAX_REPLICAS}, got {ns.replicas}")

    haproxy = find_haproxy()
    if haproxy is None:
        say(f"error: {INSTALL_HINT}")
        return 1
    try:
        proxy = ProxySettings().checked()
    except SettingsError as exc:
        say(f"error: {exc}")
        return 1
    if proxy.tls_cert is None and ns.host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: plain HTTP on {ns.host}: set PROXY_TLS_CERT to serve HTTPS beyond this machine")

    from api.launcher import prepare

    # The model is not loaded here: the replicas' first start shows whether they can.
    if prepare(PROG, check_model=False) is None:
        return 1
    from data_science.tracking import open_store

    try:
        open_store()  # once, before the replicas open a new store together and race its migrations
    except Exception as exc:  # the replicas then fail, each with its own message
        say(f"warning: could not open the tracking store ({first_line(exc)}); starting the replicas anyway")
    ports = free_ports(ns.replicas)
    config = write_config(
        render(
            Listener(ns.host, ns.port, proxy.tls_cert),
            [f"127.0.0.1:{p}" for p in ports],
            routes=proxy.routes(),
            authenticate=proxy.password is not None,
        )
    )
    problem = validate(haproxy, config, proxy.environment())
    if problem:
        shutil.rmtree(config.parent, ignore_errors=True)
        say(f"error: {problem}")
        return 1
    scheme = "https" if proxy.tls_cert else "http"
    routed = "".join(f", /{name}/ -> {target}" for name, target in proxy.routes().items())
    say(f"{ns.replicas} replica(s) behind {scheme}://{ns.host}:{ns.port}{routed}; Ctrl-C stops them all")
    replicas = [Replica(i, p) for i, p in enumerate(ports, 1)]
    return Cluster(haproxy, config, proxy.environment(), replicas).run()


if __name__ == "__main__":
    sys.exit(main())

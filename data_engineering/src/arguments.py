"""Argument types the commands share (argparse ``type=``): a bad value is argparse's usage error
(exit 2) naming the option and what it accepts, never a traceback."""

from __future__ import annotations

import argparse
import errno
import socket

PORT_MAX = 65535


def port(text: str) -> int:
    """A TCP port to listen on, 1-65535 (``invalid port value`` for what is not a number)."""
    value = int(text)
    if not 0 < value <= PORT_MAX:
        raise argparse.ArgumentTypeError(f"must be 1-{PORT_MAX}, got {value}")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (``invalid positive_int value`` for what is not a whole number)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class PortUnavailableError(OSError):
    """The server could not listen on its address; the message says why and what to do."""


def check_can_listen(host: str, port: int) -> None:
    """Bind ``host:port`` and let it go, as the server is about to (with SO_REUSEADDR, as uvicorn
    sets it): a port another process holds fails here, in one line, instead of after start-up
    work, or, for a server whose launcher ignores its child's exit status (``mlflow server``),
    instead of not at all."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        hint = (
            ": another server is using it; stop it or choose another --port"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise PortUnavailableError(f"cannot listen on {host}:{port} ({reason}){hint}") from None

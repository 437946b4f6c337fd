"""Argument types the commands share (argparse ``type=``): a bad value is argparse's usage error
(exit 2) naming the option and what it accepts, never a traceback."""

from __future__ import annotations

import argparse

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

"""Shared by the examples: the controller from ``USHER_URL``,
``USHER_PRINCIPAL`` and ``USHER_PASSWORD`` (as the CLI reads them), and the
sessions the examples act on, so each example runs by itself."""

from __future__ import annotations

import os
import time

import usher


def url() -> str:
    """``USHER_URL`` (default ``ws://127.0.0.1:8080``)."""
    return os.environ.get("USHER_URL", "ws://127.0.0.1:8080")


def controller() -> usher.Connecting:
    """Connects as ``USHER_PRINCIPAL`` with ``USHER_PASSWORD``."""
    return usher.connect(url(), os.environ.get("USHER_PRINCIPAL"), os.environ.get("USHER_PASSWORD"))


def client_with(key: str, value: str) -> usher.Connecting:
    """An anonymous session with one user property, standing in for an application."""
    return usher.connect(url(), properties={key: value})


def run_tag() -> str:
    """A value unique to this run, so examples sharing a server do not meet."""
    return f"{os.getpid()}-{time.time_ns()}"

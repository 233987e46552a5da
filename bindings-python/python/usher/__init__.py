"""Usher: the Python client of the Usher session server.

Everything is asyncio; errors are :class:`UsherError` subclasses (see
:mod:`usher.errors`), each with the ``.code`` shared by every language.
"""

from __future__ import annotations

from usher._native import SessionId, __version__
from usher._native import version as _native_version
from usher.errors import (
    AccessDenied,
    AuthenticationFailed,
    ClusterRouting,
    ConnectionFailed,
    FilterProblem,
    HandlerConflict,
    InternalError,
    InvalidArgument,
    InvalidFilter,
    LimitExceeded,
    NoSuchSession,
    ProtocolError,
    SessionClosed,
    Timeout,
    UsherError,
)


def version() -> str:
    """The version of the package and its native core, e.g. ``"0.1.0"``."""
    return _native_version()


__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "ClusterRouting",
    "ConnectionFailed",
    "FilterProblem",
    "HandlerConflict",
    "InternalError",
    "InvalidArgument",
    "InvalidFilter",
    "LimitExceeded",
    "NoSuchSession",
    "ProtocolError",
    "SessionClosed",
    "SessionId",
    "Timeout",
    "UsherError",
    "__version__",
    "version",
]

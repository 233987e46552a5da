"""Usher: the Python client of the Usher session server.

Everything is asyncio::

    async with usher.connect(url, principal="control", password=pw) as session:
        n = await session.client_control.close("$Principal is 'guest'")

Errors are :class:`UsherError` subclasses (see :mod:`usher.errors`), each with
the ``.code`` shared by every language. Argument errors come through the
awaitable (as :class:`InvalidArgument`), never as a synchronous raise.
"""

from __future__ import annotations

import atexit
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any

from usher import _native
from usher._native import (
    ClientControl,
    FilterResult,
    QueueEvent,
    QueuePolicy,
    Registration,
    Session,
    SessionEvent,
    SessionId,
    SessionInfo,
    SessionPage,
    Subscription,
    Throttler,
    Topics,
    __version__,
)
from usher._native import version as _native_version
from usher._types import QueueEventHandler, SessionEventListener
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


# Runtime threads must not attach to a finalizing interpreter (see
# src/runtime.rs, `attach_guarded`).
atexit.register(_native._at_exit)


def version() -> str:
    """The version of the package and its native core, e.g. ``"0.1.0"``."""
    return _native_version()


class Connecting:
    """What :func:`connect` returns: ``await`` it for a :class:`Session`, or
    use it as ``async with usher.connect(...) as session:`` (closed at the end)."""

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self._url = url
        self._kwargs = kwargs
        self._session: Session | None = None

    async def _connect(self) -> Session:
        return await _native.connect(self._url, **self._kwargs)

    def __await__(self) -> Generator[Any, None, Session]:
        return self._connect().__await__()

    async def __aenter__(self) -> Session:
        self._session = await self._connect()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()


def connect(
    url: str,
    principal: str | None = None,
    password: str | None = None,
    properties: Mapping[str, str] | None = None,
    *,
    connect_timeout: float | None = None,
    request_timeout: float | None = None,
    listener_buffer: int | None = None,
    listener_stall_timeout: float | None = None,
) -> Connecting:
    """Connects to ``url`` (``ws://host:port``) and authenticates.

    ``principal``/``password`` authenticate (``None``: anonymous);
    ``properties`` are the user properties proposed to the server. Timeouts
    are in seconds (defaults 10 s). ``listener_buffer`` is the number of
    events buffered per listener or subscription before the socket reader
    waits (default 1,024), for up to ``listener_stall_timeout`` seconds
    (default 10 s) before that listener fails with ``LimitExceeded``.

    Fails with :class:`AuthenticationFailed`, :class:`ConnectionFailed`,
    :class:`Timeout`, or :class:`LimitExceeded` / :class:`InvalidArgument`
    for refused properties.
    """
    kwargs: dict[str, Any] = {
        "principal": principal,
        "password": password,
        "properties": properties,
        "connect_timeout": connect_timeout,
        "request_timeout": request_timeout,
        "listener_buffer": listener_buffer,
        "listener_stall_timeout": listener_stall_timeout,
    }
    return Connecting(url, kwargs)


__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "ClientControl",
    "ClusterRouting",
    "Connecting",
    "ConnectionFailed",
    "FilterProblem",
    "FilterResult",
    "HandlerConflict",
    "InternalError",
    "InvalidArgument",
    "InvalidFilter",
    "LimitExceeded",
    "NoSuchSession",
    "ProtocolError",
    "QueueEvent",
    "QueueEventHandler",
    "QueuePolicy",
    "Registration",
    "Session",
    "SessionClosed",
    "SessionEvent",
    "SessionEventListener",
    "SessionId",
    "SessionInfo",
    "SessionPage",
    "Subscription",
    "Throttler",
    "Timeout",
    "Topics",
    "UsherError",
    "__version__",
    "connect",
    "version",
]

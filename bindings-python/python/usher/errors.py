"""The exceptions of Usher: one class per error code of the specification.

Every error raised by this package is an :class:`UsherError`; its subclass
says which kind it is and ``.code`` is the exact upper-snake code shared by
every language (``"ACCESS_DENIED"``, ...). Catch the subclass and read the
structured attributes; do not parse ``str(err)``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, NamedTuple


class FilterProblem(NamedTuple):
    """One problem in a filter: 1-based line and column, and what is wrong."""

    line: int
    column: int
    message: str


class UsherError(Exception):
    """Base class of every Usher error."""

    code: ClassVar[str] = ""
    """The exact upper-snake error code, e.g. ``"ACCESS_DENIED"``."""

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class AccessDenied(UsherError):
    """The caller lacks a permission; :attr:`permission` names it."""

    code = "ACCESS_DENIED"

    @property
    def permission(self) -> str | None:
        """The missing permission, e.g. ``"MODIFY_SESSION"``."""
        value = self.details.get("permission")
        return value if isinstance(value, str) else None


class AuthenticationFailed(UsherError):
    """Wrong principal or password, or anonymous sessions are denied."""

    code = "AUTHENTICATION_FAILED"


class InvalidFilter(UsherError):
    """The filter does not parse; :attr:`problems` lists every problem."""

    code = "INVALID_FILTER"

    @property
    def problems(self) -> list[FilterProblem]:
        """Every problem found, in order."""
        return [FilterProblem(*p) for p in self.details.get("problems", [])]


class NoSuchSession(UsherError):
    """No session with that id (or its server is not a cluster member)."""

    code = "NO_SUCH_SESSION"


class InvalidArgument(UsherError):
    """An argument is wrong; :attr:`argument` names it when known."""

    code = "INVALID_ARGUMENT"

    @property
    def argument(self) -> str | None:
        """The argument or key at fault."""
        value = self.details.get("argument")
        return value if isinstance(value, str) else None


class LimitExceeded(UsherError):
    """A bound was hit; :attr:`limit` names it."""

    code = "LIMIT_EXCEEDED"

    @property
    def limit(self) -> str | None:
        """The limit's name, e.g. ``"max_targets"``."""
        value = self.details.get("limit")
        return value if isinstance(value, str) else None


class HandlerConflict(UsherError):
    """A queue handler is already registered on this session."""

    code = "HANDLER_CONFLICT"


class SessionClosed(UsherError):
    """The session is closed; pending and later requests fail with this."""

    code = "SESSION_CLOSED"


class ConnectionFailed(UsherError):
    """The connection could not be made or was lost (code ``CONNECTION``)."""

    code = "CONNECTION"


class Timeout(UsherError):
    """No answer in time."""

    code = "TIMEOUT"


class ClusterRouting(UsherError):
    """A cluster member did not answer; :attr:`result` is the partial result."""

    code = "CLUSTER_ROUTING"

    @property
    def result(self) -> dict[str, Any] | None:
        """The partial result (``total``, ``unreachable``, ...)."""
        value = self.details.get("result")
        return value if isinstance(value, dict) else None


class ProtocolError(UsherError):
    """The peer broke the protocol (code ``PROTOCOL``)."""

    code = "PROTOCOL"


class InternalError(UsherError):
    """A bug or an unexpected failure on the server (code ``INTERNAL``)."""

    code = "INTERNAL"


# The native module looks classes up here by code; one entry per code.
_BY_CODE: dict[str, type[UsherError]] = {
    cls.code: cls
    for cls in (
        AccessDenied,
        AuthenticationFailed,
        InvalidFilter,
        NoSuchSession,
        InvalidArgument,
        LimitExceeded,
        HandlerConflict,
        SessionClosed,
        ConnectionFailed,
        Timeout,
        ClusterRouting,
        ProtocolError,
        InternalError,
    )
}

__all__ = [
    "FilterProblem",
    "UsherError",
    "AccessDenied",
    "AuthenticationFailed",
    "InvalidFilter",
    "NoSuchSession",
    "InvalidArgument",
    "LimitExceeded",
    "HandlerConflict",
    "SessionClosed",
    "ConnectionFailed",
    "Timeout",
    "ClusterRouting",
    "ProtocolError",
    "InternalError",
]

"""Type stubs of the native module ``usher._native`` (built from Rust)."""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, final, overload

from usher._types import QueueEventHandler, SessionEventListener

__version__: str

def version() -> str: ...
def error_codes() -> list[str]: ...
@final
class SessionId:
    """A session id: server part and value; text form ``%016x-%016x``."""

    def __new__(cls, server: int, value: int) -> SessionId: ...
    @staticmethod
    def parse(text: str) -> SessionId:
        """Parses the text form; raises :class:`usher.InvalidArgument` otherwise."""
    @property
    def server(self) -> int: ...
    @property
    def value(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __lt__(self, other: SessionId) -> bool: ...
    def __le__(self, other: SessionId) -> bool: ...
    def __gt__(self, other: SessionId) -> bool: ...
    def __ge__(self, other: SessionId) -> bool: ...
    def __hash__(self) -> int: ...

Target = SessionId | str
"""A session id, or a str: an id's text form or a filter (SPEC §2.1)."""

CloseReason = Literal[
    "CONNECTION_LOST",
    "CLOSED_BY_CLIENT",
    "CLOSED_BY_CONTROLLER",
    "MESSAGE_QUEUE_LIMIT_REACHED",
    "AUTHENTICATION_FAILED",
    "PROTOCOL_ERROR",
    "MESSAGE_TOO_LARGE",
    "SERVER_SHUTDOWN",
    "IDLE_TIMEOUT",
    "SERVER_LOST",
]

@final
class FilterResult:
    """The full result of an operation on a target."""

    @property
    def total(self) -> int:
        """Sessions matched and acted on (1 by id), unchanged ones included."""
    @property
    def per_server(self) -> dict[str, int]: ...
    @property
    def unreachable(self) -> list[str]:
        """Servers that did not answer (cluster only)."""
    @property
    def denied(self) -> int:
        """Sessions skipped by the dominance rule."""
    @property
    def rejected(self) -> int:
        """Sessions refused for a limit (set_session_properties)."""
    @property
    def changed(self) -> dict[str, str | None] | None:
        """set_session_properties by id: each changed key and its old value."""

@final
class Throttler:
    """How writes to a session's socket are paced."""

    @staticmethod
    def unthrottled() -> Throttler: ...
    @staticmethod
    def messages_per_second(n: int) -> Throttler: ...
    @staticmethod
    def bytes_per_second(n: int) -> Throttler: ...
    @property
    def kind(self) -> Literal["UNTHROTTLED", "MESSAGES_PER_SECOND", "BYTES_PER_SECOND"]: ...
    @property
    def rate(self) -> int | None: ...
    def __hash__(self) -> int: ...

@final
class QueuePolicy:
    """A session's outbound queue policy."""

    @property
    def conflated(self) -> bool: ...
    @property
    def throttler(self) -> Throttler: ...
    @property
    def max_depth(self) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def upper_threshold(self) -> int:
        """Percent of ``max_depth``."""
    @property
    def lower_threshold(self) -> int:
        """Percent of ``max_depth``."""
    @property
    def upper_depth(self) -> int:
        """The depth that fires "upper crossed"."""
    @property
    def lower_depth(self) -> int:
        """The depth that fires "lower crossed"."""
    def __hash__(self) -> int: ...

@final
class SessionEvent:
    """A session event: ``STATE`` (``ACTIVE``/``CLOSED``) or ``PROPERTIES``."""

    @property
    def kind(self) -> Literal["STATE", "PROPERTIES"]: ...
    @property
    def session_id(self) -> SessionId: ...
    @property
    def state(self) -> Literal["ACTIVE", "CLOSED"] | None:
        """``STATE`` events: the state; ``None`` for ``PROPERTIES``."""
    @property
    def reason(self) -> CloseReason | None:
        """``CLOSED``: why."""
    @property
    def properties(self) -> dict[str, str]:
        """``STATE``: the requested properties (last values for ``CLOSED``)."""
    @property
    def changed(self) -> dict[str, tuple[str | None, str | None]]:
        """``PROPERTIES``: each changed key, ``(old, new)``; ``None`` is absent."""
    @property
    def matches(self) -> bool:
        """Whether the session matches the filter now (``True`` for ``STATE``)."""

@final
class QueueEvent:
    """A queue event, as a callable queue handler receives it."""

    @property
    def kind(self) -> Literal["UPPER_THRESHOLD_CROSSED", "LOWER_THRESHOLD_CROSSED", "POLICY_CHANGED"]: ...
    @property
    def session_id(self) -> SessionId: ...
    @property
    def policy(self) -> QueuePolicy: ...

@final
class SessionInfo:
    """One session of a ``fetch_sessions`` page."""

    @property
    def id(self) -> SessionId: ...
    @property
    def properties(self) -> dict[str, str]: ...

@final
class SessionPage:
    """A page of ``fetch_sessions``, ordered by (``$StartTime``, ``$SessionId``)."""

    @property
    def sessions(self) -> list[SessionInfo]: ...
    @property
    def total(self) -> int: ...
    @property
    def has_more(self) -> bool: ...
    @property
    def next_cursor(self) -> str | None: ...
    @property
    def unreachable(self) -> list[str]: ...

@final
class Registration:
    """A listener registration or callback subscription."""

    def close(self) -> Awaitable[None]:
        """Ends it; resolves once the listener's ``on_close`` has run."""
    @property
    def is_closed(self) -> bool: ...
    def __aenter__(self) -> Awaitable[Registration]: ...
    def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Awaitable[None]: ...

@final
class ClientControl:
    """Client control on a session: ``session.client_control``."""

    def max_targets(self, max_targets: int) -> ClientControl: ...
    def close(self, sessions: Target, *, max_targets: int | None = None) -> Awaitable[int]: ...
    def close_detailed(self, sessions: Target, *, max_targets: int | None = None) -> Awaitable[FilterResult]: ...
    def change_roles(
        self,
        sessions: Target,
        roles_to_remove: Iterable[str],
        roles_to_add: Iterable[str],
        *,
        max_targets: int | None = None,
    ) -> Awaitable[int]: ...
    def change_roles_detailed(
        self,
        sessions: Target,
        roles_to_remove: Iterable[str],
        roles_to_add: Iterable[str],
        *,
        max_targets: int | None = None,
    ) -> Awaitable[FilterResult]: ...
    def get_session_properties(self, session_id: SessionId | str, keys: Iterable[str]) -> Awaitable[dict[str, str]]: ...
    def set_session_properties(
        self, sessions: Target, props: Mapping[str, str | None], *, max_targets: int | None = None
    ) -> Awaitable[int]: ...
    def set_session_properties_detailed(
        self, sessions: Target, props: Mapping[str, str | None], *, max_targets: int | None = None
    ) -> Awaitable[FilterResult]: ...
    def set_conflated(self, sessions: Target, conflated: bool, *, max_targets: int | None = None) -> Awaitable[int]: ...
    def set_conflated_detailed(
        self, sessions: Target, conflated: bool, *, max_targets: int | None = None
    ) -> Awaitable[FilterResult]: ...
    def set_throttled(self, sessions: Target, throttler: Throttler, *, max_targets: int | None = None) -> Awaitable[int]: ...
    def set_throttled_detailed(
        self, sessions: Target, throttler: Throttler, *, max_targets: int | None = None
    ) -> Awaitable[FilterResult]: ...
    def fetch_sessions(
        self,
        filter: str = "all",
        properties: Iterable[str] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Awaitable[SessionPage]: ...
    def count(self, filter: str) -> Awaitable[int]: ...
    def count_detailed(self, filter: str) -> Awaitable[FilterResult]: ...
    def add_session_event_listener(
        self,
        listener: SessionEventListener,
        filter: str | None = None,
        properties: Iterable[str] | None = None,
        after: int | None = None,
    ) -> Awaitable[Registration]: ...
    def set_queue_event_handler(self, handler: QueueEventHandler) -> Awaitable[Registration]: ...

@final
class Subscription:
    """Topic values as an async iterator of ``(path, value)``."""

    def __aiter__(self) -> Subscription: ...
    def __anext__(self) -> Awaitable[tuple[str, bytes]]: ...
    def close(self) -> Awaitable[None]: ...
    def __aenter__(self) -> Awaitable[Subscription]: ...
    def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Awaitable[None]: ...

Value = bytes | bytearray | str

@final
class Topics:
    """Topic operations: ``session.topics``."""

    def add(self, path: str, value: Value | None = None) -> Awaitable[None]: ...
    def remove(self, path: str) -> Awaitable[None]: ...
    def update(self, path: str, value: Value) -> Awaitable[None]: ...
    @overload
    def subscribe(self, selector: str) -> Awaitable[Subscription]: ...
    @overload
    def subscribe(self, selector: str, callback: Callable[[str, bytes], Any]) -> Awaitable[Registration]: ...

@final
class Session:
    """One session on an Usher server."""

    @property
    def id(self) -> SessionId: ...
    @property
    def server_name(self) -> str: ...
    @property
    def start_time(self) -> int: ...
    @property
    def roles(self) -> list[str]: ...
    @property
    def close_reason(self) -> CloseReason | None: ...
    @property
    def is_closed(self) -> bool: ...
    @property
    def client_control(self) -> ClientControl: ...
    @property
    def topics(self) -> Topics: ...
    def closed(self) -> Awaitable[CloseReason]: ...
    def roles_changed(self) -> Awaitable[list[str]]: ...
    def close(self) -> Awaitable[None]: ...
    def __aenter__(self) -> Awaitable[Session]: ...
    def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Awaitable[None]: ...

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
) -> Awaitable[Session]: ...

def _at_exit() -> None: ...

# Plumbing self-tests (see src/selftest.rs); not part of the public API.
def _raise(code: str) -> None: ...
def _echo_after(value: str, millis: int) -> Awaitable[tuple[str, str]]: ...
def _fail_after(code: str, millis: int) -> Awaitable[None]: ...
def _deliver(listener: Callable[[str], Any], values: list[str]) -> Awaitable[int]: ...

class _Completions:
    """One event loop's queue of finished native calls (internal)."""

    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...

"""Listener protocols, for type checkers: what ``add_session_event_listener``
and ``set_queue_event_handler`` accept. Every method may be ``async def``;
the optional ones (``on_error``, ``on_close``, ``on_policy_changed``) may be
left out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, Union

if TYPE_CHECKING:
    from usher._native import QueueEvent, QueuePolicy, SessionEvent, SessionId


class SessionEventListenerObject(Protocol):
    """An object with ``on_event(event)``."""

    def on_event(self, event: SessionEvent, /) -> Awaitable[None] | None: ...


class QueueEventHandlerObject(Protocol):
    """An object with the threshold methods (others optional)."""

    def on_upper_threshold_crossed(self, session_id: SessionId, policy: QueuePolicy, /) -> Awaitable[None] | None: ...
    def on_lower_threshold_crossed(self, session_id: SessionId, policy: QueuePolicy, /) -> Awaitable[None] | None: ...


SessionEventListener = Union[SessionEventListenerObject, Callable[["SessionEvent"], Any]]
"""An object with ``on_event`` or a callable taking a :class:`SessionEvent`."""

QueueEventHandler = Union[QueueEventHandlerObject, Callable[["QueueEvent"], Any]]
"""An object with the queue methods or a callable taking a :class:`QueueEvent`."""

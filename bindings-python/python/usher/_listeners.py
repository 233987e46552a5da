"""Runs user listeners on the event loop that registered them.

The native module wraps each user listener with one of the factories below
(:func:`session_listener`, :func:`queue_handler`, :func:`topic_callback`),
which give every listener the same face (``event``, ``error``, ``close``),
and then delivers each item with ``run(adapter, method, arg)`` on the loop
that registered it, one at a time and in order. A listener may be an object
with methods or a plain callable, sync or ``async def``.

An exception a listener raises is logged (logger ``usher``) and passed to the
listener's ``on_error``; it never ends the registration, the session, or the
loop.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from typing import Any, Callable

from usher.errors import InvalidArgument

_log = logging.getLogger("usher")

_QUEUE_METHODS = {
    "UPPER_THRESHOLD_CROSSED": "on_upper_threshold_crossed",
    "LOWER_THRESHOLD_CROSSED": "on_lower_threshold_crossed",
    "POLICY_CHANGED": "on_policy_changed",
}


# The completion queue of each event loop that awaited a native call (see
# bindings-python/src/mailbox.rs); weak, so a loop that is gone takes its queue
# and wake-up socket with it.
_mailboxes: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _mailbox(loop: Any) -> Any:
    """The native completion queue of ``loop``, registered with it on first use."""
    box = _mailboxes.get(loop)
    if box is None:
        from usher import _native

        box = _native._Completions()
        loop.add_reader(box.fileno(), box.drain)
        _mailboxes[loop] = box
    return box


async def invoke(listener: Callable[..., Any], *args: Any) -> None:
    """Calls ``listener(*args)`` and awaits the result when it is awaitable."""
    result = listener(*args)
    if inspect.isawaitable(result):
        await result


class _Adapter:
    """A listener's uniform face: ``event(item)``, ``error(exc)``, ``close()``."""

    def __init__(
        self,
        what: str,
        on_event: Callable[[Any], Any],
        on_error: Callable[[BaseException], Any] | None,
        on_close: Callable[[], Any] | None,
    ) -> None:
        self.what = what
        self.on_event = on_event
        self.on_error = on_error
        self.on_close = on_close

    async def event(self, item: Any) -> None:
        try:
            await invoke(self.on_event, item)
        except Exception as exc:  # a listener must never break delivery
            _log.exception("usher: the %s raised; reported to its on_error", self.what)
            await self.error(exc)

    async def error(self, exc: BaseException) -> None:
        if self.on_error is None:
            _log.error("usher: %s failed: %r", self.what, exc)
            return
        try:
            await invoke(self.on_error, exc)
        except Exception:
            _log.exception("usher: the %s's on_error raised", self.what)

    async def close(self, _: object = None) -> None:
        if self.on_close is None:
            return
        try:
            await invoke(self.on_close)
        except Exception:
            _log.exception("usher: the %s's on_close raised", self.what)


async def run(adapter: _Adapter, method: str, arg: Any) -> None:
    """Delivers one item (``method`` is ``event``, ``error`` or ``close``)."""
    await getattr(adapter, method)(arg)


def _method(obj: object, name: str) -> Callable[..., Any] | None:
    fn = getattr(obj, name, None)
    return fn if callable(fn) else None


def _not_a_listener(what: str, methods: str) -> InvalidArgument:
    return InvalidArgument(
        f"listener: expected a callable or an object with {methods}", {"argument": "listener"}
    )


def session_listener(listener: object) -> _Adapter:
    """An object with ``on_event`` (``on_error``, ``on_close`` optional) or a callable."""
    on_event = _method(listener, "on_event")
    if on_event is not None:
        return _Adapter(
            "session listener", on_event, _method(listener, "on_error"), _method(listener, "on_close")
        )
    if callable(listener):
        return _Adapter("session listener", listener, None, None)
    raise _not_a_listener("session listener", "on_event")


def queue_handler(handler: object) -> _Adapter:
    """An object with any of the queue methods, or a callable taking a ``QueueEvent``."""
    if any(_method(handler, m) for m in _QUEUE_METHODS.values()):

        def on_event(event: Any) -> Any:
            fn = _method(handler, _QUEUE_METHODS[event.kind])
            return None if fn is None else fn(event.session_id, event.policy)

        return _Adapter("queue handler", on_event, _method(handler, "on_error"), _method(handler, "on_close"))
    if callable(handler):
        return _Adapter("queue handler", handler, None, None)
    raise _not_a_listener("queue handler", "on_upper_threshold_crossed / on_lower_threshold_crossed")


def topic_callback(callback: object) -> _Adapter:
    """A callable taking ``(path, value)``."""
    if not callable(callback):
        raise InvalidArgument("callback: expected a callable (path, value)", {"argument": "callback"})
    fn: Callable[..., Any] = callback
    return _Adapter("topic callback", lambda item: fn(*item), None, None)

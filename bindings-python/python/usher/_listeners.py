"""Runs user listeners on the event loop that registered them.

The native module turns ``invoke(listener, *args)`` into a Rust future with
the caller's event loop, so a listener may be a plain callable or an
``async def``: both run on that loop's thread, never on a runtime thread.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable


async def invoke(listener: Callable[..., Any], *args: Any) -> None:
    """Calls ``listener(*args)`` and awaits the result when it is awaitable."""
    result = listener(*args)
    if inspect.isawaitable(result):
        await result

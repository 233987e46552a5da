"""Helpers of the UniFFI-Python tests: connecting as an embedded principal,
waiting for what listeners record from runtime threads, unique tags."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import usher_swift as u

T = TypeVar("T")


async def connect(server: Any, principal: str | None = None, properties: dict[str, str] | None = None) -> u.Session:
    """A session on the test server: anonymous, or as one of the embedded
    principals (``admin``, ``control``, ``client``) with its password."""
    options = u.ConnectOptions(
        url=server.url,
        principal=principal,
        password=server.passwords[principal] if principal else None,
        properties=properties or {},
    )
    return await u.Session.connect(options)


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Waits until ``predicate()`` holds: listeners run on runtime threads."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.01)


def tag() -> str:
    """A value unique to one test, for filters that must match only its sessions."""
    return uuid.uuid4().hex


class Recorder(Generic[T]):
    """A list appended to from listener threads and read from the test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[T] = []

    def add(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def items(self) -> list[T]:
        with self._lock:
            return list(self._items)

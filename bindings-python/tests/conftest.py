"""Shared fixtures: a real server per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from usher_server import ServerNotImplemented, UsherServer, start_server


@pytest.fixture(scope="session")
def usher_server() -> Iterator[UsherServer]:
    """A real ``usher-server`` on 127.0.0.1, port 0.

    Skips (with the reason) while the workspace's binary is still the stub,
    unless ``USHER_REQUIRE_SERVER=1``; any other start failure fails the test.
    """
    try:
        server = start_server()
    except ServerNotImplemented as stub:
        if os.environ.get("USHER_REQUIRE_SERVER") == "1":
            raise
        pytest.skip(f"usher-server binary is still the stub ({stub}); merge the server branch")
    yield server
    server.stop()


# --- sessions on the shared server -------------------------------------------

import itertools  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402

import pytest_asyncio  # noqa: E402

import usher  # noqa: E402

_tags = itertools.count()

Connect = Callable[..., Awaitable[usher.Session]]


@pytest.fixture
def tag() -> str:
    """A value unique to the test, so tests sharing the server do not meet."""
    return f"t{os.getpid()}-{next(_tags)}"


@pytest_asyncio.fixture
async def connect(usher_server: UsherServer) -> AsyncIterator[Connect]:
    """``await connect(principal=None, **kwargs)``: a session on the test
    server (``principal`` logs in with its password); all closed at the end."""
    opened: list[usher.Session] = []

    async def open_session(principal: str | None = None, **kwargs: object) -> usher.Session:
        password = usher_server.passwords.get(principal) if principal else None
        session = await usher.connect(usher_server.url, principal, password, **kwargs)  # type: ignore[arg-type]
        opened.append(session)
        return session

    yield open_session
    for session in opened:
        await session.close()


@pytest_asyncio.fixture
async def admin(connect: Connect) -> usher.Session:
    """A session of the embedded ``admin`` principal (ADMINISTRATOR)."""
    return await connect("admin")


@pytest_asyncio.fixture
async def control(connect: Connect) -> usher.Session:
    """A session of the embedded ``control`` principal (CLIENT_CONTROL, TOPIC_CONTROL)."""
    return await connect("control")

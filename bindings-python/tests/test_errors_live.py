"""Each error kind, reached from Python against a real server, with its details."""

from __future__ import annotations

import asyncio
import inspect
import socket

import pytest

import usher
from conftest import Connect
from usher_server import UsherServer


async def test_access_denied_names_the_permission(connect: Connect) -> None:
    anonymous = await connect()
    with pytest.raises(usher.AccessDenied) as info:
        await anonymous.client_control.close("all")
    assert info.value.code == "ACCESS_DENIED"
    assert info.value.permission in ("MODIFY_SESSION", "VIEW_SESSION")
    with pytest.raises(usher.AccessDenied) as info:
        await anonymous.client_control.count("all")
    assert info.value.permission == "VIEW_SESSION"


async def test_invalid_filter_lists_problems(control: usher.Session) -> None:
    with pytest.raises(usher.InvalidFilter) as info:
        await control.client_control.count("tag is")
    [problem, *_] = info.value.problems
    assert isinstance(problem, usher.FilterProblem)
    assert (problem.line, problem.column) == (1, 7)
    with pytest.raises(usher.InvalidFilter):
        await control.client_control.close("$principal ne 'admin'")


async def test_no_such_session(control: usher.Session) -> None:
    missing = usher.SessionId(control.id.server, 2**63)
    with pytest.raises(usher.NoSuchSession):
        await control.client_control.close(missing)
    with pytest.raises(usher.NoSuchSession):
        await control.client_control.get_session_properties(usher.SessionId(1, 1), ["*F"])


async def test_invalid_argument_comes_through_the_awaitable(control: usher.Session) -> None:
    cc = control.client_control
    # Both role sets empty: checked locally, reported through the awaitable.
    pending = cc.change_roles(control.id, [], [])
    assert inspect.isawaitable(pending)
    with pytest.raises(usher.InvalidArgument) as info:
        await pending
    assert info.value.argument == "roles"
    with pytest.raises(usher.InvalidArgument) as info:
        await cc.change_roles(control.id, ["A"], ["A"])
    assert info.value.argument == "A"
    # Wrong types never raise synchronously either.
    bad_calls = [
        cc.close(42),  # type: ignore[arg-type]
        cc.set_conflated(control.id, "yes"),  # type: ignore[arg-type]
        cc.set_throttled(control.id, 5),  # type: ignore[arg-type]
        cc.get_session_properties("not an id", ["*F"]),
        cc.get_session_properties(control.id, "*F"),
        cc.set_session_properties(control.id, {"k": 1}),  # type: ignore[dict-item]
        cc.close("all", max_targets=-1),
    ]
    for call in bad_calls:
        with pytest.raises(usher.InvalidArgument):
            await call
    # A read-only fixed property is refused by the server, naming the key.
    with pytest.raises(usher.InvalidArgument) as info:
        await cc.set_session_properties(control.id, {"$Principal": "x"})
    assert info.value.argument == "$Principal"


async def test_limit_exceeded_names_the_limit(connect: Connect, control: usher.Session) -> None:
    client = await connect()
    with pytest.raises(usher.LimitExceeded) as info:
        await control.client_control.set_session_properties(client.id, {"big": "x" * 5000})
    assert info.value.limit is not None
    assert info.value.key == "big"
    with pytest.raises(usher.LimitExceeded):
        await connect(properties={"big": "x" * 5000})


async def test_handler_conflict(control: usher.Session) -> None:
    first = await control.client_control.set_queue_event_handler(lambda event: None)
    with pytest.raises(usher.HandlerConflict):
        await control.client_control.set_queue_event_handler(lambda event: None)
    await first.close()
    # Once closed, a new handler may register.
    second = await control.client_control.set_queue_event_handler(lambda event: None)
    await second.close()


async def test_session_closed_after_close(connect: Connect) -> None:
    session = await connect("control")
    await session.close()
    with pytest.raises(usher.SessionClosed):
        await session.client_control.count("all")
    with pytest.raises(usher.SessionClosed):
        await session.topics.add("a/b")
    await session.close()  # closing twice does nothing


async def test_authentication_failed(usher_server: UsherServer) -> None:
    with pytest.raises(usher.AuthenticationFailed) as info:
        await usher.connect(usher_server.url, "admin", "wrong password")
    assert info.value.code == "AUTHENTICATION_FAILED"


async def test_connection_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(usher.ConnectionFailed):
        await usher.connect(f"ws://127.0.0.1:{port}", connect_timeout=5)
    with pytest.raises(usher.InvalidArgument):
        await usher.connect(f"ws://127.0.0.1:{port}", request_timeout="soon")  # type: ignore[arg-type]


async def test_pending_requests_fail_with_session_closed_when_closed(connect: Connect) -> None:
    session = await connect("control")
    cc = session.client_control
    pending = [asyncio.ensure_future(cc.get_session_properties(session.id, ["*F"])) for _ in range(300)]
    await session.close()
    results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 20)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, usher.SessionClosed) for f in failures), failures[:3]
    assert all(isinstance(r, dict) for r in results if not isinstance(r, BaseException))


async def test_many_concurrent_requests_from_one_session(control: usher.Session) -> None:
    cc = control.client_control
    results = await asyncio.gather(*(cc.get_session_properties(control.id, ["$SessionId"]) for _ in range(2000)))
    assert all(r == {"$SessionId": str(control.id)} for r in results)


async def test_cancelling_an_awaitable_leaves_the_session_working(connect: Connect) -> None:
    session = await connect("control")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(session.closed(), 0.01)
    assert not session.is_closed
    assert await session.client_control.count(f"$SessionId is '{session.id}'") == 1

"""Every client-control operation, by id and by filter, against a real server."""

from __future__ import annotations

import asyncio

import pytest

import usher
from conftest import Connect


async def test_connect_identity_and_properties(connect: Connect, admin: usher.Session, tag: str) -> None:
    client = await connect(properties={"tag": tag})
    assert isinstance(client.id, usher.SessionId)
    assert client.roles == ["CLIENT"]
    assert client.close_reason is None and not client.is_closed
    props = await admin.client_control.get_session_properties(client.id, ["$ClientType", "$Environment", "*U"])
    assert props["$ClientType"] == "PYTHON"
    assert props["$Environment"].startswith("PYTHON_3.")
    assert props["tag"] == tag
    # The id's text form works where an id is expected.
    by_text = await admin.client_control.get_session_properties(str(client.id), ["$SessionId"])
    assert by_text == {"$SessionId": str(client.id)}


async def test_async_with_closes(usher_server: object, tag: str) -> None:
    from usher_server import UsherServer

    assert isinstance(usher_server, UsherServer)
    async with usher.connect(usher_server.url) as session:
        assert not session.is_closed
    assert session.close_reason == "CLOSED_BY_CLIENT"
    session2 = await usher.connect(usher_server.url)
    async with session2:
        pass
    assert await session2.closed() == "CLOSED_BY_CLIENT"


async def test_close_by_id_is_seen_as_closed_by_controller(connect: Connect, control: usher.Session) -> None:
    victim = await connect()
    assert await control.client_control.close(victim.id) == 1
    assert await asyncio.wait_for(victim.closed(), 10) == "CLOSED_BY_CONTROLLER"
    assert victim.close_reason == "CLOSED_BY_CONTROLLER"


async def test_close_by_id_text(connect: Connect, control: usher.Session) -> None:
    victim = await connect()
    result = await control.client_control.close_detailed(str(victim.id))
    assert isinstance(result, usher.FilterResult)
    assert result.total == 1 and result.denied == 0
    assert await asyncio.wait_for(victim.closed(), 10) == "CLOSED_BY_CONTROLLER"


async def test_close_by_filter(connect: Connect, control: usher.Session, tag: str) -> None:
    doomed = [await connect(properties={"tag": tag}) for _ in range(3)]
    survivor = await connect(properties={"tag": tag + "-kept"})
    result = await control.client_control.close_detailed(f"tag is '{tag}'")
    assert result.total == 3
    assert sum(result.per_server.values()) == 3
    for session in doomed:
        assert await asyncio.wait_for(session.closed(), 10) == "CLOSED_BY_CONTROLLER"
    assert not survivor.is_closed
    assert await control.client_control.close(f"tag is '{tag}'") == 0


async def test_change_roles_by_id(connect: Connect, control: usher.Session) -> None:
    client = await connect()
    changed = client.roles_changed()
    assert await control.client_control.change_roles(client.id, [], ["CLIENT_CONTROL"]) == 1
    assert await asyncio.wait_for(changed, 10) == ["CLIENT", "CLIENT_CONTROL"]
    assert client.roles == ["CLIENT", "CLIENT_CONTROL"]
    result = await control.client_control.change_roles_detailed(client.id, ["CLIENT_CONTROL"], [])
    assert result.total == 1


async def test_change_roles_by_filter(connect: Connect, control: usher.Session, tag: str) -> None:
    clients = [await connect(properties={"tag": tag}) for _ in range(2)]
    assert await control.client_control.change_roles(f"tag is '{tag}'", ["CLIENT"], ["TOPIC_CONTROL"]) == 2
    for client in clients:
        props = await control.client_control.get_session_properties(client.id, ["$Roles"])
        assert props["$Roles"] == '"TOPIC_CONTROL"'


async def test_get_session_properties_fixed_and_user(connect: Connect, control: usher.Session, tag: str) -> None:
    client = await connect("client", properties={"tag": tag, "team": "ops"})
    fixed = await control.client_control.get_session_properties(client.id, ["*F"])
    assert fixed["$Principal"] == "client"
    assert fixed["$SessionId"] == str(client.id)
    assert "tag" not in fixed
    user = await control.client_control.get_session_properties(client.id, ["*U"])
    assert user == {"tag": tag, "team": "ops"}


async def test_set_session_properties_by_id_and_filter(connect: Connect, control: usher.Session, tag: str) -> None:
    client = await connect(properties={"tag": tag, "old": "x"})
    result = await control.client_control.set_session_properties_detailed(
        client.id, {"team": "ops", "old": None, "$Country": "fr"}
    )
    assert result.total == 1
    assert result.changed == {"team": None, "old": "x", "$Country": ""}
    props = await control.client_control.get_session_properties(client.id, ["*U", "$Country"])
    assert props == {"tag": tag, "team": "ops", "$Country": "FR"}
    other = await connect(properties={"tag": tag})
    assert await control.client_control.set_session_properties(f"tag is '{tag}'", {"team": "dev"}) == 2
    assert (await control.client_control.get_session_properties(other.id, ["team"]))["team"] == "dev"


async def test_set_conflated_and_throttled(connect: Connect, control: usher.Session, tag: str) -> None:
    client = await connect(properties={"tag": tag})
    cc = control.client_control
    assert await cc.set_conflated(client.id, True) == 1
    assert (await cc.set_conflated_detailed(f"tag is '{tag}'", False)).total == 1
    assert await cc.set_throttled(client.id, usher.Throttler.messages_per_second(100)) == 1
    assert await cc.set_throttled(f"tag is '{tag}'", usher.Throttler.bytes_per_second(1 << 20)) == 1
    result = await cc.set_throttled_detailed(str(client.id), usher.Throttler.unthrottled())
    assert result.total == 1


def test_throttler_values() -> None:
    assert usher.Throttler.unthrottled().kind == "UNTHROTTLED"
    assert usher.Throttler.unthrottled().rate is None
    t = usher.Throttler.messages_per_second(5)
    assert (t.kind, t.rate) == ("MESSAGES_PER_SECOND", 5)
    assert t == usher.Throttler.messages_per_second(5) and t != usher.Throttler.bytes_per_second(5)
    assert repr(usher.Throttler.bytes_per_second(7)) == "Throttler.bytes_per_second(7)"


async def test_fetch_sessions_pages_and_count(connect: Connect, control: usher.Session, tag: str) -> None:
    sessions = [await connect(properties={"tag": tag}) for _ in range(5)]
    cc = control.client_control
    assert await cc.count(f"tag is '{tag}'") == 5
    assert (await cc.count_detailed(f"tag is '{tag}'")).total == 5
    seen: list[usher.SessionId] = []
    cursor: str | None = None
    while True:
        page = await cc.fetch_sessions(f"tag is '{tag}'", ["tag", "$Principal"], 2, cursor)
        assert page.total == 5
        for info in page.sessions:
            assert info.properties == {"tag": tag, "$Principal": ""}
            seen.append(info.id)
        if not page.has_more:
            break
        cursor = page.next_cursor
    assert seen == [s.id for s in sessions]


async def test_max_targets_fails_and_acts_on_none(connect: Connect, control: usher.Session, tag: str) -> None:
    clients = [await connect(properties={"tag": tag}) for _ in range(3)]
    with pytest.raises(usher.LimitExceeded) as info:
        await control.client_control.close(f"tag is '{tag}'", max_targets=2)
    assert info.value.limit == "max_targets"
    assert info.value.count == 3
    assert not any(c.is_closed for c in clients)
    assert await control.client_control.max_targets(3).close(f"tag is '{tag}'") == 3


async def test_requests_around_a_session_ending_mid_request(connect: Connect) -> None:
    """While an answer is due the loop also watches the session's socket
    (src/watch.rs). A session that ends with a request pending, then a new
    session (which may get the old socket's number), must both behave:
    the pending call settles, and the new session's calls all resolve."""
    first = await connect("control")
    pending = asyncio.ensure_future(first.client_control.get_session_properties(first.id, ["$SessionId"]))
    await first.close()
    try:
        # Answered before the close, or failed by it: either way it settles.
        assert await asyncio.wait_for(pending, 10) == {"$SessionId": str(first.id)}
    except usher.SessionClosed:
        pass
    second = await connect("control")
    for _ in range(50):
        props = await asyncio.wait_for(second.client_control.get_session_properties(second.id, ["$SessionId"]), 10)
        assert props == {"$SessionId": str(second.id)}

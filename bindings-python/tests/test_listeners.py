"""Session and queue listeners: objects and callables, sync and async, a
raising listener, closing; and topics as the data plane."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

import usher
from conftest import Connect

T = 10  # seconds: a deadline, never a synchronisation


async def next_item(q: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(q.get(), T)


class Recorder:
    """An object listener with every method, recording calls on its loop."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[usher.SessionEvent] = asyncio.Queue()
        self.errors: list[BaseException] = []
        self.closes = 0
        self.thread = threading.get_ident()
        self.threads: set[int] = set()

    def on_event(self, event: usher.SessionEvent) -> None:
        self.threads.add(threading.get_ident())
        self.events.put_nowait(event)

    def on_error(self, error: BaseException) -> None:
        self.errors.append(error)

    def on_close(self) -> None:
        self.closes += 1


async def test_object_listener_snapshot_live_events_and_close(
    connect: Connect, control: usher.Session, tag: str
) -> None:
    existing = await connect(properties={"tag": tag})
    rec = Recorder()
    reg = await control.client_control.add_session_event_listener(
        rec, filter=f"tag is '{tag}'", properties=["tag", "team"]
    )
    # The snapshot has been delivered when the registration resolves.
    assert rec.events.qsize() == 1
    first = rec.events.get_nowait()
    assert (first.kind, first.state, first.session_id) == ("STATE", "ACTIVE", existing.id)
    assert first.properties == {"tag": tag}

    newcomer = await connect(properties={"tag": tag})
    opened = await next_item(rec.events)
    assert (opened.state, opened.session_id) == ("ACTIVE", newcomer.id)

    await control.client_control.set_session_properties(newcomer.id, {"team": "ops"})
    changed = await next_item(rec.events)
    assert changed.kind == "PROPERTIES" and changed.state is None
    assert changed.changed == {"team": (None, "ops")} and changed.matches

    await control.client_control.close(newcomer.id)
    closed = await next_item(rec.events)
    assert (closed.state, closed.reason, closed.session_id) == ("CLOSED", "CLOSED_BY_CONTROLLER", newcomer.id)

    assert rec.threads == {rec.thread}, "listeners run on the registering loop's thread"
    async with reg:
        pass
    assert reg.is_closed and rec.closes == 1
    await reg.close()
    assert rec.closes == 1, "on_close runs exactly once"


async def test_after_skips_the_snapshot(connect: Connect, control: usher.Session, tag: str) -> None:
    old = await connect(properties={"tag": tag})
    props = await control.client_control.get_session_properties(old.id, ["$StartTime"])
    seen: asyncio.Queue[usher.SessionEvent] = asyncio.Queue()
    reg = await control.client_control.add_session_event_listener(
        seen.put_nowait, filter=f"tag is '{tag}'", after=int(props["$StartTime"])
    )
    assert seen.empty()
    await reg.close()


async def test_sync_and_async_callables(connect: Connect, control: usher.Session, tag: str) -> None:
    sync_seen: asyncio.Queue[usher.SessionEvent] = asyncio.Queue()
    async_seen: asyncio.Queue[usher.SessionEvent] = asyncio.Queue()

    async def async_listener(event: usher.SessionEvent) -> None:
        await asyncio.sleep(0)
        await async_seen.put(event)

    flt = f"tag is '{tag}'"
    reg1 = await control.client_control.add_session_event_listener(sync_seen.put_nowait, flt)
    reg2 = await control.client_control.add_session_event_listener(async_listener, flt)
    client = await connect(properties={"tag": tag})
    assert (await next_item(sync_seen)).session_id == client.id
    assert (await next_item(async_seen)).session_id == client.id
    await reg1.close()
    await reg2.close()


async def test_a_raising_listener_is_logged_reported_and_keeps_going(
    connect: Connect, control: usher.Session, tag: str, caplog: pytest.LogCaptureFixture
) -> None:
    class Flaky(Recorder):
        async def on_event(self, event: usher.SessionEvent) -> None:  # type: ignore[override]
            if event.state == "ACTIVE" and event.properties.get("n") == "boom":
                raise RuntimeError("listener failed")
            self.events.put_nowait(event)

    rec = Flaky()
    caplog.set_level(logging.ERROR, logger="usher")
    reg = await control.client_control.add_session_event_listener(rec, f"tag is '{tag}'", ["n"])
    await connect(properties={"tag": tag, "n": "boom"})
    fine = await connect(properties={"tag": tag, "n": "fine"})
    event = await next_item(rec.events)
    assert event.session_id == fine.id
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], RuntimeError)
    assert any("raised" in r.getMessage() for r in caplog.records)
    # The session still works.
    assert await control.client_control.count(f"tag is '{tag}'") == 2
    await reg.close()
    assert rec.closes == 1


async def test_not_a_listener_fails_through_the_awaitable(control: usher.Session) -> None:
    pending = control.client_control.add_session_event_listener(42)  # type: ignore[arg-type]
    with pytest.raises(usher.InvalidArgument):
        await pending
    with pytest.raises(usher.InvalidArgument):
        await control.client_control.set_queue_event_handler(object())  # type: ignore[arg-type]


async def test_listener_ends_with_the_session(connect: Connect, tag: str) -> None:
    controller = await connect("control")
    rec = Recorder()
    reg = await controller.client_control.add_session_event_listener(rec, f"tag is '{tag}'")
    await controller.close()
    await asyncio.wait_for(reg.close(), T)
    assert rec.closes == 1 and reg.is_closed


async def test_queue_handler_object_sees_policy_changes(connect: Connect, control: usher.Session) -> None:
    client = await connect()
    policies: asyncio.Queue[tuple[usher.SessionId, usher.QueuePolicy]] = asyncio.Queue()

    class Handler:
        closed = 0

        def on_upper_threshold_crossed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
            pass

        def on_lower_threshold_crossed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
            pass

        async def on_policy_changed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
            await policies.put((session_id, policy))

        def on_close(self) -> None:
            Handler.closed += 1

    reg = await control.client_control.set_queue_event_handler(Handler())
    await control.client_control.set_conflated(client.id, True)
    while True:
        sid, policy = await next_item(policies)
        if sid == client.id:
            break
    assert policy.conflated and policy.throttler == usher.Throttler.unthrottled()
    assert policy.max_depth > 0 and policy.upper_depth > policy.lower_depth
    await control.client_control.set_throttled(client.id, usher.Throttler.messages_per_second(50))
    while True:
        sid, policy = await next_item(policies)
        if sid == client.id:
            break
    assert policy.throttler == usher.Throttler.messages_per_second(50)
    await reg.close()
    assert Handler.closed == 1


async def test_queue_handler_callable_gets_queue_events(connect: Connect, control: usher.Session) -> None:
    client = await connect()
    events: asyncio.Queue[usher.QueueEvent] = asyncio.Queue()
    async with await control.client_control.set_queue_event_handler(events.put_nowait):
        await control.client_control.set_conflated(client.id, True)
        while (event := await next_item(events)).session_id != client.id:
            pass
        assert event.kind == "POLICY_CHANGED" and event.policy.conflated


async def test_topics_iterator_and_callback(connect: Connect, control: usher.Session, tag: str) -> None:
    path = f"tests/{tag}/a"
    await control.topics.add(path, b"v0")
    reader = await connect()
    sub = await reader.topics.subscribe(f"tests/{tag}/*")
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    # Another session: two local subscriptions covering one path may see a
    # current value twice (docs/CLIENT.md).
    reg = await (await connect()).topics.subscribe(path, lambda p, v: got.put_nowait((p, v)))
    assert await asyncio.wait_for(sub.__anext__(), T) == (path, b"v0")
    await control.topics.update(path, "v1")
    assert await asyncio.wait_for(sub.__anext__(), T) == (path, b"v1")
    assert await next_item(got) == (path, b"v0")
    assert await next_item(got) == (path, b"v1")
    await reg.close()
    await sub.close()
    async for _ in sub:
        pytest.fail("a closed subscription yields nothing")
    await control.topics.remove(path)
    with pytest.raises(usher.AccessDenied):
        await reader.topics.add(f"tests/{tag}/b", b"")

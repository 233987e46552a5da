"""A queue event handler that turns conflation on when a session's outbound
queue reaches its upper threshold and off again at the lower one, shown with
a real slow subscriber: the controller publishes to a few topics faster than
the subscriber reads, the subscriber's queue on the server grows, the handler
conflates it (at most one pending value per topic), the queue drains, the
handler turns conflation off.

The controller needs CLIENT_CONTROL and TOPIC_CONTROL (the embedded
``control`` or ``admin`` principal).
"""

from __future__ import annotations

import asyncio
import time

import usher
from example_env import controller, run_tag, url


class ConflateWhenBusy:
    """The handler: ``async def`` methods may await control calls."""

    def __init__(self, control: usher.ClientControl, seen: asyncio.Queue[tuple[str, usher.SessionId, bool]]) -> None:
        self.control = control
        self.seen = seen

    async def on_upper_threshold_crossed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
        print(f"{session_id}: upper threshold ({policy.upper_threshold}% of {policy.max_depth}): conflation on")
        await self.seen.put(("upper", session_id, policy.conflated))
        await self.control.set_conflated(session_id, True)

    async def on_lower_threshold_crossed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
        print(f"{session_id}: lower threshold ({policy.lower_threshold}%): conflation off")
        await self.seen.put(("lower", session_id, policy.conflated))
        await self.control.set_conflated(session_id, False)

    def on_policy_changed(self, session_id: usher.SessionId, policy: usher.QueuePolicy) -> None:
        print(f"{session_id}: policy now conflated={policy.conflated}")
        self.seen.put_nowait(("policy", session_id, policy.conflated))

    def on_error(self, error: BaseException) -> None:
        print(f"queue handler failed: {error!r}")


async def read_slowly(subscription: usher.Subscription) -> int:
    """The slow subscriber: one value every few milliseconds. Its small
    client-side buffer fills at once, so its socket backs up and the
    server's queue for it grows."""
    n = 0
    async for _path, _value in subscription:
        n += 1
        await asyncio.sleep(0.005)  # a slow consumer, on purpose
    return n


async def publish(topics: usher.Topics, paths: list[str], stop: asyncio.Event) -> int:
    value = b"x" * 1024
    sent = 0
    while not stop.is_set() and sent < 200_000:
        # 32 updates in flight at a time: many requests share one session.
        await asyncio.gather(*(topics.update(paths[(sent + i) % len(paths)], value) for i in range(32)))
        sent += 32
    return sent


async def main() -> None:
    started = time.monotonic()
    async with controller() as control:
        seen: asyncio.Queue[tuple[str, usher.SessionId, bool]] = asyncio.Queue()
        handler = await control.client_control.set_queue_event_handler(
            ConflateWhenBusy(control.client_control, seen)
        )
        base = f"examples/queue-{run_tag()}"
        paths = [f"{base}/t{i}" for i in range(4)]
        for path in paths:
            await control.topics.add(path, b"")

        subscriber = await usher.connect(url(), listener_buffer=8, listener_stall_timeout=60)
        subscription = await subscriber.topics.subscribe(f"{base}/*")
        reader = asyncio.create_task(read_slowly(subscription))
        print(f"slow subscriber {subscriber.id}")

        stop = asyncio.Event()
        publisher = asyncio.create_task(publish(control.topics, paths, stop))

        async def follow() -> None:
            upper = on = lower = off = False
            while not (upper and on and lower and off):
                what, sid, conflated = await seen.get()
                print(f"{(time.monotonic() - started) * 1000:8.0f} ms {what} {sid} conflated={conflated}")
                if sid != subscriber.id:
                    continue
                if what == "upper":
                    upper = True
                    stop.set()
                elif what == "policy" and conflated and upper:
                    on = True
                elif what == "lower" and upper:
                    lower = True
                elif what == "policy" and not conflated and lower:
                    off = True

        try:
            await asyncio.wait_for(follow(), 60)
        finally:
            stop.set()
            print(f"published {await publisher} updates")
        print("done: conflation followed the queue up and down")

        await handler.close()
        await subscription.close()
        print(f"the subscriber read {await reader} values")
        await subscriber.close()
        for path in paths:
            await control.topics.remove(path)


if __name__ == "__main__":
    asyncio.run(main())

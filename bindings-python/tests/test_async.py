"""The async plumbing: awaitables run on the shared runtime without blocking
the event loop, and listeners are called back on the caller's loop."""

import asyncio
import os
import threading
import time
from typing import Any

import pytest

from usher import _native


async def test_awaitable_runs_on_the_shared_runtime() -> None:
    value, thread = await _native._echo_after("hello", 1)
    assert value == "hello"
    assert thread == "usher-rt"


async def test_awaitables_run_concurrently_and_leave_the_loop_free() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    start = time.monotonic()
    results = await asyncio.gather(*(_native._echo_after(str(i), 200) for i in range(20)))
    elapsed = time.monotonic() - start
    task.cancel()
    assert [v for v, _ in results] == [str(i) for i in range(20)]
    assert elapsed < 2.0, f"20 x 200 ms took {elapsed:.2f}s: not concurrent"
    assert ticks >= 5, "the event loop was blocked while Rust futures ran"


async def test_a_burst_of_results_each_reaches_its_own_awaitable() -> None:
    # Results come back through the loop's completion queue in batches
    # (src/mailbox.rs): every one must still resolve its own awaitable.
    n = 2000
    results = await asyncio.wait_for(asyncio.gather(*(_native._echo_after(str(i), 0) for i in range(n))), 30)
    assert [v for v, _ in results] == [str(i) for i in range(n)]


def test_loops_in_two_threads_each_get_their_own_results() -> None:
    async def many(tag: str) -> list[str]:
        results = await asyncio.gather(*(_native._echo_after(f"{tag}{i}", i % 3) for i in range(300)))
        return [v for v, _ in results]

    out: dict[str, list[str]] = {}

    def run(tag: str) -> None:
        out[tag] = asyncio.run(asyncio.wait_for(many(tag), 30))

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == {tag: [f"{tag}{i}" for i in range(300)] for tag in ("a", "b")}


async def test_listeners_sync_and_async_run_on_the_callers_loop() -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []

    def sync_listener(value: str) -> None:
        seen.append((value, threading.get_ident()))

    async def async_listener(value: str) -> None:
        await asyncio.sleep(0)
        seen.append((value.upper(), threading.get_ident()))

    assert await _native._deliver(sync_listener, ["a", "b"]) == 2
    assert await _native._deliver(async_listener, ["c"]) == 1
    assert seen == [("a", loop_thread), ("b", loop_thread), ("C", loop_thread)]


async def test_a_raising_listener_is_reported_and_delivery_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[Any] = []
    monkeypatch.setattr("sys.unraisablehook", reported.append)
    seen: list[str] = []

    def flaky(value: str) -> None:
        if value == "boom":
            raise RuntimeError("listener failed")
        seen.append(value)

    assert await _native._deliver(flaky, ["a", "boom", "b"]) == 2
    assert seen == ["a", "b"]
    assert len(reported) == 1
    assert isinstance(reported[0].exc_value, RuntimeError)


async def echo(value: str) -> str:
    """One awaitable from a coroutine (``asyncio.run`` takes coroutines only,
    and the native call needs the running loop)."""
    return (await asyncio.wait_for(_native._echo_after(value, 1), 10))[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_the_runtime_works_in_a_forked_child() -> None:
    # The parent's runtime exists before the fork...
    assert asyncio.run(echo("parent")) == "parent"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            # ...and the child gets a new one (the parent's threads are gone).
            code = 0 if asyncio.run(echo("child")) == "child" else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung: the runtime was not rebuilt")
    assert asyncio.run(echo("parent again")) == "parent again"

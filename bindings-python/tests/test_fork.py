"""A forked child creates its own session on a fresh runtime; the parent's
session keeps working."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

import usher
from usher_server import UsherServer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_creates_its_own_session(usher_server: UsherServer) -> None:
    url, password = usher_server.url, usher_server.passwords["control"]

    async def open_parent() -> usher.Session:
        return await usher.connect(url, "control", password)

    async def count(session: usher.Session) -> int:
        return await asyncio.wait_for(session.client_control.count("all"), 10)

    parent = asyncio.run(open_parent())
    assert asyncio.run(count(parent)) >= 1

    async def child_main() -> int:
        async with usher.connect(url, "control", password) as child:
            n = await count(child)
            props = await child.client_control.get_session_properties(child.id, ["$SessionId"])
            return 0 if n >= 2 and props["$SessionId"] == str(child.id) else 3

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            code = asyncio.run(child_main())
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            assert os.waitstatus_to_exitcode(status) == 0
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        pytest.fail("the forked child hung")
    assert asyncio.run(count(parent)) >= 1

    async def close_parent() -> None:
        await parent.close()

    asyncio.run(close_parent())

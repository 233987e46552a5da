"""Close one session by id; it sees CLOSED_BY_CONTROLLER."""

from __future__ import annotations

import asyncio

from example_env import client_with, controller, run_tag


async def main() -> None:
    async with controller() as control:
        client = await client_with("example", run_tag())
        closed = await control.client_control.close(client.id)
        print(f"closed {closed} session: {client.id}")
        reason = await asyncio.wait_for(client.closed(), 10)
        print(f"{client.id} saw {reason}")
        assert closed == 1 and reason == "CLOSED_BY_CONTROLLER"


if __name__ == "__main__":
    asyncio.run(main())

"""Close every session a filter selects, leaving the others alone."""

from __future__ import annotations

import asyncio

from example_env import client_with, controller, run_tag


async def main() -> None:
    tag = run_tag()
    async with controller() as control:
        doomed = [await client_with("example", f"doomed-{tag}") for _ in range(3)]
        async with client_with("example", f"kept-{tag}") as survivor:
            flt = f"example is 'doomed-{tag}'"
            result = await control.client_control.close_detailed(flt)
            print(f"{flt}: closed {result.total} sessions (per server: {result.per_server})")
            for client in doomed:
                print(f"{client.id} saw {await asyncio.wait_for(client.closed(), 10)}")
            print(f"{survivor.id} is still open: {not survivor.is_closed}")
            assert result.total == 3 and not survivor.is_closed


if __name__ == "__main__":
    asyncio.run(main())

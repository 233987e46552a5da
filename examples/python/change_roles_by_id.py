"""Add a role to one session by id; the session is told its new roles."""

from __future__ import annotations

import asyncio

from example_env import client_with, controller, run_tag


async def main() -> None:
    async with controller() as control, client_with("example", run_tag()) as client:
        print(f"{client.id} starts with {client.roles}")
        changed = client.roles_changed()
        n = await control.client_control.change_roles(client.id, [], ["TOPIC_CONTROL"])
        roles = await asyncio.wait_for(changed, 10)
        print(f"changed {n} session; {client.id} now has {roles}")
        assert n == 1 and "TOPIC_CONTROL" in roles


if __name__ == "__main__":
    asyncio.run(main())

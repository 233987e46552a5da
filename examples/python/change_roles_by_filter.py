"""Swap a role on every session a filter selects."""

from __future__ import annotations

import asyncio

from example_env import client_with, controller, run_tag


async def main() -> None:
    tag = run_tag()
    async with controller() as control:
        clients = [await client_with("example", tag) for _ in range(3)]
        flt = f"example is '{tag}'"
        result = await control.client_control.change_roles_detailed(flt, ["CLIENT"], ["TOPIC_CONTROL"])
        print(f"{flt}: changed roles of {result.total} sessions ({result.denied} skipped by dominance)")
        for client in clients:
            props = await control.client_control.get_session_properties(client.id, ["$Roles"])
            print(f"{client.id}: $Roles = {props['$Roles']}")
            assert props["$Roles"] == '"TOPIC_CONTROL"'
            await client.close()
        assert result.total == 3


if __name__ == "__main__":
    asyncio.run(main())

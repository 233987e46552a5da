"""The conformance interpreter shared by the Python runner (``usher``) and the
UniFFI-Python runner (standing in for Swift): it reads a scenario, starts a
real server, and drives a *backend* -- an adapter that calls only its own
binding and turns what the binding returns into plain data (see
``tests/conformance/README.md`` for the normalised forms).

Nothing here talks to the server: every request goes through the backend.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, Callable, Protocol

DEADLINE_S = 10.0
PUBLISH_DEADLINE_S = 60.0
# Fields whose dict values are maps compared exactly; other dicts (records)
# are compared on the fields the expectation names.
MAP_FIELDS = {"properties", "changed", "per_server"}


class Failure(Exception):
    """A scenario expectation that did not hold."""


class BindingError(Exception):
    """A binding's error, normalised by the backend: ``.data`` has ``kind``
    and the details (``permission``, ``problems``, ``argument``, ...)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data.get("kind"))
        self.data = data


class Backend(Protocol):
    """What a runner implements over its binding; every call is the binding's public API."""

    async def connect(self, url: str, spec: dict[str, Any], password: str | None) -> Any: ...
    def session_id(self, session: Any) -> str: ...
    async def close_session(self, session: Any) -> None: ...
    async def closed(self, session: Any) -> str: ...
    async def control(self, session: Any, op: str, args: dict[str, Any]) -> Any: ...
    async def listen(self, session: Any, args: dict[str, Any], sink: Sink) -> Any: ...
    async def queue_handler(self, session: Any, sink: Sink) -> Any: ...
    async def unregister(self, registration: Any) -> None: ...
    async def add_topic(self, session: Any, path: str) -> None: ...
    async def update(self, session: Any, path: str, value: bytes) -> None: ...
    async def stalled_subscriber(self, session: Any, selector: str) -> Any: ...
    async def resume(self, consumer: Any) -> None: ...


class Sink:
    """Events pushed by listener callbacks (any thread), awaited by steps."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.consumed = 0

    def push(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(item)
        self._loop.call_soon_threadsafe(self._changed.set)

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    async def wait(self, done: Callable[[list[dict[str, Any]]], bool], timeout: float, what: str) -> list[dict[str, Any]]:
        end = self._loop.time() + timeout
        while True:
            self._changed.clear()
            items = self.items()
            if done(items):
                return items
            remaining = end - self._loop.time()
            if remaining <= 0:
                raise Failure(f"{what}: not seen within {timeout}s; got {items[self.consumed:]}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


def matches(expected: Any, actual: Any, exact: bool = False) -> bool:
    """``expected`` describes ``actual``: records on the fields named, maps
    (``MAP_FIELDS``, or ``exact``) and lists in full, scalars equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        if exact and set(expected) != set(actual):
            return False
        return all(k in actual and matches(v, actual[k], k in MAP_FIELDS) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a, exact) for e, a in zip(expected, actual))
        )
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def any_order(expected: list[Any], actual: list[Any]) -> bool:
    left = list(actual)
    for e in expected:
        hit = next((i for i, a in enumerate(left) if matches(e, a)), None)
        if hit is None:
            return False
        left.pop(hit)
    return not left


SUBST = re.compile(r"\{(id|url|repeat):([^}:]*)(?::(\d+))?\}")


class Run:
    """One scenario against its peers (``peers.py``) through one backend."""

    def __init__(self, backend: Backend, server: Any, scenario: dict[str, Any]) -> None:
        self.b = backend
        self.server = server
        self.scenario = scenario
        self.sessions: dict[str, Any] = {}
        self.ids: dict[str, str] = {}
        self.sinks: dict[str, Sink] = {}
        self.registrations: dict[str, Any] = {}
        self.consumers: dict[str, Any] = {}
        self.cursors: dict[str, str | None] = {}
        self.frozen: set[str] = set()
        self.loop = asyncio.get_running_loop()

    # --- names and ids ------------------------------------------------------

    def subst(self, value: Any) -> Any:
        if isinstance(value, str):
            def one(m: re.Match[str]) -> str:
                if m.group(1) == "id":
                    return self.ids[m.group(2)]
                if m.group(1) == "url":
                    return self.server.urls[m.group(2)]
                return m.group(2) * int(m.group(3) or "1")
            return SUBST.sub(one, value)
        if isinstance(value, list):
            return [self.subst(v) for v in value]
        if isinstance(value, dict):
            return {k: self.subst(v) for k, v in value.items()}
        return value

    def name_of(self, sid: str) -> str:
        for name, known in self.ids.items():
            if known == sid:
                return name
        return f"?{sid}"

    def named(self, item: dict[str, Any]) -> dict[str, Any]:
        """Replaces the ``session`` id of a normalised event or page by its name."""
        out = dict(item)
        if "session" in out:
            out["session"] = self.name_of(out["session"])
        return out

    # --- the scenario -------------------------------------------------------

    async def run(self) -> None:
        try:
            for spec in self.scenario.get("sessions", []):
                await self.open(self.subst(spec))
            for index, step in enumerate(self.scenario["steps"]):
                try:
                    await self.step(self.subst(step))
                except Failure as e:
                    raise Failure(f"step {index + 1} ({step['do']}): {e}") from None
        finally:
            # A scenario that failed while a member was frozen: its sessions
            # there could not close.
            for server in list(self.frozen):
                await _quietly(self.command("thaw", "thawed", server))
            for reg in self.registrations.values():
                await _quietly(self.b.unregister(reg))
            for consumer in self.consumers.values():
                await _quietly(self.b.resume(consumer))
            for session in self.sessions.values():
                await _quietly(self.b.close_session(session))

    async def open(self, spec: dict[str, Any]) -> None:
        principal = spec.get("principal")
        password = spec.get("password", self.server.passwords.get(principal) if principal else None)
        session = await self.b.connect(self.server.url, spec, password)
        self.sessions[spec["name"]] = session
        self.ids[spec["name"]] = self.b.session_id(session)

    def target(self, t: dict[str, Any]) -> dict[str, Any]:
        if "id" in t:
            return {"id": self.ids[t["id"]]}
        if "id_text" in t:
            return {"id": t["id_text"]}
        return {"filter": t["filter"]}

    async def step(self, step: dict[str, Any]) -> None:
        do = step["do"]
        handler = getattr(self, "do_" + do, None)
        if handler is not None:
            await handler(step)
            return
        if do not in OPERATIONS:
            raise Failure(f"unknown step {do!r}")
        args = {k: v for k, v in step.items() if k not in ("do", "as", "expect")}
        if "target" in args:
            args["target"] = self.target(args["target"])
        if "session" in args:
            args["session"] = self.ids[args["session"]]
        await self.expect(step, lambda: self.control(step["as"], do, args), exact=do == "get_session_properties")

    async def control(self, who: str, op: str, args: dict[str, Any]) -> Any:
        if op == "fetch_sessions" and args.get("cursor") == "next":
            args = dict(args, cursor=self.cursors.get(who))
        result = await self.b.control(self.sessions[who], op, args)
        if op == "fetch_sessions":
            self.cursors[who] = result.pop("next_cursor")
            result["sessions"] = [self.name_of(s) for s in result["sessions"]]
            result["properties"] = {self.name_of(s): p for s, p in result["properties"].items()}
        return result

    async def expect(self, step: dict[str, Any], call: Callable[[], Any], exact: bool = False) -> Any:
        want = step.get("expect", {})
        try:
            result = await call()
        except BindingError as e:
            if "error" not in want:
                raise Failure(f"unexpected error {e.data}") from None
            if not matches(want["error"], e.data):
                raise Failure(f"error {e.data}, expected {want['error']}") from None
            return None
        if "error" in want:
            raise Failure(f"succeeded with {result!r}, expected error {want['error']}")
        if "result" in want and not matches(want["result"], result, exact):
            raise Failure(f"result {result!r}, expected {want['result']!r}")
        return result

    # --- steps other than the operations ------------------------------------

    async def do_open(self, step: dict[str, Any]) -> None:
        await self.expect(step, lambda: self.open(step["session"]))

    async def do_close_session(self, step: dict[str, Any]) -> None:
        await self.expect(step, lambda: self.b.close_session(self.sessions[step["session"]]))

    async def do_expect_closed(self, step: dict[str, Any]) -> None:
        try:
            reason = await asyncio.wait_for(self.b.closed(self.sessions[step["session"]]), DEADLINE_S)
        except asyncio.TimeoutError:
            raise Failure(f"{step['session']} not closed within {DEADLINE_S}s") from None
        if reason != step["reason"]:
            raise Failure(f"{step['session']} closed with {reason}, expected {step['reason']}")

    async def do_listen(self, step: dict[str, Any]) -> None:
        sink = self.sinks[step["listener"]] = Sink(self.loop)
        args = {k: step[k] for k in ("filter", "properties", "after") if k in step}
        reg = await self.expect(step, lambda: self.b.listen(self.sessions[step["as"]], args, sink))
        if reg is not None:
            self.registrations[step["listener"]] = reg

    async def do_set_queue_handler(self, step: dict[str, Any]) -> None:
        sink = self.sinks[step["handler"]] = Sink(self.loop)
        reg = await self.expect(step, lambda: self.b.queue_handler(self.sessions[step["as"]], sink))
        if reg is not None:
            self.registrations[step["handler"]] = reg

    async def do_unlisten(self, step: dict[str, Any]) -> None:
        await self.b.unregister(self.registrations.pop(step["listener"]))

    async def do_expect_events(self, step: dict[str, Any]) -> None:
        sink = self.sinks[step.get("listener") or step["handler"]]
        want = step["events"]
        start = sink.consumed
        items = await sink.wait(lambda items: len(items) - start >= len(want), DEADLINE_S, f"{len(want)} events")
        got = [self.named(e) for e in items[start:start + len(want)]]
        sink.consumed = start + len(want)
        ok = any_order(want, got) if step.get("any_order") else matches(want, got)
        if not ok:
            raise Failure(f"events {got}, expected {want}")
        if step.get("no_more") and len(sink.items()) > sink.consumed:
            raise Failure(f"unexpected events {[self.named(e) for e in sink.items()[sink.consumed:]]}")

    async def do_add_topic(self, step: dict[str, Any]) -> None:
        await self.expect(step, lambda: self.b.add_topic(self.sessions[step["as"]], step["topic"]))

    async def do_slow_consumer(self, step: dict[str, Any]) -> None:
        spec = dict(step["session"], listener_buffer=1, listener_stall_timeout_ms=120_000)
        await self.open(spec)
        consumer = await self.b.stalled_subscriber(self.sessions[spec["name"]], step["selector"])
        self.consumers[spec["name"]] = consumer

    async def do_resume(self, step: dict[str, Any]) -> None:
        await self.b.resume(self.consumers.pop(step["session"]))

    async def do_publish_until(self, step: dict[str, Any]) -> None:
        sink, want = self.sinks[step["handler"]], step["event"]
        session, path = self.sessions[step["as"]], step["topic"]
        value = b"x" * int(step.get("value_bytes", 2048))
        end = self.loop.time() + PUBLISH_DEADLINE_S

        def seen() -> bool:
            return any(matches(want, self.named(e)) for e in sink.items()[sink.consumed:])

        while not seen():
            if self.loop.time() > end:
                raise Failure(f"no {want} within {PUBLISH_DEADLINE_S}s of publishing")
            await asyncio.gather(*(self.b.update(session, path, value) for _ in range(16)))

    async def do_freeze(self, step: dict[str, Any]) -> None:
        await self.command("freeze", "frozen", step["server"])

    async def do_thaw(self, step: dict[str, Any]) -> None:
        await self.command("thaw", "thawed", step["server"])

    async def command(self, verb: str, done: str, server: str) -> None:
        """A command to the scenario's helper (SIGSTOP / SIGCONT a member)."""
        try:
            answer = await asyncio.to_thread(self.server.command, f"{verb} {server}")
        except Exception as e:  # noqa: BLE001 - no helper, or it died
            raise Failure(str(e)) from None
        if answer != f"{done} {server}":
            raise Failure(f"{verb} {server} answered {answer!r}")
        if verb == "freeze":
            self.frozen.add(server)
        else:
            self.frozen.discard(server)

    async def do_filter_cases(self, step: dict[str, Any]) -> None:
        who, failures = step["as"], []
        for case in step["cases"]:
            f = case["filter"]
            try:
                if "error" in case:
                    await self.expect({"expect": {"error": {"kind": "INVALID_FILTER", "problems": case["error"]}}},
                                      lambda: self.control(who, "count", {"filter": f}))
                    continue
                page = await self.control(who, "fetch_sessions", {"filter": f, "keys": [], "limit": 1000})
                count = await self.control(who, "count", {"filter": f})
                if sorted(page["sessions"]) != sorted(case["matches"]) or count != len(case["matches"]):
                    failures.append(f"{f!r}: matched {sorted(page['sessions'])} (count {count}), expected {sorted(case['matches'])}")
            except Failure as e:
                failures.append(f"{f!r}: {e}")
        if failures:
            raise Failure(f"{len(failures)} of {len(step['cases'])} filters: " + "; ".join(failures))


OPERATIONS = {
    "close", "change_roles", "get_session_properties", "set_session_properties",
    "set_conflated", "set_throttled", "fetch_sessions", "count",
}


async def _quietly(aw: Any) -> None:
    try:
        await asyncio.wait_for(aw, DEADLINE_S)
    except Exception:  # noqa: BLE001 - teardown of a scenario that may have failed
        pass

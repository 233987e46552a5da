"""The conformance backend of the Python binding (package ``usher``): every
call is the package's public API; results are normalised to plain data."""

from __future__ import annotations

import asyncio
from typing import Any

import usher
from interp import BindingError, Sink


def filter_result(r: usher.FilterResult) -> dict[str, Any]:
    return {"total": r.total, "per_server": dict(r.per_server), "denied": r.denied, "rejected": r.rejected,
            "changed": r.changed, "unreachable": list(r.unreachable)}


def policy(p: usher.QueuePolicy) -> dict[str, Any]:
    return {"conflated": p.conflated, "throttler": {"kind": p.throttler.kind, "rate": p.throttler.rate},
            "max_depth": p.max_depth, "max_bytes": p.max_bytes,
            "upper_threshold": p.upper_threshold, "lower_threshold": p.lower_threshold}


def error(e: usher.UsherError) -> BindingError:
    data: dict[str, Any] = {"kind": e.code}
    for key, value in e.details.items():
        if key == "problems":
            value = [{"line": p.line, "column": p.column, "message": p.message} for p in e.problems]  # type: ignore[attr-defined]
        elif isinstance(value, usher.FilterResult):
            value = filter_result(value)
        data[key] = value
    return BindingError(data)


def session_event(e: usher.SessionEvent) -> dict[str, Any]:
    if e.kind == "STATE":
        return {"type": "STATE", "session": str(e.session_id), "state": e.state,
                "reason": e.reason, "properties": e.properties}
    return {"type": "PROPERTIES", "session": str(e.session_id),
            "changed": {k: list(v) for k, v in e.changed.items()}, "matches": e.matches}


def throttler(t: dict[str, Any]) -> usher.Throttler:
    kind = t["kind"]
    if kind == "UNTHROTTLED":
        return usher.Throttler.unthrottled()
    if kind == "MESSAGES_PER_SECOND":
        return usher.Throttler.messages_per_second(t["rate"])
    return usher.Throttler.bytes_per_second(t["rate"])


class Ending:
    """``on_error`` and ``on_close`` of both listener kinds, recorded as events."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def on_error(self, e: BaseException) -> None:
        data = error(e).data if isinstance(e, usher.UsherError) else {"kind": repr(e)}
        self.sink.push({"type": "ERROR", "error": data})

    def on_close(self) -> None:
        self.sink.push({"type": "END"})


class EventListener(Ending):
    def on_event(self, e: usher.SessionEvent) -> None:
        self.sink.push(session_event(e))


class QueueHandler(Ending):
    def _push(self, kind: str, sid: usher.SessionId, p: usher.QueuePolicy) -> None:
        self.sink.push({"type": kind, "session": str(sid), "policy": policy(p)})

    def on_upper_threshold_crossed(self, sid: usher.SessionId, p: usher.QueuePolicy) -> None:
        self._push("UPPER_THRESHOLD_CROSSED", sid, p)

    def on_lower_threshold_crossed(self, sid: usher.SessionId, p: usher.QueuePolicy) -> None:
        self._push("LOWER_THRESHOLD_CROSSED", sid, p)

    def on_policy_changed(self, sid: usher.SessionId, p: usher.QueuePolicy) -> None:
        self._push("POLICY_CHANGED", sid, p)


class UsherBackend:
    async def connect(self, url: str, spec: dict[str, Any], password: str | None) -> usher.Session:
        kwargs: dict[str, Any] = {}
        if "request_timeout_ms" in spec:
            kwargs["request_timeout"] = spec["request_timeout_ms"] / 1000
        if "listener_buffer" in spec:
            kwargs["listener_buffer"] = spec["listener_buffer"]
        if "listener_stall_timeout_ms" in spec:
            kwargs["listener_stall_timeout"] = spec["listener_stall_timeout_ms"] / 1000
        try:
            return await usher.connect(spec.get("url", url), spec.get("principal"), password,
                                       spec.get("properties", {}), **kwargs)
        except usher.UsherError as e:
            raise error(e) from None

    def session_id(self, session: usher.Session) -> str:
        return str(session.id)

    async def close_session(self, session: usher.Session) -> None:
        await session.close()

    async def closed(self, session: usher.Session) -> str:
        return await session.closed()

    async def control(self, session: usher.Session, op: str, args: dict[str, Any]) -> Any:
        try:
            return await self._control(session.client_control, op, args)
        except usher.UsherError as e:
            raise error(e) from None

    async def _control(self, cc: usher.ClientControl, op: str, a: dict[str, Any]) -> Any:
        detailed = a.get("detailed", False)
        kw = {"max_targets": a["max_targets"]} if "max_targets" in a else {}
        t = a.get("target", {})
        target: usher.Target = usher.SessionId.parse(t["id"]) if "id" in t else t.get("filter", "")
        if op == "close":
            return filter_result(await cc.close_detailed(target, **kw)) if detailed else await cc.close(target, **kw)
        if op == "change_roles":
            call = cc.change_roles_detailed if detailed else cc.change_roles
            r = await call(target, a.get("remove", []), a.get("add", []), **kw)
            return filter_result(r) if detailed else r
        if op == "set_session_properties":
            call2 = cc.set_session_properties_detailed if detailed else cc.set_session_properties
            r = await call2(target, a["properties"], **kw)
            return filter_result(r) if detailed else r
        if op == "set_conflated":
            call3 = cc.set_conflated_detailed if detailed else cc.set_conflated
            r = await call3(target, a["conflated"], **kw)
            return filter_result(r) if detailed else r
        if op == "set_throttled":
            call4 = cc.set_throttled_detailed if detailed else cc.set_throttled
            r = await call4(target, throttler(a["throttler"]), **kw)
            return filter_result(r) if detailed else r
        if op == "get_session_properties":
            return await cc.get_session_properties(usher.SessionId.parse(a["session"]), a["keys"])
        if op == "count":
            return filter_result(await cc.count_detailed(a["filter"])) if detailed else await cc.count(a["filter"])
        if op == "fetch_sessions":
            page = await cc.fetch_sessions(a.get("filter", "all"), a.get("keys", []), a.get("limit"), a.get("cursor"))
            return {"sessions": [str(s.id) for s in page.sessions],
                    "properties": {str(s.id): s.properties for s in page.sessions},
                    "total": page.total, "has_more": page.has_more, "next_cursor": page.next_cursor}
        raise ValueError(f"unknown operation {op}")

    async def listen(self, session: usher.Session, args: dict[str, Any], sink: Sink) -> usher.Registration:
        try:
            return await session.client_control.add_session_event_listener(
                EventListener(sink), args.get("filter"), args.get("properties"), args.get("after"))
        except usher.UsherError as e:
            raise error(e) from None

    async def queue_handler(self, session: usher.Session, sink: Sink) -> usher.Registration:
        try:
            return await session.client_control.set_queue_event_handler(QueueHandler(sink))
        except usher.UsherError as e:
            raise error(e) from None

    async def unregister(self, registration: usher.Registration) -> None:
        await registration.close()

    async def add_topic(self, session: usher.Session, path: str) -> None:
        try:
            await session.topics.add(path, b"")
        except usher.UsherError as e:
            raise error(e) from None

    async def update(self, session: usher.Session, path: str, value: bytes) -> None:
        await session.topics.update(path, value)

    async def stalled_subscriber(self, session: usher.Session, selector: str) -> dict[str, Any]:
        # Subscribed, never iterated: its 1-value buffer fills, the socket
        # reader waits for room, the server's queue for it grows.
        return {"subscription": await session.topics.subscribe(selector), "reader": None}

    async def resume(self, consumer: dict[str, Any]) -> None:
        async def drain() -> None:
            async for _ in consumer["subscription"]:
                pass

        consumer["reader"] = asyncio.ensure_future(drain())

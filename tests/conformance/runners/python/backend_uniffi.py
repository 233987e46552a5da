"""The conformance backend of the Swift binding's interface, through the
Python bindings UniFFI generates from the same library (``usher_swift``,
written to ``target/uniffi-python`` by ``scripts/uniffi-gen.sh``). Every call
is that generated API -- the one Swift calls -- and results are normalised
to plain data. Listeners are foreign-trait objects called on the runtime's
threads, as in Swift."""

from __future__ import annotations

import datetime
import os
import sys
import threading
from pathlib import Path
from typing import Any

from interp import BindingError, Sink

ROOT = Path(__file__).resolve().parents[4]
GENERATED = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "uniffi-python"
sys.path.insert(0, str(GENERATED))

import usher_swift as u  # noqa: E402


def filter_result(r: Any) -> dict[str, Any]:
    return {"total": r.total, "per_server": dict(r.per_server), "denied": r.denied, "rejected": r.rejected,
            "changed": r.changed, "unreachable": list(r.unreachable)}


def throttler_data(t: Any) -> dict[str, Any]:
    if t.is_UNTHROTTLED():
        return {"kind": "UNTHROTTLED", "rate": None}
    kind = "MESSAGES_PER_SECOND" if t.is_MESSAGES_PER_SECOND() else "BYTES_PER_SECOND"
    return {"kind": kind, "rate": t[0]}


def policy(p: Any) -> dict[str, Any]:
    return {"conflated": p.conflated, "throttler": throttler_data(p.throttler),
            "max_depth": p.max_depth, "max_bytes": p.max_bytes,
            "upper_threshold": p.upper_threshold, "lower_threshold": p.lower_threshold}


def error(e: Any) -> BindingError:
    data: dict[str, Any] = {"kind": e.code()}
    for key in ("permission", "argument", "key", "count"):
        if hasattr(e, key):
            data[key] = getattr(e, key)
    if getattr(e, "limit", ""):
        data["limit"] = e.limit
    if hasattr(e, "problems"):
        data["problems"] = [{"line": p.line, "column": p.column, "message": p.message} for p in e.problems]
    if getattr(e, "result", None) is not None:
        data["result"] = filter_result(e.result)
    return BindingError(data)


def session_event(e: Any) -> dict[str, Any]:
    if e.is_STATE():
        return {"type": "STATE", "session": str(e.session_id),
                "state": "ACTIVE" if e.state == u.SessionState.ACTIVE else "CLOSED",
                "reason": u.close_reason_code(e.reason) if e.reason is not None else None,
                "properties": dict(e.properties)}
    return {"type": "PROPERTIES", "session": str(e.session_id),
            "changed": {k: [c.old_value, c.new_value] for k, c in e.changed.items()}, "matches": e.matches}


def throttler(t: dict[str, Any]) -> Any:
    if t["kind"] == "UNTHROTTLED":
        return u.Throttler.UNTHROTTLED()
    if t["kind"] == "MESSAGES_PER_SECOND":
        return u.Throttler.MESSAGES_PER_SECOND(t["rate"])
    return u.Throttler.BYTES_PER_SECOND(t["rate"])


class Ending:
    """``didFailWithError`` and ``didClose`` of both listener kinds, recorded as events."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def did_close(self) -> None:
        self.sink.push({"type": "END"})

    def did_fail_with_error(self, e: Any) -> None:
        self.sink.push({"type": "ERROR", "error": error(e).data})


class EventListener(Ending, u.SessionEventListener):
    def did_receive(self, event: Any) -> None:
        self.sink.push(session_event(event))


class QueueListener(Ending, u.QueueEventListener):
    def _push(self, kind: str, p: Any, sid: Any) -> None:
        self.sink.push({"type": kind, "session": str(sid), "policy": policy(p)})

    def did_report_policy_change(self, policy: Any, session_id: Any) -> None:
        self._push("POLICY_CHANGED", policy, session_id)

    def upper_threshold_crossed(self, policy: Any, session_id: Any) -> None:
        self._push("UPPER_THRESHOLD_CROSSED", policy, session_id)

    def lower_threshold_crossed(self, policy: Any, session_id: Any) -> None:
        self._push("LOWER_THRESHOLD_CROSSED", policy, session_id)


class StalledTopicListener(u.TopicListener):
    """Blocks in ``did_receive`` until resumed: called on a runtime thread,
    it stalls this subscription, whose 1-value buffer fills, so the socket
    reader waits for room and the server's queue for the session grows."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def did_receive(self, path: str, value: bytes) -> None:
        self.gate.wait(120)

    def did_close(self) -> None:
        pass

    def did_fail_with_error(self, error: Any) -> None:
        pass


class UniffiBackend:
    async def connect(self, url: str, spec: dict[str, Any], password: str | None) -> Any:
        ms = datetime.timedelta(milliseconds=1)
        options = u.ConnectOptions(
            url=spec.get("url", url), principal=spec.get("principal"), password=password,
            properties=spec.get("properties", {}),
            request_timeout=spec["request_timeout_ms"] * ms if "request_timeout_ms" in spec else None,
            listener_buffer=spec.get("listener_buffer"),
            listener_stall_timeout=spec["listener_stall_timeout_ms"] * ms if "listener_stall_timeout_ms" in spec else None,
        )
        try:
            return await u.Session.connect(options)
        except u.UsherError as e:
            raise error(e) from None

    def session_id(self, session: Any) -> str:
        return str(session.session_id())

    async def close_session(self, session: Any) -> None:
        try:
            await session.close()
        except u.UsherError as e:
            raise error(e) from None

    async def closed(self, session: Any) -> str:
        return str(u.close_reason_code(await session.closed()))

    async def control(self, session: Any, op: str, args: dict[str, Any]) -> Any:
        try:
            return await self._control(session.client_control(), op, args)
        except u.UsherError as e:
            raise error(e) from None

    async def _control(self, cc: Any, op: str, a: dict[str, Any]) -> Any:
        if "max_targets" in a:
            cc = cc.max_targets(a["max_targets"])
        detailed = a.get("detailed", False)
        t = a.get("target", {})
        # Swift takes a SessionId for closeClient(with:) and text (an id's
        # text form or a filter) for the other target operations.
        text = t.get("id", t.get("filter", ""))

        def plain(r: Any) -> Any:
            return filter_result(r) if detailed else r

        if op == "close":
            if "id" in t:
                sid = u.parse_session_id(t["id"])
                return plain(await (cc.close_client_detailed(sid) if detailed else cc.close_client(sid)))
            return plain(await (cc.close_clients_detailed(text) if detailed else cc.close_clients(text)))
        if op == "change_roles":
            call = cc.change_roles_detailed if detailed else cc.change_roles
            return plain(await call(text, a.get("remove", []), a.get("add", [])))
        if op == "set_session_properties":
            call = cc.set_session_properties_detailed if detailed else cc.set_session_properties
            return plain(await call(text, a["properties"]))
        if op == "set_conflated":
            call = cc.set_queue_conflation_detailed if detailed else cc.set_queue_conflation
            return plain(await call(text, a["conflated"]))
        if op == "set_throttled":
            call = cc.set_throttled_detailed if detailed else cc.set_throttled
            return plain(await call(text, throttler(a["throttler"])))
        if op == "get_session_properties":
            return dict(await cc.get_session_properties(u.parse_session_id(a["session"]), a["keys"]))
        if op == "count":
            f = a["filter"]
            return plain(await (cc.count_sessions_detailed(f) if detailed else cc.count_sessions(f)))
        if op == "fetch_sessions":
            request = u.FetchRequest(filter=a.get("filter", "all"), keys=a.get("keys", []),
                                     limit=a.get("limit"), cursor=a.get("cursor"))
            page = await cc.fetch_sessions(request)
            return {"sessions": [str(s.session_id) for s in page.sessions],
                    "properties": {str(s.session_id): dict(s.properties) for s in page.sessions},
                    "total": page.total, "has_more": page.has_more, "next_cursor": page.next_cursor}
        raise ValueError(f"unknown operation {op}")

    async def listen(self, session: Any, args: dict[str, Any], sink: Sink) -> Any:
        params = u.SessionEventParameters(filter=args.get("filter"), properties=args.get("properties", []),
                                          after=args.get("after"))
        try:
            return await session.client_control().add_session_event_listener(EventListener(sink), params)
        except u.UsherError as e:
            raise error(e) from None

    async def queue_handler(self, session: Any, sink: Sink) -> Any:
        try:
            return await session.client_control().set_queue_event_handler(QueueListener(sink))
        except u.UsherError as e:
            raise error(e) from None

    async def unregister(self, registration: Any) -> None:
        await registration.close()

    async def add_topic(self, session: Any, path: str) -> None:
        try:
            await session.topics_handle().add(path, b"")
        except u.UsherError as e:
            raise error(e) from None

    async def update(self, session: Any, path: str, value: bytes) -> None:
        await session.topics_handle().update(path, value)

    async def stalled_subscriber(self, session: Any, selector: str) -> Any:
        listener = StalledTopicListener()
        subscription = await session.topics_handle().subscribe(selector, listener)
        return (listener, subscription)

    async def resume(self, consumer: Any) -> None:
        consumer[0].gate.set()

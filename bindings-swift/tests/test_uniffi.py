"""The Swift binding's interface, exercised through UniFFI's Python bindings
(SPEC §10: Swift is verified here without a Swift compiler)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading

import pytest
import usher_swift as u

TEXT = "8f3a2c41d09e7b15-0000000000000007"
CASES = {
    "ACCESS_DENIED": u.UsherError.AccessDenied,
    "AUTHENTICATION_FAILED": u.UsherError.AuthenticationFailed,
    "INVALID_FILTER": u.UsherError.InvalidFilter,
    "NO_SUCH_SESSION": u.UsherError.NoSuchSession,
    "INVALID_ARGUMENT": u.UsherError.InvalidArgument,
    "LIMIT_EXCEEDED": u.UsherError.LimitExceeded,
    "HANDLER_CONFLICT": u.UsherError.HandlerConflict,
    "SESSION_CLOSED": u.UsherError.SessionClosed,
    "CONNECTION": u.UsherError.ConnectionFailed,
    "TIMEOUT": u.UsherError.Timeout,
    "CLUSTER_ROUTING": u.UsherError.ClusterRouting,
    "PROTOCOL": u.UsherError.ProtocolError,
    "INTERNAL": u.UsherError.InternalError,
}


def test_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", u.version())


def test_session_id_parse_and_text() -> None:
    sid = u.parse_session_id(f"  {TEXT.upper()} ")
    assert (sid.server, sid.value) == (0x8F3A2C41D09E7B15, 7)
    assert str(sid) == TEXT
    assert sid == u.SessionId(server=0x8F3A2C41D09E7B15, value=7)
    assert len({sid, u.SessionId(server=0x8F3A2C41D09E7B15, value=7), u.SessionId(server=1, value=2)}) == 2


@pytest.mark.parametrize("bad", ["", "x", TEXT[:-1], TEXT + "0", "+" + TEXT[1:], "$Principal is 'a'"])
def test_bad_session_id_is_invalid_argument(bad: str) -> None:
    with pytest.raises(u.UsherError.InvalidArgument) as info:
        u.parse_session_id(bad)
    assert info.value.code() == "INVALID_ARGUMENT"
    assert info.value.argument == "session_id"


def test_one_case_per_core_kind() -> None:
    assert u.error_codes() == list(CASES)
    assert len(set(CASES.values())) == len(CASES)


@pytest.mark.parametrize("code", list(CASES))
def test_each_kind_raises_its_case(code: str) -> None:
    with pytest.raises(u.UsherError) as info:
        u.selftest_raise(code)
    assert type(info.value) is CASES[code]
    assert info.value.code() == code


@pytest.mark.parametrize("code", list(CASES))
async def test_each_kind_from_an_async_call(code: str) -> None:
    with pytest.raises(CASES[code]):
        await u.selftest_fail_after(code, 1)


def test_details_are_associated_values() -> None:
    with pytest.raises(u.UsherError.AccessDenied) as denied:
        u.selftest_raise("ACCESS_DENIED")
    assert denied.value.permission == "MODIFY_SESSION"
    with pytest.raises(u.UsherError.InvalidFilter) as bad:
        u.selftest_raise("INVALID_FILTER")
    assert [(p.line, p.column) for p in bad.value.problems] == [(1, 14)]
    with pytest.raises(u.UsherError.LimitExceeded) as limit:
        u.selftest_raise("LIMIT_EXCEEDED")
    assert (limit.value.limit, limit.value.key, limit.value.count) == ("max_targets", None, None)
    with pytest.raises(u.UsherError.ClusterRouting) as routing:
        u.selftest_raise("CLUSTER_ROUTING")
    assert routing.value.result is not None and routing.value.result.unreachable == ["b"]


async def test_async_calls_run_on_the_shared_runtime_concurrently() -> None:
    assert await u.selftest_echo_after("hi", 1) == ["hi", "usher-rt"]
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(*(u.selftest_echo_after(str(i), 200) for i in range(20)))
    assert [r[0] for r in results] == [str(i) for i in range(20)]
    assert loop.time() - start < 2.0


class Listener(u.SelftestListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.threads: set[int] = set()

    def on_value(self, value: str) -> None:
        self.seen.append(("sync", value))
        self.threads.add(threading.get_ident())

    async def on_value_async(self, value: str) -> None:
        await asyncio.sleep(0)
        self.seen.append(("async", value))


async def test_foreign_listener_sync_and_async_methods() -> None:
    # Async foreign methods are called from a runtime thread, where Python has
    # no running loop: UniFFI must be told which loop runs them.
    u.uniffi_set_event_loop(asyncio.get_running_loop())
    listener = Listener()
    assert await u.selftest_deliver(listener, ["a", "b"]) == 2
    assert listener.seen == [("sync", "a"), ("async", "a"), ("sync", "b"), ("async", "b")]
    assert threading.get_ident() not in listener.threads, "sync listener ran on the loop thread, not a runtime one"


def test_server_fixture_reaches_a_real_server(usher_server) -> None:  # type: ignore[no-untyped-def]
    with socket.create_connection((usher_server.host, usher_server.port), timeout=5):
        pass

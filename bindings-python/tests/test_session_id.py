import pytest

import usher
from usher import SessionId

TEXT = "8f3a2c41d09e7b15-0000000000000007"


def test_parse_and_str_round_trip() -> None:
    sid = SessionId.parse(TEXT)
    assert str(sid) == TEXT
    assert (sid.server, sid.value) == (0x8F3A2C41D09E7B15, 7)
    assert repr(sid) == f"SessionId('{TEXT}')"


def test_parse_accepts_upper_case_and_trims() -> None:
    assert SessionId.parse(f"  {TEXT.upper()}\n") == SessionId.parse(TEXT)


def test_constructed_equals_parsed_and_hashes_alike() -> None:
    sid = SessionId(0x8F3A2C41D09E7B15, 7)
    assert sid == SessionId.parse(TEXT)
    assert len({sid, SessionId.parse(TEXT), SessionId(1, 2)}) == 2
    assert SessionId(1, 2) < SessionId(1, 3) < SessionId(2, 0)


@pytest.mark.parametrize(
    "bad",
    ["", "x", TEXT[:-1], TEXT + "0", TEXT.replace("-", "_"), "+" + TEXT[1:], "g" + TEXT[1:], "$Principal is 'a'"],
)
def test_bad_text_is_invalid_argument(bad: str) -> None:
    with pytest.raises(usher.InvalidArgument) as info:
        SessionId.parse(bad)
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.argument == "session_id"
    assert isinstance(info.value, usher.UsherError)


def test_parts_out_of_range_are_rejected() -> None:
    with pytest.raises(OverflowError):
        SessionId(-1, 0)
    with pytest.raises(OverflowError):
        SessionId(2**64, 0)

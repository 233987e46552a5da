"""Every ErrorKind of the core maps to exactly one exception class (SPEC §4.5)."""

import pytest

import usher
from usher import _native
from usher.errors import _BY_CODE

CODES = _native.error_codes()


def test_the_core_has_the_thirteen_kinds_of_the_spec() -> None:
    assert CODES == [
        "ACCESS_DENIED",
        "AUTHENTICATION_FAILED",
        "INVALID_FILTER",
        "NO_SUCH_SESSION",
        "INVALID_ARGUMENT",
        "LIMIT_EXCEEDED",
        "HANDLER_CONFLICT",
        "SESSION_CLOSED",
        "CONNECTION",
        "TIMEOUT",
        "CLUSTER_ROUTING",
        "PROTOCOL",
        "INTERNAL",
    ]


def test_one_distinct_exported_class_per_code() -> None:
    assert sorted(_BY_CODE) == sorted(CODES)
    classes = list(_BY_CODE.values())
    assert len(set(classes)) == len(classes)
    for code, cls in _BY_CODE.items():
        assert cls.code == code
        assert issubclass(cls, usher.UsherError) and cls is not usher.UsherError
        assert getattr(usher, cls.__name__) is cls, f"usher.{cls.__name__} is not exported"


@pytest.mark.parametrize("code", CODES)
def test_raised_sync_with_its_class_and_code(code: str) -> None:
    with pytest.raises(usher.UsherError) as info:
        _native._raise(code)
    assert type(info.value) is _BY_CODE[code]
    assert info.value.code == code
    assert info.value.message


@pytest.mark.parametrize("code", CODES)
async def test_raised_from_an_awaitable_with_its_class(code: str) -> None:
    with pytest.raises(_BY_CODE[code]) as info:
        await _native._fail_after(code, 1)
    assert info.value.code == code


def test_details_become_attributes() -> None:
    with pytest.raises(usher.AccessDenied) as denied:
        _native._raise("ACCESS_DENIED")
    assert denied.value.permission == "MODIFY_SESSION"

    with pytest.raises(usher.InvalidFilter) as bad_filter:
        _native._raise("INVALID_FILTER")
    [problem] = bad_filter.value.problems
    assert (problem.line, problem.column) == (1, 14)
    assert isinstance(problem, usher.FilterProblem)

    with pytest.raises(usher.LimitExceeded) as limit:
        _native._raise("LIMIT_EXCEEDED")
    assert limit.value.limit == "max_targets"

    with pytest.raises(usher.InvalidArgument) as arg:
        _native._raise("INVALID_ARGUMENT")
    assert arg.value.argument == "roles"

    with pytest.raises(usher.ClusterRouting) as routing:
        _native._raise("CLUSTER_ROUTING")
    assert routing.value.result is not None
    assert routing.value.result["total"] == 3
    assert routing.value.result["unreachable"] == ["b"]


def test_unknown_code_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        _native._raise("NOT_A_CODE")

"""The retry policy's pure functions: table-driven, no clock, no patching."""

from __future__ import annotations

import dataclasses
import email.utils
import math

import pytest

from convo.transport.retry import (
    DEFAULT_RETRY_POLICY,
    RetryPolicy,
    next_delay,
    parse_retry_after,
    should_retry,
)

NOW = 1_700_000_000.0


def http_date(offset: float) -> str:
    """An HTTP date ``offset`` seconds from NOW."""
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (413, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (529, True),
        (599, True),
    ],
)
def test_should_retry_by_status(status: int, expected: bool) -> None:
    """408, 409, 429 and every status >= 500 are retried; other statuses are not."""
    assert should_retry(status) is expected
    assert should_retry(status, {}) is expected


@pytest.mark.parametrize("status", [400, 401, 404, 413, 200])
@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_x_should_retry_true_forces_a_retry(status: int, value: str) -> None:
    """``x-should-retry: true`` retries statuses that are normally final."""
    assert should_retry(status, {"x-should-retry": value})


@pytest.mark.parametrize("status", [408, 409, 429, 500, 529])
def test_x_should_retry_false_forbids_a_retry(status: int) -> None:
    """``x-should-retry: false`` stops retries of statuses that are normally retried."""
    assert not should_retry(status, {"X-Should-Retry": "false"})


def test_x_should_retry_garbage_is_ignored() -> None:
    """An unreadable ``x-should-retry`` leaves the decision to the status."""
    assert should_retry(529, {"x-should-retry": "maybe"})
    assert not should_retry(400, {"x-should-retry": "1"})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250.5"}, 0.2505),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # ms wins
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),  # falls through
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": " 7 "}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-5"}, -5.0),
        ({"retry-after": "120"}, 120.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": http_date(20)}, 20.0),
        ({"retry-after": http_date(-30)}, -30.0),
        ({"retry-after": http_date(3600)}, 3600.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}, 1445412480.0 - NOW),
        ({"retry-after": "Wed, 99 Foo 2015 07:28:00 GMT"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """retry-after-ms, then seconds, then an HTTP date; unreadable values give None."""
    result = parse_retry_after(headers, now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    ("retries", "random", "expected"),
    [
        (0, 0.0, 0.5),
        (0, 1.0, 0.375),
        (1, 0.0, 1.0),
        (1, 0.5, 0.875),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 8.0),  # capped
        (10, 1.0, 6.0),
        (5000, 0.0, 8.0),  # no overflow
    ],
)
def test_backoff(retries: int, random: float, expected: float) -> None:
    """``min(0.5 * 2**n, 8) * (1 - 0.25 * random())``."""
    assert next_delay(DEFAULT_RETRY_POLICY, retries, random=lambda: random) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (1.5, 1.5),
        (60.0, 60.0),
        (0.001, 0.001),
        (60.5, 0.5),  # too long: backoff
        (3600.0, 0.5),
        (0.0, 0.5),  # zero: backoff
        (-3.0, 0.5),  # negative: backoff
        (None, 0.5),
    ],
)
def test_retry_after_obeyed_only_within_the_cap(retry_after: float | None, expected: float) -> None:
    """A server wait in (0, 60] is obeyed exactly; anything else falls back to backoff."""
    assert next_delay(DEFAULT_RETRY_POLICY, 0, retry_after, random=lambda: 0.0) == expected


def test_policy_is_frozen_and_tunable() -> None:
    """The policy is an immutable value; its fields change the delays."""
    policy = RetryPolicy(max_retries=5, initial_delay=1.0, max_delay=3.0, max_retry_after=10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 1  # type: ignore[misc]
    assert [next_delay(policy, n, random=lambda: 0.0) for n in range(4)] == [1.0, 2.0, 3.0, 3.0]
    assert next_delay(policy, 0, 11.0, random=lambda: 0.0) == 1.0
    assert next_delay(RetryPolicy(jitter=0.0), 0, random=lambda: 1.0) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -0.1},
        {"max_delay": math.nan},
        {"max_retry_after": math.inf},
        {"jitter": 1.5},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    """Negative counts or delays, NaN, infinity and jitter outside [0, 1] are refused."""
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_rejects_non_int_retries() -> None:
    """``max_retries`` must be an int (``None`` is not "unlimited", as in the SDK)."""
    with pytest.raises(TypeError):
        RetryPolicy(max_retries=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RetryPolicy(max_retries=True)

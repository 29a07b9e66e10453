"""When to retry a Messages API request and how long to wait: pure functions.

This is the official Python SDK's policy (``API_RULES.md`` H), written as a
frozen :class:`RetryPolicy` and three functions that take everything they
need as arguments, so the transports stay thin loops and every decision is
table-testable without a clock:

* :func:`should_retry` -- retry a response with this status and headers?
* :func:`parse_retry_after` -- the server's requested wait, in seconds.
* :func:`next_delay` -- the wait before the next attempt.

Connection errors and timeouts are always retried (while retries remain);
that decision lives in :mod:`convo.transport.http`, where httpx errors are
translated.  Layer: below ``http``; imports nothing from convo.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_INITIAL_DELAY",
    "DEFAULT_MAX_DELAY",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_RETRY_POLICY",
    "RETRY_STATUSES",
    "RetryPolicy",
    "next_delay",
    "parse_retry_after",
    "should_retry",
]

DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt (so at most three attempts), as the SDK."""

DEFAULT_INITIAL_DELAY = 0.5
"""Backoff before the first retry, in seconds."""

DEFAULT_MAX_DELAY = 8.0
"""Cap on the exponential backoff, in seconds."""

DEFAULT_MAX_RETRY_AFTER = 60.0
"""Longest ``retry-after`` obeyed; longer requests fall back to the backoff."""

RETRY_STATUSES = frozenset({408, 409, 429})
"""Statuses below 500 that are retried (every status >= 500 is, 529 included)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how long to wait.

    Args:
        max_retries: retries after the first attempt; ``0`` disables them.
        initial_delay: backoff before the first retry, in seconds.
        max_delay: cap on the exponential backoff, in seconds.
        max_retry_after: longest server-requested wait (``retry-after`` /
            ``retry-after-ms``) that is obeyed; a longer, zero, negative or
            unreadable value falls back to the backoff.
        jitter: the backoff is multiplied by ``1 - jitter * random()``, so it
            only ever shrinks (by up to 25% by default), as in the SDK.

    Raises:
        ValueError: a negative count or delay, or a jitter outside [0, 1].
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = DEFAULT_INITIAL_DELAY
    max_delay: float = DEFAULT_MAX_DELAY
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not value >= 0 or math.isinf(value):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter!r}")


DEFAULT_RETRY_POLICY = RetryPolicy()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup in any mapping (``httpx.Headers`` or a dict)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def should_retry(status_code: int, headers: Mapping[str, str] | None = None) -> bool:
    """Whether a response with this status deserves another attempt.

    An ``x-should-retry: true`` / ``false`` header decides on its own; else
    408, 409, 429 and every status >= 500 (529 included) are retried.
    """
    if headers is not None:
        verdict = _header(headers, "x-should-retry")
        if verdict is not None:
            verdict = verdict.strip().lower()
            if verdict == "true":
                return True
            if verdict == "false":
                return False
    return status_code in RETRY_STATUSES or status_code >= 500


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait the server asks for, in seconds, or ``None``.

    Tries ``retry-after-ms`` (milliseconds, float allowed), then
    ``retry-after`` as seconds (float allowed), then ``retry-after`` as an
    HTTP date (relative to ``now``, a POSIX timestamp, default the clock).
    The value is returned as read, possibly zero, negative or huge;
    :func:`next_delay` decides whether to obey it.  NaN, infinities and
    unreadable values give ``None``.
    """
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        value = _finite(millis)
        if value is not None:
            return value / 1000.0
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    value = _finite(raw)
    if value is not None:
        return value
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, RFC 5322 section 3.3
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() - (time.time() if now is None else now)


def _finite(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def next_delay(
    policy: RetryPolicy,
    retries_taken: int,
    retry_after: float | None = None,
    *,
    random: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait before retry number ``retries_taken`` (0 for the first).

    A ``retry_after`` in ``(0, policy.max_retry_after]`` is obeyed exactly;
    otherwise ``min(initial * 2**n, max) * (1 - jitter * random())``.
    """
    if retry_after is not None and 0 < retry_after <= policy.max_retry_after:
        return retry_after
    backoff = min(policy.initial_delay * 2.0 ** min(retries_taken, 64), policy.max_delay)
    return backoff * (1.0 - policy.jitter * random())

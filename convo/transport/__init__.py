"""Transports: how a request payload becomes a response.

``HTTPTransport`` / ``AsyncHTTPTransport`` speak the Messages API over
httpx with the SDK's retry policy and streaming; ``ScriptedTransport``
answers from a script, offline; ``CassetteTransport`` records real
exchanges to a JSON file and replays them.  All satisfy the ``Transport``
(or ``AsyncTransport``) protocol.  ``AnthropicTransport`` /
``AsyncAnthropicTransport`` send through an official SDK client; they are
loaded on first use, so importing this package never imports ``anthropic``
(``pip install 'convo[anthropic]'``).  See ``docs/transport.md``.
"""

from typing import TYPE_CHECKING, Any

from convo.transport.base import (
    APIResponse,
    AsyncEventStream,
    AsyncTransport,
    EventStream,
    Transport,
    count_tokens_body,
)
from convo.transport.cassette import AsyncCassetteTransport, CassetteTransport
from convo.transport.http import AsyncHTTPTransport, HTTPTransport
from convo.transport.retry import RetryPolicy
from convo.transport.scripted import AsyncScriptedTransport, ScriptedTransport
from convo.transport.stream import Accumulator, accumulate, message_events

if TYPE_CHECKING:
    from convo.transport.anthropic import AnthropicTransport, AsyncAnthropicTransport

_SDK_NAMES = frozenset({"AnthropicTransport", "AsyncAnthropicTransport"})


def __getattr__(name: str) -> Any:
    # The SDK is an optional dependency: import it only when asked for.
    if name in _SDK_NAMES:
        from convo.transport import anthropic

        value = getattr(anthropic, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'convo.transport' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "APIResponse",
    "Accumulator",
    "AnthropicTransport",
    "AsyncAnthropicTransport",
    "AsyncCassetteTransport",
    "AsyncEventStream",
    "AsyncHTTPTransport",
    "AsyncScriptedTransport",
    "AsyncTransport",
    "CassetteTransport",
    "EventStream",
    "HTTPTransport",
    "RetryPolicy",
    "ScriptedTransport",
    "Transport",
    "accumulate",
    "count_tokens_body",
    "message_events",
]

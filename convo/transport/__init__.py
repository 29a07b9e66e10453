"""Transports: how a request payload becomes a response.

``HTTPTransport`` / ``AsyncHTTPTransport`` speak the Messages API over
httpx with the SDK's retry policy and streaming; ``ScriptedTransport``
answers from a script, offline; ``CassetteTransport`` records real
exchanges to a JSON file and replays them.  All satisfy the ``Transport``
(or ``AsyncTransport``) protocol.  See ``docs/transport.md``.
"""

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

__all__ = [
    "APIResponse",
    "Accumulator",
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

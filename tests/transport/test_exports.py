"""The public surface of ``convo.transport`` is pinned and documented."""

from __future__ import annotations

import inspect
import pathlib

import convo.transport
from convo.transport import (
    AsyncCassetteTransport,
    AsyncHTTPTransport,
    AsyncScriptedTransport,
    AsyncTransport,
    CassetteTransport,
    HTTPTransport,
    ScriptedTransport,
    Transport,
)
from tests.transport._support import API_KEY


def test_all_is_pinned() -> None:
    """``__all__`` lists exactly these names, sorted."""
    assert convo.transport.__all__ == [
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
    assert convo.transport.__all__ == sorted(convo.transport.__all__)


def test_every_public_name_is_documented() -> None:
    """Every exported name, and every public method of an exported class, has a docstring."""
    for name in convo.transport.__all__:
        obj = getattr(convo.transport, name)
        assert inspect.getdoc(obj), name
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and callable(member):
                    assert inspect.getdoc(member), f"{name}.{attr}"


async def test_every_transport_satisfies_its_protocol(tmp_path: pathlib.Path) -> None:
    """Sync transports are Transports, async ones AsyncTransports, and not the other way."""
    sync = [
        HTTPTransport(api_key=API_KEY),
        ScriptedTransport([]),
        CassetteTransport(tmp_path / "c.json"),
    ]
    asynchronous = [
        AsyncHTTPTransport(api_key=API_KEY),
        AsyncScriptedTransport([]),
        AsyncCassetteTransport(tmp_path / "c.json"),
    ]
    import anthropic

    from convo.transport import AnthropicTransport, AsyncAnthropicTransport

    sync.append(AnthropicTransport(anthropic.Anthropic(api_key=API_KEY)))
    asynchronous.append(AsyncAnthropicTransport(anthropic.AsyncAnthropic(api_key=API_KEY)))
    for transport in sync:
        assert isinstance(transport, Transport)
        assert not inspect.iscoroutinefunction(transport.send)
    for atransport in asynchronous:
        assert isinstance(atransport, AsyncTransport)
        assert inspect.iscoroutinefunction(atransport.send)
    for transport in sync:
        transport.close()
    for atransport in asynchronous:
        await atransport.aclose()

"""Both HTTP transports against a real HTTP server on 127.0.0.1 with scripted failures."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from convo.errors import APIConnectionError, BadRequestError, OverloadedError, StreamError
from convo.transport import AsyncHTTPTransport, HTTPTransport, message_events
from tests.transport._support import (
    API_KEY,
    PAYLOAD,
    TEXT_MESSAGE,
    THINKING_MESSAGE,
    TOOL_MESSAGE,
    AsyncFakeSleep,
    FakeSleep,
    Script,
    error_body,
)


def overloaded() -> tuple[Any, ...]:
    return ("json", 529, error_body("overloaded_error", "Overloaded"), {"retry-after-ms": "40"})


def test_sync_transport_against_a_real_server(
    server: tuple[Script, str], fake_sleep: FakeSleep
) -> None:
    """529 then 200; a streamed tool call; token counting; a 400; a dropped stream."""
    script, url = server
    script.add(*overloaded())
    script.add("json", 200, TEXT_MESSAGE, {})
    script.add("sse", message_events(TOOL_MESSAGE, chunk_size=4), None)
    script.add("json", 200, {"input_tokens": 42}, {})
    script.add("json", 400, error_body("invalid_request_error", "messages: empty"), {})
    script.add("sse", message_events(THINKING_MESSAGE), 3)
    with HTTPTransport(api_key=API_KEY, base_url=url, sleep=fake_sleep) as transport:
        reply = transport.send(PAYLOAD)
        assert reply == TEXT_MESSAGE
        assert reply.request_id == "req_live_2"
        assert fake_sleep.delays == [0.04]
        assert transport.send_streaming(PAYLOAD) == TOOL_MESSAGE
        assert transport.count_tokens(PAYLOAD) == 42
        with pytest.raises(BadRequestError, match="messages: empty"):
            transport.send(PAYLOAD)
        with pytest.raises(StreamError) as info:
            transport.send_streaming(PAYLOAD)
        assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)
    paths = [path for path, _, _ in script.received]
    assert paths == ["/v1/messages"] * 3 + ["/v1/messages/count_tokens"] + ["/v1/messages"] * 2
    _, headers, body = script.received[0]
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["anthropic-version"] == "2026-10-21"
    assert headers["content-type"] == "application/json"
    assert body == PAYLOAD
    assert script.received[2][2] == {**PAYLOAD, "stream": True}
    assert "max_tokens" not in script.received[3][2]


async def test_async_transport_against_a_real_server(
    server: tuple[Script, str], async_fake_sleep: AsyncFakeSleep
) -> None:
    """The async transport: retried 529s, a stream, a final overload."""
    script, url = server
    script.add(*overloaded())
    script.add(*overloaded())
    script.add("sse", message_events(THINKING_MESSAGE, chunk_size=2), None)
    script.add(*overloaded())
    script.add("json", 200, TEXT_MESSAGE, {})
    for _ in range(3):
        script.add(*overloaded())
    async with AsyncHTTPTransport(
        api_key=API_KEY, base_url=url, sleep=async_fake_sleep
    ) as transport:
        assert await transport.send_streaming(PAYLOAD) == THINKING_MESSAGE
        assert await transport.send(PAYLOAD) == TEXT_MESSAGE
        with pytest.raises(OverloadedError) as info:
            await transport.send(PAYLOAD)
    assert info.value.attempts == 3
    assert info.value.retry_after == pytest.approx(0.04)
    assert async_fake_sleep.delays == [pytest.approx(0.04)] * 5
    assert len(script.received) == 8


def test_nothing_listening_is_a_connection_error(fake_sleep: FakeSleep) -> None:
    """A refused connection on 127.0.0.1 is retried, then raised as APIConnectionError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with (
        HTTPTransport(
            api_key=API_KEY, base_url=url, sleep=fake_sleep, random=lambda: 0.0
        ) as transport,
        pytest.raises(APIConnectionError) as info,
    ):
        transport.send(PAYLOAD)
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert fake_sleep.delays == [0.5, 1.0]

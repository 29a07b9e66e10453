"""Streaming over HTTP (``httpx.MockTransport``): assembly, pass-through, broken streams."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo.errors import (
    APIStatusError,
    BadRequestError,
    OverloadedError,
    StreamError,
)
from convo.transport import HTTPTransport, accumulate, message_events
from tests.transport._support import (
    API_KEY,
    PAYLOAD,
    TEXT_MESSAGE,
    THINKING_MESSAGE,
    TOOL_MESSAGE,
    AsyncFakeSleep,
    FakeSleep,
    MockAPI,
    SSEBody,
    error_body,
    json_response,
    sse_bytes,
    sse_response,
)

MakeHTTP = Callable[..., tuple[HTTPTransport, MockAPI]]


def streamed(message: dict[str, Any], chunk_size: int = 5, **kwargs: Any) -> httpx.Response:
    """The SSE response the API sends for ``message``."""
    return sse_response([sse_bytes(message_events(message, chunk_size=chunk_size))], **kwargs)


def test_stream_sends_stream_true_and_yields_events(make_http: MakeHTTP) -> None:
    """``stream`` adds ``stream: true``, asks for SSE and yields the parsed events."""
    transport, api = make_http([streamed(TOOL_MESSAGE)])
    with transport.stream(PAYLOAD) as events:
        received = list(events)
        assert events.request_id == "req_stream"
        assert events.headers["content-type"] == "text/event-stream"
    assert received == message_events(TOOL_MESSAGE, chunk_size=5)
    assert api.bodies == [{**PAYLOAD, "stream": True}]
    assert api.requests[0].headers["accept"] == "text/event-stream"
    assert "stream" not in PAYLOAD  # the caller's payload is untouched


def test_send_streaming_equals_the_non_streamed_message(
    make_http: MakeHTTP, message: dict[str, Any]
) -> None:
    """For text, tool use and thinking, the streamed message is the one ``send`` returns."""
    transport, _ = make_http([json_response(200, message), streamed(message, chunk_size=3)])
    plain = transport.send(PAYLOAD)
    seen: list[dict[str, Any]] = []
    assembled = transport.send_streaming(PAYLOAD, on_event=seen.append)
    assert assembled == plain == message
    assert assembled.request_id == "req_stream"
    assert seen == message_events(message, chunk_size=3)


@given(
    message=st.sampled_from([TEXT_MESSAGE, TOOL_MESSAGE, THINKING_MESSAGE]),
    data=st.data(),
)
def test_property_any_chunking_of_the_body(message: dict[str, Any], data: st.DataObject) -> None:
    """However the network cuts the body (mid-line, mid-character), the message is the same."""
    wire = sse_bytes(message_events(message, chunk_size=7)).replace(b"\n", b"\r\n")
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(wire) - 1), max_size=30))))
    chunks = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    client = httpx.Client(transport=httpx.MockTransport(lambda r: sse_response(chunks)))
    with client, HTTPTransport(api_key=API_KEY, client=client) as transport:
        assert transport.send_streaming(PAYLOAD) == message


def test_ping_and_unknown_events_pass_through(make_http: MakeHTTP) -> None:
    """Pings, comments and unknown event types are yielded; the fold ignores them."""
    events = message_events(TEXT_MESSAGE)
    wire = (
        b": keep-alive comment\n\n"
        + sse_bytes(events[:2])
        + sse_bytes([{"type": "ping"}, {"type": "sparkles", "level": 3}])
        + sse_bytes(events[2:])
    )
    transport, _ = make_http([sse_response([wire])])
    received = list(transport.stream(PAYLOAD))
    assert {"type": "ping"} in received
    assert {"type": "sparkles", "level": 3} in received
    assert accumulate(received) == TEXT_MESSAGE


def test_reading_stops_at_message_stop(make_http: MakeHTTP) -> None:
    """Nothing after message_stop is read or yielded."""
    events = message_events(TEXT_MESSAGE)
    body = SSEBody([sse_bytes(events), b"data: {garbage\n\n"])
    transport, _ = make_http([sse_response(body)])
    assert list(transport.stream(PAYLOAD)) == events
    assert body.sent == 1
    assert body.closed


def test_error_event_raises_the_mapped_error(make_http: MakeHTTP) -> None:
    """An ``error`` event after a 200 raises OverloadedError (529), without a retry."""
    events = message_events(TEXT_MESSAGE)
    error_event = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    transport, api = make_http([sse_response([sse_bytes([*events[:3], error_event])])])
    received: list[dict[str, Any]] = []
    with pytest.raises(OverloadedError) as info:
        transport.send_streaming(PAYLOAD, on_event=received.append)
    assert received == events[:3]
    assert info.value.status_code == 529
    assert info.value.error_type == "overloaded_error"
    assert info.value.request_id == "req_stream"
    assert info.value.body == error_event
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    "tail",
    [b"event: content_block_delta\ndata: {not json}\n\n", b"data: [1, 2]\n\n"],
)
def test_malformed_event_is_a_stream_error(make_http: MakeHTTP, tail: bytes) -> None:
    """Invalid JSON or a non-object in an event's data is a StreamError."""
    transport, _ = make_http([sse_response([sse_bytes(message_events(TEXT_MESSAGE)[:2]), tail])])
    with pytest.raises(StreamError, match="malformed stream"):
        list(transport.stream(PAYLOAD))


@pytest.mark.parametrize("cut", [1, 3, -1])
def test_eof_before_message_stop_is_a_stream_error(make_http: MakeHTTP, cut: int) -> None:
    """A body that ends early (even mid-event) raises StreamError naming the request id."""
    wire = sse_bytes(message_events(TEXT_MESSAGE)[:cut])
    if cut == -1:
        wire = sse_bytes(message_events(TEXT_MESSAGE))[:-5]  # inside the final event
    transport, api = make_http([sse_response([wire])])
    # Cut inside the final event, that event is dispatched at the end and its data
    # is not JSON; cut between events, the stream lacks message_stop.
    match = "'message_stop' carries invalid JSON" if cut == -1 else r"before message_stop \(request-id req_stream\)"
    with pytest.raises(StreamError, match=match):
        transport.send_streaming(PAYLOAD)
    assert len(api.requests) == 1


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("trailing", [b"", b"\n"])
def test_final_event_without_its_blank_line_is_kept(
    make_http: MakeHTTP, newline: bytes, trailing: bytes
) -> None:
    """A body whose last event has no closing blank line (or not even its line break)
    still ends with message_stop: the reply is not lost."""
    wire = sse_bytes(message_events(TEXT_MESSAGE)).rstrip(b"\n") + trailing
    wire = wire.replace(b"\n", newline)
    transport, _ = make_http([sse_response([wire])])
    assert transport.send_streaming(PAYLOAD) == TEXT_MESSAGE


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadError("connection reset"),
        httpx.RemoteProtocolError("incomplete chunked read"),
        httpx.ReadTimeout("read timed out"),
    ],
)
def test_connection_drop_mid_stream(
    make_http: MakeHTTP, fake_sleep: FakeSleep, error: Exception
) -> None:
    """A connection failing after the status arrived is a StreamError, never retried."""
    body = SSEBody([sse_bytes(message_events(TEXT_MESSAGE)[:3])], error)
    transport, api = make_http([sse_response(body)])
    received: list[dict[str, Any]] = []
    with pytest.raises(StreamError, match="stream broke") as info:
        transport.send_streaming(PAYLOAD, on_event=received.append)
    assert info.value.__cause__ is error
    assert len(received) == 3
    assert len(api.requests) == 1
    assert fake_sleep.delays == []
    assert body.closed


def test_status_errors_before_the_stream_are_retried(
    make_http: MakeHTTP, fake_sleep: FakeSleep
) -> None:
    """Until the status arrives a stream is retried like any request."""
    transport, api = make_http(
        [
            json_response(529, error_body("overloaded_error", "Overloaded")),
            httpx.ConnectError("refused"),
            streamed(TEXT_MESSAGE),
        ]
    )
    assert transport.send_streaming(PAYLOAD) == TEXT_MESSAGE
    assert len(api.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]


def test_final_status_before_the_stream(make_http: MakeHTTP) -> None:
    """A 400 for a stream raises BadRequestError with the body read."""
    body = error_body("invalid_request_error", "max_tokens: too big")
    transport, _ = make_http([json_response(400, body)])
    stream = transport.stream(PAYLOAD)
    with pytest.raises(BadRequestError, match="max_tokens: too big") as info:
        next(stream)
    assert info.value.body == body


def test_leaving_early_releases_the_connection(make_http: MakeHTTP) -> None:
    """Breaking out of ``with transport.stream(...)`` closes the response."""
    body = SSEBody([sse_bytes([e]) for e in message_events(TEXT_MESSAGE, chunk_size=1)])
    transport, _ = make_http([sse_response(body)])
    with transport.stream(PAYLOAD) as events:
        for event in events:
            if event["type"] == "content_block_delta":
                break
    assert body.closed
    assert body.sent < len(body.chunks)


# -- async -----------------------------------------------------------------------


async def test_async_stream_and_send_streaming(
    make_async_http: Any, message: dict[str, Any]
) -> None:
    """The async stream yields the same events and assembles the same message."""
    transport, api = make_async_http([streamed(message), streamed(message)])
    async with transport.stream(PAYLOAD) as events:
        received = [event async for event in events]
        assert events.request_id == "req_stream"
    assert received == message_events(message, chunk_size=5)
    seen: list[str] = []

    async def on_event(event: dict[str, Any]) -> None:
        seen.append(event["type"])

    assembled = await transport.send_streaming(PAYLOAD, on_event=on_event)
    assert assembled == message
    assert seen[0] == "message_start"
    assert seen[-1] == "message_stop"
    assert json.loads(api.requests[0].content)["stream"] is True


async def test_async_broken_streams(make_async_http: Any, async_fake_sleep: AsyncFakeSleep) -> None:
    """Async: a drop mid-stream and an error event raise, neither retried."""
    events = message_events(TEXT_MESSAGE)
    drop = SSEBody([sse_bytes(events[:2])], httpx.ReadError("reset"))
    error_event = {"type": "error", "error": {"type": "api_error", "message": "Internal"}}
    transport, api = make_async_http(
        [sse_response(drop), sse_response([sse_bytes([*events[:2], error_event])])]
    )
    with pytest.raises(StreamError) as info:
        await transport.send_streaming(PAYLOAD)
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert drop.closed
    with pytest.raises(APIStatusError) as status:
        await transport.send_streaming(PAYLOAD)
    assert status.value.status_code == 500
    assert len(api.requests) == 2
    assert async_fake_sleep.delays == []


async def test_async_leaving_early_releases_the_connection(make_async_http: Any) -> None:
    """``async with`` the stream closes the response when leaving early."""
    body = SSEBody([sse_bytes([e]) for e in message_events(TEXT_MESSAGE, chunk_size=1)])
    transport, _ = make_async_http([sse_response(body)])
    async with transport.stream(PAYLOAD) as events:
        async for event in events:
            if event["type"] == "content_block_start":
                break
    assert body.closed

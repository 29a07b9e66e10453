"""The API key never appears in a repr, a log record, an error or a pickle."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import httpx
import pytest

from convo.errors import APIConnectionError, AuthenticationError, OverloadedError, TransportError
from convo.transport import AsyncHTTPTransport, HTTPTransport, message_events
from convo.transport.http import _Secret
from tests.transport._support import (
    API_KEY,
    PAYLOAD,
    TEXT_MESSAGE,
    AsyncFakeSleep,
    FakeSleep,
    Script,
    error_body,
    json_response,
    sse_bytes,
    sse_response,
)


def all_text(records: list[logging.LogRecord]) -> str:
    """Everything a log handler could print: messages, arguments, exceptions."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


async def test_repr_shows_no_key() -> None:
    """repr of the transports and of their state shows where they send, never the key."""
    sync, asynchronous = HTTPTransport(api_key=API_KEY), AsyncHTTPTransport(api_key=API_KEY)
    for transport in (sync, asynchronous):
        text = repr(transport)
        assert API_KEY not in text
        assert "https://api.anthropic.com" in text
        assert API_KEY not in repr(vars(transport))
        assert API_KEY not in str(vars(transport))
        assert API_KEY not in repr(transport._core._key)
    sync.close()
    await asynchronous.aclose()
    secret = _Secret(API_KEY)
    assert str(secret) == repr(secret) == "<redacted>"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_key_is_not_on_the_client() -> None:
    """The key travels per request; a client the transport creates never holds it."""
    transport = HTTPTransport(api_key=API_KEY)
    assert API_KEY not in repr(dict(transport._client.headers))
    transport.close()


def test_errors_never_carry_the_key(make_http: Any) -> None:
    """A server that echoes the key in an error cannot get it into the exception."""
    echo = error_body("authentication_error", f"invalid x-api-key: {API_KEY}")
    transport, _ = make_http([json_response(401, echo)])
    with pytest.raises(AuthenticationError) as info:
        transport.send(PAYLOAD)
    error = info.value
    assert API_KEY not in str(error)
    assert API_KEY not in repr(error)
    assert API_KEY not in repr(error.body)
    assert "[redacted]" in str(error)
    assert API_KEY not in repr(pickle.loads(pickle.dumps(error)).__dict__)


def test_connection_errors_never_carry_the_key(make_http: Any) -> None:
    """Even an httpx error whose text contains the key is scrubbed."""
    transport, _ = make_http([httpx.ConnectError(f"failed with header {API_KEY}")], max_retries=0)
    with pytest.raises(APIConnectionError) as info:
        transport.send(PAYLOAD)
    assert API_KEY not in str(info.value)


def test_no_log_record_holds_the_key(
    caplog: pytest.LogCaptureFixture, make_http: Any, fake_sleep: FakeSleep
) -> None:
    """At DEBUG, through retries, errors, streams and counts, no record mentions the key."""
    caplog.set_level(logging.DEBUG)
    echo = error_body("overloaded_error", f"overloaded for {API_KEY}")
    stream = sse_response([sse_bytes(message_events(TEXT_MESSAGE))])
    transport, _ = make_http(
        [
            json_response(529, echo),
            httpx.ReadTimeout(f"timeout {API_KEY}"),
            json_response(200, TEXT_MESSAGE),
            stream,
            json_response(200, {"input_tokens": 3}),
            json_response(529, echo),
            json_response(529, echo),
            json_response(529, echo),
        ]
    )
    transport.send(PAYLOAD)
    transport.send_streaming(PAYLOAD)
    transport.count_tokens(PAYLOAD)
    with pytest.raises(OverloadedError):
        transport.send(PAYLOAD)
    assert any("retrying POST /v1/messages" in r.getMessage() for r in caplog.records)
    assert any(r.name == "convo.transport" and r.levelno == logging.DEBUG for r in caplog.records)
    assert API_KEY not in all_text(caplog.records)
    assert API_KEY not in caplog.text


def test_no_log_record_holds_the_key_over_a_real_socket(
    caplog: pytest.LogCaptureFixture, server: tuple[Script, str], fake_sleep: FakeSleep
) -> None:
    """httpx and httpcore DEBUG logs of a real connection do not show the key either."""
    caplog.set_level(logging.DEBUG)
    script, url = server
    script.add("json", 529, error_body("overloaded_error", "Overloaded"), {})
    script.add("json", 200, TEXT_MESSAGE, {})
    script.add("sse", message_events(TEXT_MESSAGE), None)
    with HTTPTransport(api_key=API_KEY, base_url=url, sleep=fake_sleep) as transport:
        transport.send(PAYLOAD)
        transport.send_streaming(PAYLOAD)
    assert script.received[0][1]["authorization"] == f"Bearer {API_KEY}"  # it was sent...
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert API_KEY not in all_text(caplog.records)  # ...and never logged


async def test_async_logs_and_errors_hold_no_key(
    caplog: pytest.LogCaptureFixture, make_async_http: Any, async_fake_sleep: AsyncFakeSleep
) -> None:
    """The async transport keeps the same promises."""
    caplog.set_level(logging.DEBUG)
    echo = error_body("authentication_error", f"bad key {API_KEY}")
    transport, _ = make_async_http([json_response(529, echo), json_response(401, echo)])
    with pytest.raises(TransportError) as info:
        await transport.send(PAYLOAD)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(transport)
    assert API_KEY not in all_text(caplog.records)

"""A server on 127.0.0.1 that echoes the API key everywhere it can: in JSON bodies,
response headers, the reason phrase and stream events (an ``error`` event inside a
200 stream included).  The key must reach no exception (str, repr, args, body,
request id, formatted traceback), no log record at any level of any logger
(httpx and httpcore at DEBUG included), no kept header and no cassette; sync and
async, with either credential header."""

from __future__ import annotations

import json
import logging
import pathlib
import pickle
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from convo.errors import ConvoError, OverloadedError, StreamError, TransportError
from convo.transport import (
    AsyncCassetteTransport,
    AsyncHTTPTransport,
    CassetteTransport,
    HTTPTransport,
    message_events,
)
from convo.transport._sse import encode_event
from tests.transport._support import PAYLOAD, TEXT_MESSAGE

KEY = "sk-ant-echo-0123456789abcdefSECRET"


def sent_key(headers: Any) -> str:
    """The key the client sent, from whichever credential header it used."""
    bearer = headers.get("authorization", "")
    return bearer.removeprefix("Bearer ") if bearer else headers.get("x-api-key", "")


class EchoHandler(BaseHTTPRequestHandler):
    """Answers by the body's ``metadata.user_id`` scenario, echoing the key."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        key = sent_key(self.headers)
        scenario = body.get("metadata", {}).get("user_id", "ok")
        if scenario == "overloaded":
            self.json(529, {"type": "error", "error": {"type": "overloaded_error", "message": f"no capacity for {key}"}, "request_id": f"req_{key}"}, key, reason=f"Overloaded {key}")
        elif scenario == "bad":
            self.json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": f"bad key {key}"}, "request_id": "req_bad"}, key)
        elif scenario == "not-json":
            raw = f"<html>proxy error for {key}</html>".encode()
            self.head(502, "text/html", key, len(raw))
            self.wfile.write(raw)
        elif scenario in ("stream-bad-name", "stream-bad-index"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(encode_event(message_events(TEXT_MESSAGE)[0]))
            if scenario == "stream-bad-name":
                self.wfile.write(f"event: {key}\ndata: {{not json {key}\n\n".encode())
            else:
                bad = {"type": "content_block_start", "index": key, "content_block": {"type": "text", "text": key}}
                self.wfile.write(encode_event(bad))
            self.close_connection = True
        elif scenario in ("stream", "stream-error"):
            events = message_events({**TEXT_MESSAGE, "content": [{"type": "text", "text": "hi"}]})
            if scenario == "stream-error":
                events = [*events[:3], {"type": "error", "error": {"type": "overloaded_error", "message": f"Overloaded {key}"}, "request_id": f"req_{key}"}]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("request-id", "req_stream")
            self.send_header("x-echo", key)
            self.send_header("connection", "close")
            self.end_headers()
            for event in events:
                self.wfile.write(encode_event(event))
            self.close_connection = True
        else:
            self.json(200, {**TEXT_MESSAGE, "id": "msg_echo"}, key)

    def head(self, status: int, kind: str, key: str, length: int, reason: str | None = None) -> None:
        self.send_response(status, reason)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(length))
        self.send_header("request-id", "req_echo")
        self.send_header("x-echo", key)
        self.send_header("x-proxy-debug", f"auth=Bearer {key}")
        self.end_headers()

    def json(self, status: int, data: Any, key: str, reason: str | None = None) -> None:
        raw = json.dumps(data).encode()
        self.head(status, "application/json", key, len(raw), reason)
        self.wfile.write(raw)


@pytest.fixture
def echo_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def payload(scenario: str) -> dict[str, Any]:
    return {**PAYLOAD, "metadata": {"user_id": scenario}}


def assert_clean_error(error: BaseException) -> None:
    """No trace of the key anywhere an exception can show it."""
    assert isinstance(error, ConvoError)
    texts = [
        str(error),
        repr(error),
        repr(error.args),
        repr(vars(error)),
        "".join(traceback.format_exception(error)),
        repr(pickle.loads(pickle.dumps(error)).__dict__),
    ]
    for text in texts:
        assert KEY not in text


def assert_clean_logs(records: list[logging.LogRecord]) -> None:
    assert any(r.name.startswith("httpcore") and r.levelno == logging.DEBUG for r in records)
    assert any(r.name == "httpx" for r in records)
    for record in records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
        assert KEY not in repr(record.__dict__)


SCENARIOS = [
    ("overloaded", OverloadedError),
    ("bad", TransportError),
    ("not-json", TransportError),
    ("stream-error", OverloadedError),
    ("stream-bad-name", StreamError),
    ("stream-bad-index", StreamError),
]


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_sync_echoed_key_reaches_nothing(
    echo_url: str, auth: str, caplog: pytest.LogCaptureFixture, tmp_path: pathlib.Path
) -> None:
    caplog.set_level(logging.DEBUG)
    cassette = tmp_path / "echo.json"
    inner = HTTPTransport(api_key=KEY, base_url=echo_url, auth=auth, max_retries=1, sleep=lambda s: None)  # type: ignore[arg-type]
    with CassetteTransport(cassette, "record", inner=inner) as api:
        reply = api.send(payload("ok"))
        assert reply["id"] == "msg_echo"
        streamed = api.send_streaming(payload("stream"))
        assert streamed["content"] == [{"type": "text", "text": "hi"}]
        for scenario, cls in SCENARIOS:
            call = api.send_streaming if scenario.startswith("stream") else api.send
            with pytest.raises(cls) as info:
                call(payload(scenario))
            assert_clean_error(info.value)
            if scenario not in ("stream-bad-name", "stream-bad-index"):
                assert "[redacted]" in str(info.value)
    direct = HTTPTransport(api_key=KEY, base_url=echo_url, auth=auth)  # type: ignore[arg-type]
    response = direct.send(payload("ok"))
    assert response.headers["x-echo"] == "[redacted]"
    with direct.stream(payload("stream")) as events:
        list(events)
        assert KEY not in repr(events.headers)
    direct.close()
    assert KEY not in cassette.read_text()
    assert_clean_logs(caplog.records)
    assert KEY not in caplog.text


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
async def test_async_echoed_key_reaches_nothing(
    echo_url: str, auth: str, caplog: pytest.LogCaptureFixture, tmp_path: pathlib.Path
) -> None:
    caplog.set_level(logging.DEBUG)
    cassette = tmp_path / "echo.json"

    async def no_wait(seconds: float) -> None:
        return None

    inner = AsyncHTTPTransport(api_key=KEY, base_url=echo_url, auth=auth, max_retries=1, sleep=no_wait)  # type: ignore[arg-type]
    async with AsyncCassetteTransport(cassette, "record", inner=inner) as api:
        assert (await api.send(payload("ok")))["id"] == "msg_echo"
        await api.send_streaming(payload("stream"))
        for scenario, cls in SCENARIOS:
            acall = api.send_streaming if scenario.startswith("stream") else api.send
            with pytest.raises(cls) as info:
                await acall(payload(scenario))
            assert_clean_error(info.value)
    assert KEY not in cassette.read_text()
    assert_clean_logs(caplog.records)
    assert KEY not in caplog.text

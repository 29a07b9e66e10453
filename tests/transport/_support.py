"""Helpers for the transport tests: sample messages, a fake clock, a mock API."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from convo.transport._sse import encode_event

API_KEY = "sk-ant-test-0123456789-SECRET-abcdef"

PAYLOAD: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Hello, Claude"}],
}

TEXT_MESSAGE: dict[str, Any] = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "stop_details": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 9,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}

TOOL_MESSAGE: dict[str, Any] = {
    "id": "msg_tool",
    "type": "message",
    "role": "assistant",
    "content": [
        {"type": "text", "text": "Let me check the weather."},
        {
            "type": "tool_use",
            "id": "toolu_01",
            "name": "get_weather",
            "input": {"location": "Paris, France", "unit": "celsius", "days": [1, 2.5, None]},
        },
        {"type": "tool_use", "id": "toolu_02", "name": "get_time", "input": {}},
    ],
    "model": "claude-sonnet-4-5",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "stop_details": None,
    "usage": {"input_tokens": 300, "output_tokens": 80},
}

THINKING_MESSAGE: dict[str, Any] = {
    "id": "msg_think",
    "type": "message",
    "role": "assistant",
    "content": [
        {
            "type": "thinking",
            "thinking": "The user asks about the capital. Paris is the capital of France. ünïcødé ✓",
            "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        },
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
        {
            "type": "text",
            "text": "The capital of France is Paris.",
            "citations": [
                {
                    "type": "char_location",
                    "cited_text": "Paris is the capital of France.",
                    "document_index": 0,
                    "document_title": "Facts",
                    "start_char_index": 0,
                    "end_char_index": 31,
                }
            ],
        },
    ],
    "model": "claude-opus-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "stop_details": None,
    "usage": {"input_tokens": 50, "output_tokens": 120, "cache_read_input_tokens": 10},
}

MESSAGES = {"text": TEXT_MESSAGE, "tool": TOOL_MESSAGE, "thinking": THINKING_MESSAGE}


class FakeSleep:
    """Records the waits a transport asks for; never sleeps."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class AsyncFakeSleep(FakeSleep):
    """The awaitable twin of :class:`FakeSleep`."""

    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.delays.append(seconds)


def error_body(kind: str, message: str, request_id: str = "req_body") -> dict[str, Any]:
    """The API's error body."""
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON response with a request-id."""
    return httpx.Response(
        status, json=body, headers={"request-id": f"req_{status}", **(headers or {})}
    )


def sse_bytes(events: Iterable[dict[str, Any]]) -> bytes:
    """The wire form of a sequence of events."""
    return b"".join(encode_event(e) for e in events)


class SSEBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body of ``chunks``, optionally failing after them; records closing."""

    def __init__(self, chunks: Iterable[bytes], error: Exception | None = None) -> None:
        self.chunks = list(chunks)
        self.error = error
        self.sent = 0
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def sse_response(
    chunks: Iterable[bytes] | SSEBody, *, status: int = 200, error: Exception | None = None
) -> httpx.Response:
    """A streamed SSE response made of ``chunks``, optionally failing after them."""
    body = chunks if isinstance(chunks, SSEBody) else SSEBody(chunks, error)
    return httpx.Response(
        status,
        headers={"content-type": "text/event-stream", "request-id": "req_stream"},
        stream=body,
    )


class MockAPI:
    """A scripted Messages API for ``httpx.MockTransport``.

    ``replies`` are used in order: an ``httpx.Response``, an exception to
    raise, or a callable ``request -> Response``.  ``requests`` records
    what was sent (method, path, headers, JSON body).
    """

    def __init__(self, replies: Iterable[Any]) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []
        self.bodies: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(json.loads(request.content))
        if not self.replies:
            raise AssertionError("MockAPI: no reply left")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            return reply(request)  # type: ignore[no-any-return]
        return reply  # type: ignore[no-any-return]

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)


class Script:
    """What the server answers, in order, and what it received."""

    def __init__(self) -> None:
        self.replies: list[tuple[Any, ...]] = []
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.lock = threading.Lock()

    def add(self, *reply: Any) -> None:
        self.replies.append(reply)

    def next(self, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
        with self.lock:
            self.received.append((path, headers, body))
            return self.replies.pop(0) if self.replies else ("json", 500, {"no": "reply left"}, {})


def make_handler(script: Script) -> type[BaseHTTPRequestHandler]:
    """A handler speaking the Messages API from ``script``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = script.next(self.path, headers, body)
            if reply[0] == "json":
                _, status, data, extra = reply
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.send_header("request-id", f"req_live_{len(script.received)}")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
            else:
                _, events, break_after = reply
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.send_header("request-id", "req_live_stream")
                self.end_headers()
                for n, event in enumerate(events):
                    data = encode_event(event)
                    if break_after is not None and n == break_after:
                        # Half a chunk, then the connection dies.
                        self.wfile.write(f"{len(data):X}\r\n".encode() + data[:10])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

    return Handler

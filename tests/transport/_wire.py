"""A scripted Messages API for the contract tests: a neutral reply list served
by ``httpx``/``httpx2`` mock transports or by a real server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from convo.transport._sse import encode_event

# -- the neutral script ---------------------------------------------------------


def reply_json(status: int, body: Any, request_id: str, **headers: str) -> tuple[Any, ...]:
    return ("json", status, body, {"request-id": request_id, **headers})


def reply_sse(
    events: list[dict[str, Any]], request_id: str = "req_sse", break_after: int | None = None
) -> tuple[Any, ...]:
    return ("sse", events, request_id, break_after)


@dataclass
class Wire:
    """The scripted API: replies in order; what it received."""

    replies: list[tuple[Any, ...]]
    received: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, path: str, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
        with self.lock:
            self.received.append((path, headers, body))
            if not self.replies:
                return reply_json(
                    500, {"no": "reply left"}, "req_none", **{"x-should-retry": "false"}
                )
            return self.replies.pop(0)


def mock_response(module: Any, wire: Wire, request: Any) -> Any:
    """An httpx or httpx2 response for the next reply (the two share this API)."""
    reply = wire.next(
        request.url.path,
        {k.lower(): v for k, v in request.headers.items()},
        json.loads(request.content),
    )
    if reply[0] == "connect-error":
        raise module.ConnectError("connection refused", request=request)
    if reply[0] == "json":
        _, status, body, headers = reply
        return module.Response(status, json=body, headers=headers)
    _, events, request_id, break_after = reply
    chunks = [encode_event(e) for e in events]
    headers = {"content-type": "text/event-stream", "request-id": request_id}
    if break_after is None:
        return module.Response(200, content=b"".join(chunks), headers=headers)

    def broken() -> Iterator[bytes]:
        yield from chunks[:break_after]
        raise module.ReadError("connection reset mid-stream", request=request)

    async def abroken() -> AsyncIterator[bytes]:
        for chunk in chunks[:break_after]:
            yield chunk
        raise module.ReadError("connection reset mid-stream", request=request)

    class Body(module.SyncByteStream, module.AsyncByteStream):  # type: ignore[misc, name-defined]
        """A body that breaks after some chunks, sync or async."""

        def __iter__(self) -> Iterator[bytes]:
            return broken()

        def __aiter__(self) -> AsyncIterator[bytes]:
            return abroken()

    return module.Response(200, stream=Body(), headers=headers)


def _handler(wire: Wire) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = wire.next(self.path, headers, body)
            if reply[0] == "connect-error":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if reply[0] == "json":
                _, status, data, extra = reply
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
                return
            _, events, request_id, break_after = reply
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", request_id)
            self.end_headers()
            for n, event in enumerate(events):
                data = encode_event(event)
                if break_after is not None and n == break_after:
                    self.wfile.write(f"{len(data):X}\r\n".encode() + data[:10])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the script broke on purpose


@contextmanager
def live_server() -> Iterator[tuple[Wire, str]]:
    """A real HTTP server on 127.0.0.1 answering from a ``Wire``; its URL."""
    wire = Wire([])
    httpd = _QuietServer(("127.0.0.1", 0), _handler(wire))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield wire, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

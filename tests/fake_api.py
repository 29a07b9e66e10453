"""A fake Messages API on 127.0.0.1 that answers from what it is sent.

It is a real HTTP server (``ThreadingHTTPServer``), so the chat layer is
tested through real transports, sockets and SSE.  Replies depend only on
the request, so concurrent clients get consistent answers:

* the last message holds ``tool_result`` blocks: ``"Result: <their text>"``;
* the last user text contains ``weather`` (and the request has tools): a
  ``get_weather`` call with ``{"city": <the word after "in">}``;
* ``loop`` (with tools): a ``get_weather`` call, every time;
* ``fail`` (with tools): a call of ``explode``;
* ``pause``: a ``pause_turn`` reply; sent back, it is continued with ``"done."``;
* ``think``: a thinking block, then text;
* ``OVERLOADED`` in the last message: a 529 ``overloaded_error``;
* ``break`` while streaming: the connection drops mid-reply;
* anything else: ``"You said: <text>"``.

Every reply has a fresh ``msg_N`` id (``served`` lists them), so a test
can count the replies it paid for.  ``delay`` seconds are slept before
answering (to make concurrent sends overlap).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from convo.transport import message_events
from convo.transport._sse import encode_event

API_KEY = "sk-ant-fake-0000"


class FakeAPI:
    """The state of one fake server: what it received and served."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.served: list[str] = []
        self.url = ""

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            number = len(self.served) + 1
            msg_id = f"msg_{number:04d}"
            self.served.append(msg_id)
        content, stop = _answer(body)
        return {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-opus-4-6"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 10 + len(body.get("messages", ())), "output_tokens": 7},
        }


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if block.get("type") == "text":
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            inner = block.get("content")
            parts.append(inner if isinstance(inner, str) else _text_of({"content": inner}))
    return " ".join(parts)


def _is_results(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)


def _answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    messages = body.get("messages") or [{}]
    last = messages[-1]
    has_tools = bool(body.get("tools"))
    if last.get("role") == "assistant":  # a paused reply sent back: continue it
        return [{"type": "text", "text": " done."}], "end_turn"
    blocks = last.get("content")
    prompts = [_text_of(m) for m in messages if m.get("role") == "user" and not _is_results(m)]
    if has_tools and prompts and "loop" in prompts[-1].lower().split():
        call = {"type": "tool_use", "id": f"toolu_{len(messages)}", "name": "get_weather", "input": {"city": "Paris"}}
        return [call], "tool_use"
    if isinstance(blocks, list) and any(b.get("type") == "tool_result" for b in blocks):
        errors = [b for b in blocks if b.get("is_error")]
        prefix = "Error seen: " if errors else "Result: "
        return [{"type": "text", "text": prefix + _text_of(last)}], "end_turn"
    text = _text_of(last)
    words = text.lower().replace("?", "").split()
    if has_tools and ("weather" in words or "loop" in words):
        city = words[words.index("in") + 1].capitalize() if "in" in words[:-1] else "Paris"
        call = {"type": "tool_use", "id": f"toolu_{len(messages)}", "name": "get_weather", "input": {"city": city}}
        return [{"type": "text", "text": "Let me check."}, call], "tool_use"
    if has_tools and "fail" in words:
        call = {"type": "tool_use", "id": f"toolu_{len(messages)}", "name": "explode", "input": {}}
        return [call], "tool_use"
    if "pause" in words:
        return [{"type": "text", "text": "Working on it..."}], "pause_turn"
    if "think" in words:
        return [
            {"type": "thinking", "thinking": "Let me think about it.", "signature": "sig"},
            {"type": "text", "text": "Thought it over."},
        ], "end_turn"
    return [{"type": "text", "text": f"You said: {text}"}], "end_turn"


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length))
            with api.lock:
                api.requests.append(body)
                api.headers.append({k.lower(): v for k, v in self.headers.items()})
            if api.delay:
                time.sleep(api.delay)
            if self.path.endswith("/count_tokens"):
                self._json({"input_tokens": 10 * len(body.get("messages", ()))}, "req_count")
                return
            if "OVERLOADED" in _text_of(body["messages"][-1]):
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
                self._json(error, "req_busy", status=529)
                return
            message = api.reply(body)
            request_id = "req_" + message["id"][4:]
            if not body.get("stream"):
                self._json(message, request_id)
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("request-id", request_id)
            self.end_headers()
            broken = "break" in _text_of(body["messages"][-1]).lower()
            events = message_events(message, chunk_size=4)
            for n, event in enumerate(events):
                data = encode_event(event)
                if broken and n == len(events) // 2:
                    self.wfile.write(f"{len(data):X}\r\n".encode() + data[:10])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def _json(self, data: dict[str, Any], request_id: str, status: int = 200) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.send_header("request-id", request_id)
            self.end_headers()
            self.wfile.write(raw)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection the server broke on purpose


@contextmanager
def fake_api(delay: float = 0.0) -> Iterator[FakeAPI]:
    """Serve a ``FakeAPI`` on 127.0.0.1 for the ``with`` block (``api.url``)."""
    api = FakeAPI(delay)
    httpd = _QuietServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    api.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield api
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

"""A chatbot web service on convo: a plain ASGI app, shaped like a FastAPI one.

No web framework is needed (any ASGI server runs it: ``uvicorn
examples.asgi_bot:app``, with ``CONVO_DB`` and ``ANTHROPIC_API_KEY`` set).
Each route is a few lines of ``AsyncChat``:

==========================  =====================  =========================================
route                       body                   answer
==========================  =====================  =========================================
``POST /threads``           ``{"system"?}``        ``{"thread"}``: a new thread, settings saved
``GET /threads``                                   ``[{"id", "length", "title"}]``
``POST /threads/T/send``    ``{"text"}``           ``{"text", "stop_reason"}``
``POST /threads/T/stream``  ``{"text"}``           ``text/event-stream``: one SSE frame per event
``POST /threads/T/run``     ``{"text"}``           ``{"text", "turns"}``: the tool loop, tools below
``POST /threads/T/fork``    ``{"at"}``             ``{"thread"}``
==========================  =====================  =========================================

With FastAPI, the streaming route is the same one line::

    return StreamingResponse(chat.stream(text).sse(), media_type="text/event-stream")

Every chat uses ``conflict="rebase"``: two requests on one thread at once
both land on it (the earlier paid reply stays reachable as a branch).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from convo.chat import AsyncChat
from convo.store import AsyncStore
from convo.transport import AsyncHTTPTransport, AsyncTransport

MODEL = "claude-opus-4-6"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def get_weather(city: str) -> dict[str, Any]:
    """The current weather in a city.

    Args:
        city: the city's name, e.g. "Paris".
    """
    return {"city": city, "temperature_c": 18, "sky": "sunny"}


TOOLS = {"get_weather": get_weather}


def make_app(store: AsyncStore, transport: AsyncTransport, *, model: str = MODEL) -> Callable[..., Awaitable[None]]:
    """The ASGI app over ``store`` and ``transport``."""

    async def chat_on(thread: str) -> AsyncChat:
        return await AsyncChat.reopen(store, transport, thread, conflict="rebase")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, parts = scope["method"], [p for p in scope["path"].split("/") if p]
        body = await _body(receive)
        if parts == ["threads"] and method == "POST":
            thread = uuid.uuid4().hex
            chat = await AsyncChat.open(store, transport, thread, model=model, system=body.get("system"))
            await chat.configure()  # saves the new, empty thread with its settings
            await _json(send, {"thread": thread}, 201)
        elif parts == ["threads"] and method == "GET":
            infos = await store.threads()
            await _json(send, [{"id": i.id, "length": i.length, "title": i.title} for i in infos])
        elif len(parts) == 3 and parts[0] == "threads" and method == "POST":
            await _step(send, await chat_on(parts[1]), parts[2], body)
        else:
            await _json(send, {"error": "not found"}, 404)

    return app


async def _step(send: Send, chat: AsyncChat, verb: str, body: dict[str, Any]) -> None:
    if verb == "send":
        turn = await chat.send(body["text"])
        await _json(send, {"text": turn.text, "stop_reason": turn.info.stop_reason})
    elif verb == "stream":
        await _stream(send, chat.stream(body["text"]).sse())
    elif verb == "run":
        before = len(chat.conversation)
        turn = await chat.run(body["text"], tools=TOOLS)
        await _json(send, {"text": turn.text, "turns": len(chat.conversation) - before})
    elif verb == "fork":
        fork = await chat.fork(int(body["at"]))
        await _json(send, {"thread": fork.thread}, 201)
    else:
        await _json(send, {"error": "not found"}, 404)


async def _body(receive: Receive) -> dict[str, Any]:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    raw = b"".join(chunks)
    return json.loads(raw) if raw else {}


async def _json(send: Send, data: Any, status: int = 200) -> None:
    raw = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _stream(send: Send, frames: AsyncIterator[str]) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for frame in frames:
        await send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _default_app() -> Callable[..., Awaitable[None]]:
    store = AsyncStore(os.environ.get("CONVO_DB"))
    return make_app(store, AsyncHTTPTransport())


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The app an ASGI server imports (built on first use from the environment)."""
    global _APP  # noqa: PLW0603 (built lazily: importing the module must not need a key)
    if _APP is None:
        _APP = _default_app()
    await _APP(scope, receive, send)


_APP: Callable[..., Awaitable[None]] | None = None

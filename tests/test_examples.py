"""examples/asgi_bot.py, driven as a web client would, against a fake Messages API
on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from convo.store import AsyncStore
from convo.transport import AsyncHTTPTransport
from tests.fake_api import API_KEY, FakeAPI

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def frames(body: str) -> list[dict[str, Any]]:
    events = []
    for frame in body.strip().split("\n\n"):
        kind, data = frame.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {event['type']}"
        events.append(event)
    return events


async def test_asgi_bot(api: FakeAPI, chat_db: str) -> None:
    """Start a thread, send, stream, run tools, fork, list threads."""
    bot = load("asgi_bot")
    async with AsyncStore(chat_db) as store, AsyncHTTPTransport(api_key=API_KEY, base_url=api.url) as t:
        app = bot.make_app(store, t)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as web:
            created = await web.post("/threads", json={"system": "Be brief."})
            assert created.status_code == 201
            thread = created.json()["thread"]

            sent = await web.post(f"/threads/{thread}/send", json={"text": "hello"})
            assert sent.json() == {"text": "You said: hello", "stop_reason": "end_turn"}

            streamed = await web.post(f"/threads/{thread}/stream", json={"text": "stream this"})
            assert streamed.headers["content-type"] == "text/event-stream"
            events = frames(streamed.text)
            assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "You said: stream this"
            assert [e["type"] for e in events][-2:] == ["turn_end", "finished"]

            ran = await web.post(f"/threads/{thread}/run", json={"text": "weather in Rome?"})
            assert ran.json()["turns"] == 4
            assert ran.json()["text"].startswith('Result: {"city": "Rome"')

            forked = await web.post(f"/threads/{thread}/fork", json={"at": 2})
            fork = forked.json()["thread"]
            again = await web.post(f"/threads/{fork}/send", json={"text": "on the fork"})
            assert again.json()["text"] == "You said: on the fork"

            listed = {i["id"]: i["length"] for i in (await web.get("/threads")).json()}
            assert listed == {thread: 8, fork: 4}
            assert (await web.get("/nowhere")).status_code == 404

        saved = await store.load(thread)
        assert saved.system == "Be brief."
        assert [t.role for t in saved] == ["user", "assistant"] * 4
        assert (await store.info(fork)).meta["request"]["model"] == bot.MODEL
        assert api.requests[0]["system"] == "Be brief."
        assert api.requests[2]["tools"][0]["name"] == "get_weather"

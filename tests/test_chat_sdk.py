"""Chat and AsyncChat over the official SDK, against a real HTTP server on 127.0.0.1,
saved on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from sqlalchemy import Engine, create_engine, make_url

from convo.chat import AsyncChat, Chat
from convo.errors import OverloadedError, RequestParamError
from convo.store import AsyncStore, Store
from convo.transport import AnthropicTransport, AsyncAnthropicTransport, message_events
from tests.store.conftest import PG_SKIP, pg_schema, pg_url
from tests.transport._support import API_KEY, error_body
from tests.transport._wire import Wire, live_server, reply_json, reply_sse

MODEL = "claude-opus-4-6"


def message(content: list[dict[str, Any]], stop: str, number: int) -> dict[str, Any]:
    return {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 20 + number, "output_tokens": 5},
    }


TOOL_CALL = message(
    [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
    "tool_use",
    1,
)
ANSWER = message([{"type": "text", "text": "18 °C and sunny."}], "end_turn", 2)
STREAMED = message([{"type": "text", "text": "Anything else I can check for you?"}], "end_turn", 3)
OVERLOADED = reply_json(
    529, error_body("overloaded_error", "busy"), "req_busy", **{"retry-after-ms": "1"}
)
TOOLS = [{"name": "weather", "input_schema": {"type": "object"}}]


def script() -> list[tuple[Any, ...]]:
    return [
        reply_json(200, TOOL_CALL, "req_1"),
        reply_json(200, ANSWER, "req_2"),
        reply_sse(message_events(STREAMED, chunk_size=6), "req_3"),
        OVERLOADED,
        OVERLOADED,
    ]


@pytest.fixture(scope="module")
def pg_admin() -> Iterator[Engine | None]:
    url = pg_url()
    if url is None:
        yield None
        return
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_admin: Engine | None
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chat.db'}"
        return
    if pg_admin is None:
        pytest.skip(PG_SKIP)
    with pg_schema(pg_admin) as url:
        yield url


@pytest.fixture
def live() -> Iterator[tuple[Wire, str]]:
    with live_server() as served:
        yield served


def check_wire(wire: Wire) -> None:
    """Every request carried the chat's tools and the beta header; five attempts in all."""
    assert len(wire.received) == 5
    for _, headers, body in wire.received:
        assert body["tools"] == TOOLS
        assert headers["anthropic-beta"] == "beta-x"
        assert API_KEY in headers["authorization"]
    assert wire.received[2][2]["stream"] is True
    assert [h["x-stainless-retry-count"] for _, h, _ in wire.received[3:]] == ["0", "1"]


def test_chat_over_the_sdk(live: tuple[Wire, str], db_url: str) -> None:
    """A tool round, a streamed reply, an overloaded API: saved exactly as it went."""
    wire, url = live
    wire.replies[:] = script()
    with (
        anthropic.Anthropic(api_key=API_KEY, base_url=url, max_retries=1) as client,
        Store(db_url) as store,
    ):
        transport = AnthropicTransport(client, betas=["beta-x"])
        chat = Chat.open(store, transport, "t1", model=MODEL, params={"tools": TOOLS})
        turn = chat.send("Weather in Paris?", max_tokens=100)
        assert chat.stop_reason == "tool_use"
        assert turn.info.request_id == "req_1"
        turn = chat.tool_results({call.id: "18 °C" for call in chat.tool_calls})
        assert turn.text == "18 °C and sunny."
        deltas: list[str] = []
        turn = chat.send("Thanks!", stream=True, on_text=deltas.append)
        assert "".join(deltas) == turn.text == STREAMED["content"][0]["text"]
        assert turn.info.request_id == "req_3"
        before = store.load("t1")
        with pytest.raises(OverloadedError) as info:
            chat.send("One more?")
        assert info.value.attempts == 2
        bad: dict[str, Any] = {"max_token": 1}
        with pytest.raises(RequestParamError):
            chat.send("typo", **bad)
        assert store.load("t1") == before == chat.conversation
        assert len(before) == 6
        assert [t.info.usage.input_tokens for t in before if t.info.usage] == [21, 22, 23]
    check_wire(wire)


async def test_async_chat_over_the_sdk(live: tuple[Wire, str], db_url: str) -> None:
    """The same, with AsyncChat, AsyncStore and AsyncAnthropicTransport."""
    wire, url = live
    wire.replies[:] = script()
    async with (
        anthropic.AsyncAnthropic(api_key=API_KEY, base_url=url, max_retries=1) as client,
        AsyncStore(db_url) as store,
    ):
        transport = AsyncAnthropicTransport(client, betas=["beta-x"])
        chat = await AsyncChat.open(store, transport, "t1", model=MODEL, params={"tools": TOOLS})
        await chat.send("Weather in Paris?", max_tokens=100)
        assert chat.stop_reason == "tool_use"
        turn = await chat.tool_results({call.id: "18 °C" for call in chat.tool_calls})
        assert turn.info.request_id == "req_2"
        deltas: list[str] = []
        turn = await chat.send("Thanks!", stream=True, on_text=deltas.append)
        assert "".join(deltas) == turn.text
        before = await store.load("t1")
        with pytest.raises(OverloadedError) as info:
            await chat.send("One more?")
        assert info.value.attempts == 2
        assert await store.load("t1") == before == chat.conversation
        assert len(before) == 6
    check_wire(wire)

"""The tool runner, streaming as iteration and thread settings, sync and async,
against a fake Messages API on 127.0.0.1, saved on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convo import TextBlock
from convo.chat import (
    AsyncChat,
    Chat,
    ChatStateError,
    Finished,
    TextDelta,
    ThinkingDelta,
    ThreadSettings,
    ToolCallStart,
    ToolInputDelta,
    ToolLoopError,
    ToolRan,
    ToolSchemaError,
    TurnEnd,
    tool_schema,
)
from convo.errors import OverloadedError, StreamError
from convo.store import AsyncStore, Store
from convo.transport import AsyncHTTPTransport, HTTPTransport, ScriptedTransport
from tests.fake_api import API_KEY, FakeAPI

MODEL = "claude-opus-4-6"


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, Any]:
    """The current weather in a city.

    Args:
        city: the city's name, e.g. "Paris".
        unit: the temperature unit.
    """
    return {"city": city, "temp": 18 if unit == "C" else 64, "unit": unit}


def explode() -> str:
    """Always fails."""
    raise RuntimeError("the tool broke")


async def aget_weather(city: str) -> str:
    """The weather, asynchronously."""
    await asyncio.sleep(0)
    return f"{city}: 18 C"


TOOLS = {"get_weather": get_weather, "explode": explode}


def transport(api: FakeAPI, **options: Any) -> HTTPTransport:
    return HTTPTransport(api_key=API_KEY, base_url=api.url, max_retries=0, **options)


def atransport(api: FakeAPI) -> AsyncHTTPTransport:
    return AsyncHTTPTransport(api_key=API_KEY, base_url=api.url, max_retries=0)


# -- tool_schema ---------------------------------------------------------------


def test_tool_schema_from_signature_annotations_and_docstring() -> None:
    """Types, defaults, Literal, descriptions from Args: and Annotated."""

    def search(
        query: Annotated[str, "what to look for"],
        limit: int = 10,
        tags: list[str] | None = None,
        weights: dict[str, float] | None = None,
        exact: bool = False,
    ) -> str:
        """Search the notes.

        Args:
            limit: at most this many hits.
        """
        return query

    assert tool_schema(search) == {
        "name": "search",
        "description": "Search the notes.",
        "input_schema": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "limit": {"type": "integer", "description": "at most this many hits."},
                "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                "weights": {
                    "anyOf": [
                        {"type": "object", "additionalProperties": {"type": "number"}},
                        {"type": "null"},
                    ]
                },
                "exact": {"type": "boolean"},
            },
            "required": ["query"],
        },
    }
    schema = tool_schema(get_weather, name="weather-now")
    assert schema["name"] == "weather-now"
    assert schema["description"] == "The current weather in a city."
    assert schema["input_schema"]["properties"]["unit"] == {
        "enum": ["C", "F"],
        "description": "the temperature unit.",
    }
    assert schema["input_schema"]["properties"]["city"]["description"] == 'the city\'s name, e.g. "Paris".'


@pytest.mark.parametrize(
    ("fn", "name", "match"),
    [
        (lambda x: x, None, "tool name '<lambda>'"),
        (get_weather, "bad name", "does not match"),
        (get_weather, "x" * 129, "does not match"),
    ],
)
def test_tool_schema_refuses_bad_names(fn: Any, name: str | None, match: str) -> None:
    """Names outside ^[a-zA-Z0-9_-]{1,128}$ are refused with ToolSchemaError."""
    with pytest.raises(ToolSchemaError, match=match):
        tool_schema(fn, name=name)


def test_tool_schema_refuses_what_json_schema_cannot_say() -> None:
    """Unannotated, variadic and unsupported parameters: a clear error."""

    def untyped(x) -> None:  # type: ignore[no-untyped-def]
        del x

    def variadic(*args: int) -> None:
        del args

    def odd(x: complex) -> None:
        del x

    for fn, match in [(untyped, "no annotation"), (variadic, "by keyword"), (odd, "no JSON Schema")]:
        with pytest.raises(ToolSchemaError, match=match) as info:
            tool_schema(fn)
        assert info.value.tool == fn.__name__


# -- the tool runner -----------------------------------------------------------


def test_run_calls_tools_and_saves_each_step(api: FakeAPI, chat_db: str) -> None:
    """run: a tool call to a local function, its result sent, the final turn returned."""
    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        turn = chat.run("What is the weather in Rome?", tools=TOOLS)
        assert turn.text == 'Result: {"city": "Rome", "temp": 18, "unit": "C"}'
        assert chat.stop_reason == "end_turn"
        saved = store.load("t1")
        assert saved == chat.conversation
        assert [(t.role, t.origin) for t in saved] == [
            ("user", "human"), ("assistant", "model"), ("user", "tool"), ("assistant", "model")
        ]
        assert len(api.requests) == 2
        assert api.requests[0]["tools"] == [tool_schema(get_weather), tool_schema(explode)]
        assert api.requests[1]["tools"] == api.requests[0]["tools"]


def test_run_turns_exceptions_into_is_error_results(api: FakeAPI) -> None:
    """A tool that raises: the model sees an is_error result with the message."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        turn = chat.run("please fail", tools=TOOLS)
        assert turn.text == "Error seen: RuntimeError: the tool broke"
        results = api.requests[1]["messages"][-1]["content"]
        assert results[0]["is_error"] is True
        chat.run("now fail again", tools={"get_weather": get_weather})  # explode is unknown
        unknown = api.requests[3]["messages"][-1]["content"][0]
        assert unknown["is_error"] is True
        assert "unknown tool 'explode'" in unknown["content"]


def test_run_continues_paused_replies(api: FakeAPI) -> None:
    """pause_turn is continued: the thread keeps one joined reply."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        turn = chat.run("pause for a moment", tools=TOOLS)
        assert turn.text == "Working on it... done."
        assert len(chat.conversation) == 2
        assert len(api.requests) == 2
        assert api.requests[1]["messages"][-1]["role"] == "assistant"


def test_run_guard_stops_a_runaway_loop_and_loses_nothing(api: FakeAPI, chat_db: str) -> None:
    """max_steps: a clear ToolLoopError; every step up to then saved; run(None) goes on."""
    calls: list[str] = []

    def counting_weather(city: str) -> str:
        calls.append(city)
        return "sunny"

    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        with pytest.raises(ToolLoopError, match="max_steps=3") as info:
            chat.run("loop forever", tools={"get_weather": counting_weather}, max_steps=3)
        assert info.value.steps == 3
        assert info.value.thread_id == "t1"
        assert len(api.requests) == 3
        assert len(calls) == 2  # the third reply's call has not run
        saved = store.load("t1")
        assert saved == chat.conversation
        assert len(saved) == 6
        assert chat.stop_reason == "tool_use"
        with pytest.raises(ToolLoopError):
            chat.run(None, tools={"get_weather": counting_weather}, max_steps=1)
        assert len(calls) == 3
        assert len(store.load("t1")) == 8


def test_run_step_is_all_or_nothing(api: FakeAPI, chat_db: str) -> None:
    """The API fails on the second step: the first is saved, the failed one is not."""
    def get_weather(city: str) -> str:
        return "OVERLOADED"

    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        with pytest.raises(OverloadedError):
            chat.run("weather in Oslo", tools={"get_weather": get_weather})
        assert len(store.load("t1")) == 2
        assert chat.conversation == store.load("t1")
        assert chat.stop_reason == "tool_use"
        assert chat.run(None, tools=TOOLS).text.startswith("Result:")
        assert len(store.load("t1")) == 4


def test_sync_run_refuses_coroutine_tools(api: FakeAPI) -> None:
    """A coroutine function on the sync Chat: ChatStateError before anything is sent."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        with pytest.raises(ChatStateError, match="AsyncChat"):
            chat.run("weather in Oslo", tools={"get_weather": aget_weather})
        assert api.requests == []


async def test_async_run_awaits_coroutine_tools(api: FakeAPI, chat_db: str) -> None:
    """AsyncChat.run: coroutine functions awaited, plain functions called."""
    async with AsyncStore(chat_db) as store, atransport(api) as t:
        chat = await AsyncChat.open(store, t, "t1", model=MODEL)
        turn = await chat.run("weather in Lima", tools={"get_weather": aget_weather})
        assert turn.text == "Result: Lima: 18 C"
        turn = await chat.run("please fail", tools={"explode": explode})
        assert turn.text.startswith("Error seen: RuntimeError")
        assert await store.load("t1") == chat.conversation
        assert len(chat.conversation) == 8
        with pytest.raises(ToolLoopError):
            await chat.run("loop", tools={"get_weather": aget_weather}, max_steps=2)
        assert len(await store.load("t1")) == 8 + 4


# -- streaming as iteration --------------------------------------------------


def kinds(events: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for event in events:
        name = type(event).__name__
        if not out or out[-1] != name:
            out.append(name)
    return out


def test_stream_yields_typed_events_and_saves(api: FakeAPI, chat_db: str) -> None:
    """Text deltas, a saved TurnEnd, Finished last; the text is the turn's."""
    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        events = list(chat.stream("hello there"))
        assert kinds(events) == ["TextDelta", "TurnEnd", "Finished"]
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        final = events[-1]
        assert isinstance(final, Finished)
        assert text == final.turn.text == "You said: hello there"
        assert final.turn.info.request_id is not None
        assert store.load("t1").head == final.turn
        thinking = list(chat.stream("think hard"))
        assert kinds(thinking) == ["ThinkingDelta", "TextDelta", "TurnEnd", "Finished"]
        assert "".join(e.thinking for e in thinking if isinstance(e, ThinkingDelta)) == "Let me think about it."
        assert api.requests[0]["stream"] is True


def test_stream_of_a_tool_loop_marks_turn_boundaries(api: FakeAPI) -> None:
    """With tools: tool-call start and input deltas, ToolRan, a TurnEnd between replies."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        events = list(chat.stream("weather in Oslo", tools=TOOLS))
        assert kinds(events) == [
            "TextDelta", "ToolCallStart", "ToolInputDelta", "TurnEnd", "ToolRan",
            "TextDelta", "TurnEnd", "Finished",
        ]
        start = next(e for e in events if isinstance(e, ToolCallStart))
        assert start.name == "get_weather"
        assert start.step == 1
        partial = "".join(e.partial_json for e in events if isinstance(e, ToolInputDelta))
        assert json.loads(partial) == {"city": "Oslo"}
        ran = next(e for e in events if isinstance(e, ToolRan))
        assert ran.is_error is False
        assert ran.call.input == {"city": "Oslo"}
        ends = [e for e in events if isinstance(e, TurnEnd)]
        assert [e.step for e in ends] == [1, 2]
        assert [e.turn for e in ends] == [chat.conversation[1], chat.conversation[3]]
        second = [e.text for e in events if isinstance(e, TextDelta) and e.step == 2]
        assert "".join(second) == chat.conversation[3].text


def test_a_broken_stream_saves_nothing(api: FakeAPI, chat_db: str) -> None:
    """The connection drops mid-reply: StreamError, thread and chat unchanged."""
    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        chat.send("hi")
        before = store.info("t1")
        seen: list[Any] = []
        with pytest.raises(StreamError):
            seen.extend(chat.stream("break it please"))
        assert any(isinstance(e, TextDelta) for e in seen)
        assert not any(isinstance(e, TurnEnd | Finished) for e in seen)
        assert store.info("t1") == before
        assert chat.conversation == store.load("t1")
        assert len(chat.conversation) == 2


def test_leaving_a_stream_early_saves_nothing(api: FakeAPI) -> None:
    """A consumer that stops after the first delta: nothing saved."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        with chat.stream("a long answer please") as events:
            first = next(events)
        assert isinstance(first, TextDelta)
        assert len(chat.conversation) == 0
        assert store.threads() == []
        assert chat.send("again").text == "You said: again"


def test_stream_views_and_the_callback(api: FakeAPI) -> None:
    """text() and sse() views; send(stream=True, on_text=...) rides on the events."""
    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        assert "".join(chat.stream("one").text()) == "You said: one"
        frames = list(chat.stream("two").sse())
        assert frames[0].startswith("event: text_delta\ndata: {")
        last = frames[-1].split("\n")
        assert last[0] == "event: finished"
        assert json.loads(last[1][len("data: "):])["turn"]["content"] == [
            {"type": "text", "text": "You said: two"}
        ]
        pieces: list[str] = []
        turn = chat.send("three", stream=True, on_text=pieces.append)
        assert "".join(pieces) == turn.text == "You said: three"
        assert len(store.load("t1")) == 6


async def test_async_stream(api: FakeAPI, chat_db: str) -> None:
    """async for over AsyncChat.stream: the same events; a broken stream saves nothing."""
    async with AsyncStore(chat_db) as store, atransport(api) as t:
        chat = await AsyncChat.open(store, t, "t1", model=MODEL)
        events = [e async for e in chat.stream("hello")]
        assert kinds(events) == ["TextDelta", "TurnEnd", "Finished"]
        loop = [e async for e in chat.stream("weather in Oslo", tools={"get_weather": aget_weather})]
        assert [type(e) for e in loop if isinstance(e, TurnEnd | ToolRan)] == [TurnEnd, ToolRan, TurnEnd]
        before = await store.info("t1")
        with pytest.raises(StreamError):
            async for _ in chat.stream("break now"):
                pass
        assert await store.info("t1") == before
        text = [piece async for piece in chat.stream("plain").text()]
        assert "".join(text) == "You said: plain"
        async with chat.stream("left early") as stream:
            async for _ in stream:
                break
        assert len(chat.conversation) == len(await store.load("t1")) == 8
        pieces: list[str] = []

        async def collect(piece: str) -> None:
            pieces.append(piece)

        turn = await chat.send("cb", stream=True, on_text=collect)
        assert "".join(pieces) == turn.text


def test_events_are_frozen() -> None:
    """Events are immutable values."""
    event = TextDelta("a", 0, 1)
    with pytest.raises(AttributeError):
        event.text = "b"  # type: ignore[misc]
    assert event.to_dict() == {"type": "text_delta", "text": "a", "index": 0, "step": 1}


# -- thread settings -----------------------------------------------------------


WEATHER_TOOLS = [tool_schema(get_weather)]


def test_settings_are_saved_and_reopened(api: FakeAPI, chat_db: str) -> None:
    """model, max_tokens, tools, tool_choice, thinking, output format, betas, version: saved; reopen uses them."""
    params = {
        "tools": WEATHER_TOOLS,
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
    }
    sends = {"betas": ["files-api-2025-04-14"], "api_version": "2023-06-01"}
    with Store(chat_db) as store, transport(api, **sends) as t:
        chat = Chat(store, t, "t1", model=MODEL, max_tokens=300, params=params, **sends)
        chat.send("hi")
        assert api.headers[-1]["anthropic-beta"] == "files-api-2025-04-14"
        assert api.headers[-1]["anthropic-version"] == "2023-06-01"
        meta = store.info("t1").meta
        assert meta["request"] == {"model": MODEL, "max_tokens": 300, **params}
        assert meta["betas"] == ["files-api-2025-04-14"]
        again = Chat.reopen(store, t, "t1")
        assert again.settings == chat.settings == ThreadSettings(
            MODEL, 300, params, ("files-api-2025-04-14",), "2023-06-01"
        )
        again.send("and again")
        assert api.requests[-1]["tools"] == WEATHER_TOOLS
        assert api.requests[-1]["max_tokens"] == 300
        # Fields not given are the thread's; given ones win for this chat only.
        other = Chat(store, t, "t1", model="claude-opus-4-5")
        assert other.settings.params == params
        assert other.max_tokens == 300
        assert store.info("t1").meta["request"]["model"] == MODEL


def test_a_transport_without_the_threads_betas_or_version_is_refused(
    api: FakeAPI, chat_db: str
) -> None:
    """A thread set to send a beta (or an API version) is not sent through a
    transport that would drop it: a ChatStateError naming the fix, nothing sent."""
    with Store(chat_db) as store:
        with transport(api, betas=["files-api-2025-04-14"], api_version="2023-06-01") as t:
            Chat(store, t, "t1", model=MODEL, betas=["files-api-2025-04-14"],
                 api_version="2023-06-01").send("hi")
        sent = len(api.requests)
        with (
            transport(api, api_version="2023-06-01") as plain,
            pytest.raises(ChatStateError, match=r"betas=\['files-api-2025-04-14'\]"),
        ):
            Chat.reopen(store, plain, "t1").send("again")
        with transport(api, betas=["files-api-2025-04-14"]) as newer:
            with pytest.raises(ChatStateError, match="api_version='2023-06-01'"):
                Chat.reopen(store, newer, "t1").send("again")
            chat = Chat.reopen(store, newer, "t1")
            chat.configure(api_version="2026-10-21")  # explicit, and saved
            chat.send("again")
        assert len(api.requests) == sent + 1
        assert api.headers[-1]["anthropic-version"] == "2026-10-21"
        assert store.info("t1").meta["api_version"] == "2026-10-21"


def test_configure_is_explicit_saved_and_versioned(api: FakeAPI, chat_db: str) -> None:
    """configure(...) saves new settings with the thread (its version moves)."""
    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        chat.send("hi")
        version = store.info("t1").version
        chat.configure(max_tokens=99, params={"tools": WEATHER_TOOLS})
        info = store.info("t1")
        assert info.version > version
        assert info.meta["request"] == {"model": MODEL, "max_tokens": 99, "tools": WEATHER_TOOLS}
        assert Chat.reopen(store, t, "t1").max_tokens == 99
        assert len(store.load("t1")) == 2


def test_fork_and_replay_carry_settings(api: FakeAPI, chat_db: str) -> None:
    """A fork keeps the settings; a replay on another model records that model."""
    with Store(chat_db) as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL, max_tokens=200, params={"tools": WEATHER_TOOLS})
        chat.run("weather in Rome", tools={"get_weather": get_weather})
        fork = chat.fork(2)
        assert store.info(fork.thread).meta["request"]["tools"] == WEATHER_TOOLS
        replay = chat.replay("claude-opus-4-5", new_thread="t1-replay")
        info = store.info("t1-replay")
        assert info.meta["model"] == info.meta["request"]["model"] == "claude-opus-4-5"
        assert Chat.reopen(store, t, "t1-replay").model == "claude-opus-4-5"
        assert replay.max_tokens == 200
        assert api.requests[-1]["model"] == "claude-opus-4-5"


def test_reopen_without_settings_is_a_clear_error(api: FakeAPI) -> None:
    """A thread saved without settings: ChatStateError naming the way out."""
    from convo import Conversation

    with Store(":memory:") as store, transport(api) as t:
        store.save("old", Conversation().user("hi"))
        with pytest.raises(ChatStateError, match="no saved settings"):
            Chat.reopen(store, t, "old")


async def test_async_settings(api: FakeAPI, chat_db: str) -> None:
    """AsyncChat saves, reopens and reconfigures settings the same way."""
    async with AsyncStore(chat_db) as store, atransport(api) as t:
        chat = await AsyncChat.open(store, t, "t1", model=MODEL, max_tokens=77)
        await chat.send("hi")
        again = await AsyncChat.reopen(store, t, "t1")
        assert again.max_tokens == 77
        await again.configure(model="claude-opus-4-5")
        assert (await store.info("t1")).meta["model"] == "claude-opus-4-5"
        await again.send("next")
        assert api.requests[-1]["model"] == "claude-opus-4-5"


def test_text_block_results_pass_through(api: FakeAPI) -> None:
    """A tool returning blocks: sent as they are."""

    def get_weather(city: str) -> list[TextBlock]:
        return [TextBlock(f"{city} is sunny")]

    with Store(":memory:") as store, transport(api) as t:
        chat = Chat(store, t, "t1", model=MODEL)
        assert chat.run("weather in Nice", tools={"get_weather": get_weather}).text == "Result: Nice is sunny"


@settings(max_examples=25, deadline=None)
@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=80),
    chunk=st.integers(1, 12),
)
def test_streamed_and_sent_replies_are_the_same_turn(text: str, chunk: int) -> None:
    """Law: the text deltas join to the reply, and a streamed reply saves the very
    turn (same id) a non-streamed send of the same response saves."""
    reply = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    with Store(":memory:") as store:
        streamed = Chat(store, ScriptedTransport([reply], chunk_size=chunk), "s", model=MODEL)
        events = list(streamed.stream("q"))
        sent = Chat(store, ScriptedTransport([reply]), "n", model=MODEL).send("q")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert finished.turn.id == sent.id


def test_run_and_stream_over_the_sdk_transport(api: FakeAPI, chat_db: str) -> None:
    """The runner and the event stream over AnthropicTransport (the official SDK) too."""
    anthropic = pytest.importorskip("anthropic")
    from convo.transport import AnthropicTransport

    with anthropic.Anthropic(api_key=API_KEY, base_url=api.url, max_retries=0) as client, Store(chat_db) as store:
        chat = Chat(store, AnthropicTransport(client), "t1", model=MODEL)
        assert chat.run("weather in Rome", tools=TOOLS).text.startswith('Result: {"city": "Rome"')
        events = list(chat.stream("weather in Oslo", tools=TOOLS))
        assert [type(e) for e in events if isinstance(e, TurnEnd | ToolRan | Finished)] == [
            TurnEnd, ToolRan, TurnEnd, Finished
        ]
        assert store.load("t1") == chat.conversation
        assert len(chat.conversation) == 8


async def test_async_run_and_stream_over_the_sdk_transport(api: FakeAPI, chat_db: str) -> None:
    """The same with AsyncAnthropicTransport."""
    anthropic = pytest.importorskip("anthropic")
    from convo.transport import AsyncAnthropicTransport

    async with (
        anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.url, max_retries=0) as client,
        AsyncStore(chat_db) as store,
    ):
        chat = await AsyncChat.open(store, AsyncAnthropicTransport(client), "t1", model=MODEL)
        turn = await chat.run("weather in Lima", tools={"get_weather": aget_weather})
        assert turn.text == "Result: Lima: 18 C"
        text = [piece async for piece in chat.stream("hello").text()]
        assert "".join(text) == "You said: hello"
        assert await store.load("t1") == chat.conversation

"""Typed construction: explicit keywords, checked request fields, a typed view of meta."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, get_type_hints

import attrs
import pytest
from hypothesis import given

from convo import Conversation, ResponseInfo, Usage, response_info
from convo.chat import REQUEST_FIELDS, AsyncChat, Chat, RequestParams
from convo.errors import CodecError, ConvoError, RequestParamError
from convo.store import AsyncStore, Store
from convo.testing.strategies import responses
from convo.transport import (
    AnthropicTransport,
    APIResponse,
    AsyncScriptedTransport,
    ScriptedTransport,
)

MODEL = "claude-opus-4-6"


def reply(text: str = "Hi", stop: str = "end_turn", **extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_001",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3},
        **extra,
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "typed.db") as s:
        yield s


@pytest.fixture
async def astore(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    async with AsyncStore(tmp_path / "atyped.db") as s:
        yield s


# -- request fields ---------------------------------------------------------------


def test_request_fields_cover_the_sdks_create_params() -> None:
    """Oracle: every field of the SDK's MessageCreateParams is known (bar the three
    that come from the conversation or the stream switch)."""
    from anthropic.types import MessageCreateParams
    from anthropic.types.message_create_params import MessageCreateParamsBase

    sdk = set(MessageCreateParamsBase.__annotations__) | set(
        getattr(MessageCreateParams, "__annotations__", {})
    )
    assert sdk - {"messages", "system", "stream"} <= REQUEST_FIELDS
    assert not {"messages", "system", "stream"} & REQUEST_FIELDS
    assert set(get_type_hints(RequestParams)) == REQUEST_FIELDS


@pytest.mark.parametrize("step", ["send", "payload"])
def test_a_typo_is_refused_before_anything_is_sent(store: Store, step: str) -> None:
    """send("hi", max_token=5): a RequestParamError naming the fix; nothing sent or saved."""
    transport = ScriptedTransport(["Hi"])
    chat = Chat(store, transport, "t1", model=MODEL)
    typo: dict[str, Any] = {"max_token": 5, "tool": []}
    call = (lambda: chat.send("hi", **typo)) if step == "send" else lambda: chat.payload(**typo)
    with pytest.raises(RequestParamError) as info:
        call()
    error = info.value
    assert isinstance(error, ConvoError) and isinstance(error, TypeError)
    assert error.unknown == ("max_token", "tool")
    assert set(error.known) == REQUEST_FIELDS
    assert "did you mean 'max_tokens'" in str(error)
    assert "did you mean 'tools'" in str(error)
    assert "extra={...}" in str(error)
    assert f"{step}()" in str(error)
    assert transport.requests == []
    assert len(chat.conversation) == 0
    assert not chat.saved
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.unknown, copy.known, str(copy)) == (error.unknown, error.known, str(error))


def test_every_step_checks_its_keywords(store: Store) -> None:
    """tool_results, respond, resume and continue_ refuse unknown keywords too."""
    chat = Chat(store, ScriptedTransport([reply("cut", "max_tokens")]), "t1", model=MODEL)
    chat.send("hello")
    bad: dict[str, Any] = {"temprature": 0.1}
    for step in (chat.respond, chat.resume, chat.continue_):
        with pytest.raises(RequestParamError, match="temperature"):
            step(**bad)
    with pytest.raises(RequestParamError):
        chat.tool_results({}, **bad)
    assert len(chat.conversation) == 2


def test_known_fields_and_extra_are_sent(store: Store) -> None:
    """Known keywords go in the body; extra={...} carries fields convo does not know."""
    transport = ScriptedTransport(["a", "b"])
    chat = Chat(store, transport, "t1", model=MODEL, params={"top_k": 3})
    chat.send(
        "one",
        max_tokens=50,
        temperature=0.5,
        tools=[{"name": "t", "input_schema": {"type": "object"}}],
        extra={"brand_new_field": {"x": 1}, "temperature": 0.9},
    )
    chat.send("two", extra={"model": "claude-sonnet-4-5", "max_tokens": 7})
    first, second = transport.requests
    assert first["max_tokens"] == 50
    assert first["temperature"] == 0.5  # the keyword wins over extra
    assert first["brand_new_field"] == {"x": 1}
    assert first["top_k"] == 3
    assert (second["model"], second["max_tokens"]) == ("claude-sonnet-4-5", 7)
    assert "brand_new_field" not in second


def test_reserved_names_in_extra_are_refused(store: Store) -> None:
    """extra cannot smuggle in messages, system or stream."""
    chat = Chat(store, ScriptedTransport(["a"]), "t1", model=MODEL)
    with pytest.raises(ValueError, match="messages"):
        chat.send("one", extra={"messages": []})


async def test_async_steps_check_keywords_and_open_is_explicit(astore: AsyncStore) -> None:
    """AsyncChat.open takes Chat's keywords; its steps check theirs."""
    transport = AsyncScriptedTransport(["Hi", "again"])
    chat = await AsyncChat.open(astore, transport, "a1", model=MODEL, max_tokens=64, title="T")
    bad: dict[str, Any] = {"max_token": 5}
    with pytest.raises(RequestParamError, match="max_tokens"):
        await chat.send("hi", **bad)
    assert transport.requests == []
    turn = await chat.send("hi", temperature=0.2, extra={"future": True})
    assert transport.requests[0]["future"] is True
    assert transport.requests[0]["max_tokens"] == 64
    assert turn.info.stop_reason == "end_turn"
    options: dict[str, Any] = {"max_token": 5}
    with pytest.raises(TypeError, match="max_token"):
        await AsyncChat.open(astore, transport, "a1", model=MODEL, **options)
    with pytest.raises(TypeError, match="model"):
        await AsyncChat.open(astore, transport, "a1")  # type: ignore[call-arg]


def test_chat_open_is_the_constructor(store: Store) -> None:
    """Chat.open mirrors AsyncChat.open and loads the thread."""
    Chat(store, ScriptedTransport(["Hi"]), "t1", model=MODEL, system="Brief.").send("hello")
    chat = Chat.open(store, ScriptedTransport([]), "t1", model=MODEL, max_tokens=10)
    assert len(chat.conversation) == 2
    assert chat.max_tokens == 10
    options: dict[str, Any] = {"max_token": 5}
    with pytest.raises(TypeError, match="max_token"):
        Chat.open(store, ScriptedTransport([]), "t1", model=MODEL, **options)


# -- the typed view of meta ---------------------------------------------------------


def test_turn_info_reads_a_saved_reply(store: Store) -> None:
    """turn.info after a send, and after the thread is loaded back from the store."""

    class WithRequestId(ScriptedTransport):
        def send(self, payload: Any) -> APIResponse:
            return APIResponse(super().send(payload), request_id="req_42")

    chat = Chat(store, WithRequestId([reply(service_tier="standard")]), "t1", model=MODEL)
    turn = chat.send("hello")
    for view in (turn.info, store.load("t1")[1].info, response_info(turn)):
        assert view.id == "msg_001"
        assert view.model == MODEL
        assert view.stop_reason == "end_turn"
        assert view.stop_sequence is None
        assert view.request_id == "req_42"
        assert view.usage == Usage(
            10,
            5,
            None,
            3,
            raw={"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3},
        )
        assert view.usage is not None and view.usage.total_input_tokens == 13
        assert view.meta["service_tier"] == "standard"
    user = chat.conversation[0].info
    assert (user.id, user.model, user.stop_reason, user.usage, user.request_id) == (None,) * 5
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        turn.info.model = "other"  # type: ignore[misc]


@given(message=responses())
def test_info_agrees_with_meta_for_any_response(message: dict[str, Any]) -> None:
    """For every response the strategies draw, the view repeats the meta's values."""
    turn = Conversation().user("q").append_response(message).head
    assert turn is not None
    info = turn.info
    for field in ("id", "model", "stop_reason", "stop_sequence"):
        assert getattr(info, field) == message.get(field)
    usage = message.get("usage")
    if usage is None:
        assert info.usage is None
    else:
        assert info.usage is not None
        assert info.usage.raw == usage
        assert info.usage.input_tokens == usage.get("input_tokens")
        assert info.usage.output_tokens == usage.get("output_tokens")


@pytest.mark.parametrize(
    ("meta", "path"),
    [
        ({"stop_reason": 3}, "$.stop_reason"),
        ({"model": ["x"]}, "$.model"),
        ({"usage": "lots"}, "$.usage"),
        ({"usage": {"input_tokens": "12"}}, "$.usage.input_tokens"),
        ({"usage": {"output_tokens": True}}, "$.usage.output_tokens"),
        ({"usage": {"cache_read_input_tokens": 1.5}}, "$.usage.cache_read_input_tokens"),
    ],
)
def test_a_field_of_the_wrong_type_is_a_codec_error(meta: dict[str, Any], path: str) -> None:
    """Present but mistyped: CodecError with the path, never a guess."""
    with pytest.raises(CodecError) as info:
        ResponseInfo.from_meta(meta)
    assert info.value.path == path


def test_a_joined_reply_describes_its_last_response() -> None:
    """Prefill + reply is one turn; its info is the reply's, the prefix keeps its own."""
    conversation = Conversation().user("q").prefill("The answer is (")
    turn = conversation.append_response(reply("B)", id="msg_cont")).head
    assert turn is not None
    assert turn.info.id == "msg_cont"
    assert turn.info.meta["prefix"] == "The answer is ("


def test_the_sdk_transport_fills_the_request_id(store: Store) -> None:
    """Chat over AnthropicTransport: the request-id header ends up in turn.info."""
    import anthropic
    import httpx2

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=reply(), headers={"request-id": "req_sdk"})

    client = anthropic.Anthropic(
        api_key="sk-test", http_client=httpx2.Client(transport=httpx2.MockTransport(handler))
    )
    with client:
        chat = Chat(store, AnthropicTransport(client), "t1", model=MODEL)
        turn = chat.send("hello", max_tokens=20)
    assert turn.info.request_id == "req_sdk"
    assert turn.info.usage is not None and turn.info.usage.output_tokens == 5

"""ScriptedTransport / AsyncScriptedTransport: deterministic offline replies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convo import Conversation
from convo.errors import APITimeoutError, OverloadedError, StreamError, TransportError
from convo.transport import (
    AsyncScriptedTransport,
    AsyncTransport,
    ScriptedTransport,
    Transport,
    accumulate,
    message_events,
)
from convo.transport.scripted import estimate_tokens
from tests.transport._support import PAYLOAD, TEXT_MESSAGE, TOOL_MESSAGE


def test_list_replies_in_order_then_a_clear_error() -> None:
    """Replies come in order; the request after the last one raises, saying so."""
    transport = ScriptedTransport([TEXT_MESSAGE, TOOL_MESSAGE])
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    assert transport.send(PAYLOAD) == TOOL_MESSAGE
    with pytest.raises(TransportError, match=r"2 replies and they are used up; request #3"):
        transport.send(PAYLOAD)


def test_handler_sees_each_payload() -> None:
    """A handler answers from the payload it receives."""

    def echo(payload: dict[str, Any]) -> str:
        return f"you said {payload['messages'][-1]['content']!r}"

    transport = ScriptedTransport(echo)
    reply = transport.send(PAYLOAD)
    assert reply["content"] == [{"type": "text", "text": "you said 'Hello, Claude'"}]
    assert reply["model"] == PAYLOAD["model"]


def test_string_shorthand_is_a_deterministic_message() -> None:
    """A string reply becomes an end_turn text message, identical run after run."""
    first = ScriptedTransport(["Hi there!"]).send(PAYLOAD)
    again = ScriptedTransport(["Hi there!"]).send(PAYLOAD)
    assert first == again
    assert first["id"] == "msg_scripted_0001"
    assert first["stop_reason"] == "end_turn"
    assert first["usage"]["input_tokens"] == estimate_tokens(
        {k: v for k, v in PAYLOAD.items() if k != "max_tokens"}
    )


def test_scripted_errors_are_raised() -> None:
    """A TransportError in the script (or from a handler) is raised to the caller."""
    failure = OverloadedError("529 overloaded_error: Overloaded", status_code=529)
    transport = ScriptedTransport([failure, "ok"])
    with pytest.raises(OverloadedError):
        transport.send(PAYLOAD)
    assert transport.send(PAYLOAD)["content"][0]["text"] == "ok"

    def flaky(payload: dict[str, Any]) -> str:
        raise APITimeoutError()

    with pytest.raises(APITimeoutError):
        ScriptedTransport(flaky).send(PAYLOAD)


def test_requests_are_recorded_as_wire_copies() -> None:
    """``requests`` holds plain JSON copies; later edits to the payload do not leak in."""
    conversation = Conversation().user("Hello")
    payload = conversation.to_payload("m", 10)
    transport = ScriptedTransport(["a", "b"])
    transport.send(payload)
    mutable = {**PAYLOAD, "messages": [*PAYLOAD["messages"]]}
    transport.send(mutable)
    mutable["messages"].append({"role": "assistant", "content": "x"})
    assert transport.requests == [json.loads(json.dumps(payload)), PAYLOAD]
    assert type(transport.requests[0]["messages"]) is list


def test_non_json_payload_is_refused() -> None:
    """A payload the wire could not carry fails here too (NaN, sets...)."""
    transport = ScriptedTransport(["x"])
    with pytest.raises(ValueError):
        transport.send({**PAYLOAD, "temperature": float("nan")})
    with pytest.raises(TypeError):
        transport.send({**PAYLOAD, "tools": {1, 2}})


def test_replies_are_fresh_copies() -> None:
    """Changing a returned message changes neither the script nor the next reply."""
    transport = ScriptedTransport(lambda payload: TEXT_MESSAGE)
    first = transport.send(PAYLOAD)
    first["content"].append({"type": "text", "text": "mutated"})
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    assert len(TEXT_MESSAGE["content"]) == 1


def test_stream_synthesises_the_api_events() -> None:
    """``stream`` yields what the API would stream; the fold gives the scripted message."""
    transport = ScriptedTransport([TOOL_MESSAGE, TOOL_MESSAGE], chunk_size=4)
    events = list(transport.stream(PAYLOAD))
    assert events == message_events(TOOL_MESSAGE, chunk_size=4)
    assert transport.send_streaming(PAYLOAD) == TOOL_MESSAGE
    assert transport.requests[0] == {**PAYLOAD, "stream": True}


def test_scripted_event_lists_stream_as_they_are() -> None:
    """A list of events is streamed verbatim, checked like a real stream, and folded by send."""
    events = message_events(TEXT_MESSAGE)
    transport = ScriptedTransport([events, events, events[:3]])
    assert list(transport.stream(PAYLOAD)) == events
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    with pytest.raises(StreamError, match="before message_stop"):
        list(transport.stream(PAYLOAD))


def test_scripted_error_event_in_a_stream() -> None:
    """An error event in a scripted stream raises like the HTTP transport does."""
    events = [
        *message_events(TEXT_MESSAGE)[:2],
        {"type": "error", "error": {"type": "overloaded_error", "message": "x"}},
    ]
    transport = ScriptedTransport([events])
    with pytest.raises(OverloadedError):
        transport.send_streaming(PAYLOAD)


def test_count_tokens_estimate_fixed_or_handler() -> None:
    """Counts are a deterministic estimate, a fixed number, or a handler's answer."""
    big = {
        **PAYLOAD,
        "messages": [{"role": "user", "content": "word " * 400}],
        "metadata": {"user_id": "u"},
    }
    estimate = ScriptedTransport([]).count_tokens(big)
    assert estimate == ScriptedTransport([]).count_tokens(big)
    assert 450 < estimate < 600
    assert ScriptedTransport([], count_tokens=99).count_tokens(big) == 99
    handler = ScriptedTransport([], count_tokens=lambda body: len(body["messages"]))
    assert handler.count_tokens(big) == 1
    assert handler.count_requests == [{"model": PAYLOAD["model"], "messages": big["messages"]}]
    with pytest.raises(TypeError):
        ScriptedTransport([], count_tokens=lambda body: "many").count_tokens(big)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("script", ["not a list", {"a": 1}, 42])
def test_bad_scripts_are_refused(script: Any) -> None:
    """A script is a handler or a list of replies."""
    with pytest.raises(TypeError):
        ScriptedTransport(script)


def test_bad_reply_is_refused() -> None:
    """A reply of an unknown kind is a TypeError naming the kinds."""
    with pytest.raises(TypeError, match="response dict, a string"):
        ScriptedTransport([42]).send(PAYLOAD)  # type: ignore[list-item]


def test_satisfies_the_protocol_and_closes() -> None:
    """ScriptedTransport is a Transport and a context manager."""
    with ScriptedTransport(["x"]) as transport:
        assert isinstance(transport, Transport)
    assert "requests=0" in repr(transport)


async def test_async_twin_with_sync_and_async_handlers() -> None:
    """AsyncScriptedTransport takes lists, sync handlers and async handlers alike."""

    async def answer(payload: dict[str, Any]) -> dict[str, Any]:
        return TOOL_MESSAGE

    async def count(body: dict[str, Any]) -> int:
        return 7

    for script in ([TOOL_MESSAGE, TOOL_MESSAGE], lambda p: TOOL_MESSAGE, answer):
        async with AsyncScriptedTransport(script, count_tokens=count) as transport:
            assert isinstance(transport, AsyncTransport)
            assert await transport.send(PAYLOAD) == TOOL_MESSAGE
            events = [event async for event in transport.stream(PAYLOAD)]
            assert accumulate(events) == TOOL_MESSAGE
            assert await transport.count_tokens(PAYLOAD) == 7
            assert len(transport.requests) == 2
    exhausted = AsyncScriptedTransport([])
    with pytest.raises(TransportError, match="used up"):
        await exhausted.send_streaming(PAYLOAD)
    assert await AsyncScriptedTransport([], count_tokens=3).count_tokens(PAYLOAD) == 3

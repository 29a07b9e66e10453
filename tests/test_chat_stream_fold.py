"""A chat folds its streams with its transport's own fold.

Under the fine-grained tool streaming beta the SDK keeps an unfinished string
of tool input as far as it arrived (a reply cut by ``max_tokens`` inside a
string); the chat must save the same turn the transport's own
``send_streaming`` would return, not the plain fold's.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx
import pytest

from convo._frozen import thaw
from convo.chat import AsyncChat, Chat
from convo.store import AsyncStore, Store
from convo.transport import (
    AnthropicTransport,
    AsyncAnthropicTransport,
    AsyncHTTPTransport,
    HTTPTransport,
    ScriptedTransport,
)
from convo.transport.stream import FINE_GRAINED_TOOL_STREAMING, Accumulator
from tests.transport._support import API_KEY, sse_bytes, sse_response

MODEL = "claude-opus-4-6"
START = {
    "id": "msg_cut",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 1},
}
# A tool call cut by max_tokens inside a string: no content_block_stop.
CUT = [
    {"type": "message_start", "message": START},
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": '{"n": 1, "q": "par'},
    },
    {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens"},
        "usage": {"output_tokens": 7},
    },
    {"type": "message_stop"},
]
WIRE = sse_bytes(CUT)
CASES = [((), {"n": 1}), ((FINE_GRAINED_TOOL_STREAMING,), {"n": 1, "q": "par"})]


def saved_input(store: Store, thread: str) -> Any:
    head = store.load(thread).head
    assert head is not None and head.role == "assistant"
    return thaw(head.content[0]["input"])


@pytest.mark.parametrize(("betas", "expected"), CASES)
def test_chat_stream_keeps_what_the_http_transport_keeps(
    betas: tuple[str, ...], expected: Any
) -> None:
    """The saved turn is what ``send_streaming`` of the same transport returns."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: sse_response([WIRE])))
    with client, HTTPTransport(api_key=API_KEY, client=client, betas=betas) as transport:
        assert (
            transport.send_streaming({"model": MODEL, "max_tokens": 9, "messages": []})["content"][
                0
            ]["input"]
            == expected
        )
        with Store("sqlite://") as store:
            chat = Chat(store, transport, "t", model=MODEL, max_tokens=9)
            list(chat.stream("call f"))
            assert saved_input(store, "t") == expected


@pytest.mark.parametrize(("betas", "expected"), CASES)
def test_async_chat_stream_keeps_what_the_http_transport_keeps(
    betas: tuple[str, ...], expected: Any
) -> None:
    """The same through AsyncChat and AsyncHTTPTransport."""

    async def main() -> Any:
        client = httpx.AsyncClient(
            transport=httpx.MockTransport(lambda request: sse_response([WIRE]))
        )
        async with (
            client,
            AsyncHTTPTransport(api_key=API_KEY, client=client, betas=betas) as transport,
            AsyncStore("sqlite+aiosqlite://") as store,
        ):
            chat = AsyncChat(store, transport, "t", model=MODEL, max_tokens=9)
            async for _ in chat.stream("call f"):
                pass
            head = (await store.load("t")).head
            assert head is not None
            return thaw(head.content[0]["input"])

    assert asyncio.run(main()) == expected


@pytest.mark.parametrize(("betas", "expected"), CASES)
def test_sdk_transports_fold_as_the_sdk_does(betas: tuple[str, ...], expected: Any) -> None:
    """The SDK transports' fold follows the beta they send, like HTTPTransport's."""
    for transport in (
        AnthropicTransport(anthropic.Anthropic(api_key=API_KEY), betas=betas),
        AsyncAnthropicTransport(anthropic.AsyncAnthropic(api_key=API_KEY), betas=betas),
    ):
        fold = transport.accumulator()
        for event in CUT:
            fold.add(event)
        assert fold.message()["content"][0]["input"] == expected


class KeepsStrings(ScriptedTransport):
    """A user's own transport with its own fold."""

    def accumulator(self) -> Accumulator:
        return Accumulator(partial_strings=True)


def test_a_custom_transport_fold_is_used_and_a_plain_one_is_the_default() -> None:
    """A transport's ``accumulator()`` is the chat's fold; without one, the plain fold."""
    for transport, expected in (
        (KeepsStrings([CUT]), {"n": 1, "q": "par"}),
        (ScriptedTransport([CUT]), {"n": 1}),
    ):
        with Store("sqlite://") as store:
            chat = Chat(store, transport, "t", model=MODEL, max_tokens=9)
            list(chat.stream("call f"))
            assert saved_input(store, "t") == expected

"""Hostile input to the SSE parser, the fold and the HTTP transports: only convo errors.

Lone surrogates, NaN and infinities, nesting of about a thousand levels, an
event ``type`` that is a list, random bytes, mutated valid streams, and deep
or non-JSON error bodies.  Every call ends in a result or a ``ConvoError``
(never a ``RecursionError``, ``TypeError``, ``UnicodeError`` ...) and takes
less than a second.  The budget is bounded for CI (150 examples a property);
``CONVO_FUZZ_EXAMPLES`` raises it.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convo.errors import ConvoError, InternalServerError, StreamError
from convo.transport import (
    Accumulator,
    AsyncHTTPTransport,
    HTTPTransport,
    accumulate,
    message_events,
)
from convo.transport._sse import ServerSentEvent, SSEParser, encode_event, parse_event
from tests.transport._support import PAYLOAD, TEXT_MESSAGE, THINKING_MESSAGE, TOOL_MESSAGE

# CI's budget; CONVO_FUZZ_EXAMPLES=2000 (say) for a longer run.
BUDGET = settings(
    max_examples=int(os.environ.get("CONVO_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
DEEP = 1200


def bounded(call: Callable[[], Any]) -> Any:
    """Run ``call``: a result or a ConvoError, in under a second of CPU (CPU
    time, so other processes on a loaded machine do not make it flaky)."""
    start = time.thread_time()
    try:
        return call()
    except ConvoError as exc:
        return exc
    finally:
        assert time.thread_time() - start < 1.0


def deep_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
hostile_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included
    | st.text(max_size=8)
    | surrogates
    | st.sampled_from([math.nan, math.inf, -math.inf, 2**70, -(2**64)])
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=10,
)  # Python values nested past the recursion limit: the parametrized test at the end
event_types = st.sampled_from(
    [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    ]
) | st.builds(list, st.lists(st.text(max_size=3), max_size=2)) | hostile_scalars

VALID = [message_events(m, chunk_size=5) for m in (TEXT_MESSAGE, TOOL_MESSAGE, THINKING_MESSAGE)]


@st.composite
def mutated_streams(draw: st.DrawFn) -> list[Any]:
    """A valid stream with a few values or events replaced by hostile ones."""
    events = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(events) - 1))
        how = draw(st.integers(0, 3))
        if not isinstance(events[at], dict):
            continue
        if how == 0:
            events[at]["type"] = draw(event_types)
        elif how == 1 and events[at]:
            key = draw(st.sampled_from(sorted(events[at])))
            events[at][key] = draw(hostile_values)
        elif how == 2:
            events.insert(at, draw(hostile_values))
        else:
            delta = events[at].get("delta")
            if isinstance(delta, dict) and delta:
                delta[draw(st.sampled_from(sorted(delta)))] = draw(hostile_values)
    return events


@BUDGET
@given(events=mutated_streams())
def test_fold_raises_only_convo_errors(events: list[Any]) -> None:
    """accumulate, Accumulator.add and .snapshot: a message or a ConvoError."""
    bounded(lambda: accumulate(events))

    def step() -> None:
        acc = Accumulator()
        for event in events:
            acc.add(event)
            acc.snapshot  # noqa: B018 - reading it parses the partial tool input

    bounded(step)


def hostile_json_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just('{"type": "ping", "x": NaN}'),
        st.just('{"type": "ping", "x": -Infinity}'),
        st.just('{"type": "ping", "x": "\\ud800"}'),
        st.just('{"type": "ping", "x": "\\udfff\\ud800"}'),
        st.just('{"type": ["error"]}'),
        st.just("[" * DEEP + "]" * DEEP),
        st.just('{"a":' * DEEP + "1" + "}" * DEEP),
        st.just('{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"' + "[" * DEEP + '"}}'),
        st.text(max_size=40),
    )


@BUDGET
@given(data=st.data())
def test_sse_parser_and_parse_event_raise_only_stream_errors(data: st.DataObject) -> None:
    """Random bytes, hostile JSON and mutated streams, chunked anywhere."""
    stream = data.draw(mutated_streams())
    texts = [json.dumps(e, allow_nan=True) if not isinstance(e, list) or len(str(e)) < 10**5 else "[]" for e in stream[:1]]
    raw = data.draw(
        st.one_of(
            st.binary(max_size=200),
            st.builds(lambda t: f"event: x\ndata: {t}\n\n".encode("utf-8", "surrogatepass"), hostile_json_texts()),
            st.just(b"".join(f"data: {t}\n\n".encode("utf-8", "surrogatepass") for t in texts)),
        )
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))

    def run() -> list[Any]:
        parser = SSEParser()
        sses: list[ServerSentEvent] = []
        for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True):
            sses += parser.feed(raw[a:b])
        sses += parser.close()
        events = [parse_event(sse) for sse in sses]
        acc = Accumulator()
        for event in events:
            acc.add(event)
        return events

    result = bounded(run)
    assert isinstance(result, (list, ConvoError))
    if isinstance(result, ConvoError) and not isinstance(result, StreamError):
        assert result.__class__.__name__.endswith("Error")


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "ping", "x": NaN}',
        '{"type": "ping", "x": Infinity}',
        '{"type": "ping", "x": "\\ud800"}',
        "[" * DEEP + "]" * DEEP,
    ],
)
def test_hostile_event_data_is_a_stream_error(text: str) -> None:
    """Each hostile kind is refused by name, as a StreamError."""
    with pytest.raises(StreamError, match="invalid JSON"):
        parse_event(ServerSentEvent("ping", text))


def test_a_surrogate_pair_escape_is_fine() -> None:
    """A well-formed pair is one code point, not a lone surrogate."""
    assert parse_event(ServerSentEvent("ping", '{"x": "\\ud83d\\ude00"}'))["x"] == "\U0001f600"


def test_an_event_type_that_is_a_list_is_a_stream_error() -> None:
    acc = Accumulator()
    with pytest.raises(StreamError, match="must be a string"):
        acc.add({"type": ["message_start"]})


# -- the transports -----------------------------------------------------------------

BODIES = [
    b"[" * DEEP + b"]" * DEEP,
    b'{"type":"error","error":' * 600 + b"1" + b"}" * 600,
    b'{"type": "error", "error": {"type": "api_error", "message": NaN}}',
    b'{"id": "\\ud800", "content": []}',
    b"\xff\xfe not utf-8",
    b"",
]


def transport_for(status: int, body: bytes, calls: list[int]) -> HTTPTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HTTPTransport(api_key="sk-test", client=client, sleep=lambda s: None)


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("status", [200, 400, 500, 529])
def test_hostile_bodies_are_convo_errors(status: int, body: bytes) -> None:
    """A 200 body that is not strict JSON is a CodecError; an error body of any shape
    still classifies by status, and 5xx are retried as the SDK does (three attempts)."""
    calls: list[int] = []
    transport = transport_for(status, body, calls)
    result = bounded(lambda: transport.send(PAYLOAD))
    if status == 200 and body is BODIES[1]:  # 600 levels: deep, but a JSON object
        assert isinstance(result, dict)
    else:
        assert isinstance(result, ConvoError)
    if status >= 500:
        assert isinstance(result, InternalServerError)
        assert len(calls) == 3
        assert result.attempts == 3


def test_a_deep_500_body_is_classified_and_retried() -> None:
    """The case the fuzz found: a 500 whose body nests 1 200 levels."""
    calls: list[int] = []
    transport = transport_for(500, BODIES[0], calls)
    with pytest.raises(InternalServerError) as info:
        transport.send(PAYLOAD)
    assert info.value.status_code == 500
    assert len(calls) == 3
    assert isinstance(info.value.body, str)


@BUDGET
@given(data=st.data())
def test_hostile_streams_through_the_transports(data: st.DataObject) -> None:
    """A 200 stream of hostile SSE, sync and async: a message or a ConvoError."""
    events = data.draw(mutated_streams())
    raw = b"".join(
        encode_event(e) if isinstance(e, dict) and _encodable(e) else b"data: [1]\n\n"
        for e in events
    )
    raw += data.draw(
        st.sampled_from(
            [
                b"",
                b'data: {"type": [1]}\n\n',
                b"data: NaN\n\n",
                b"\xff",
                b"data: " + b"[" * DEEP + b"]" * DEEP + b"\n\n",
                b'data: {"type": "ping", "x": "\\ud800"}\n\n',
            ]
        )
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    sync = HTTPTransport(api_key="sk-test", client=httpx.Client(transport=httpx.MockTransport(handler)))
    bounded(lambda: sync.send_streaming(PAYLOAD))

    async def run_async() -> Any:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        api = AsyncHTTPTransport(api_key="sk-test", client=client)
        try:
            return await api.send_streaming(PAYLOAD)
        except ConvoError as exc:
            return exc
        finally:
            await client.aclose()

    import asyncio

    start = time.thread_time()
    result = asyncio.run(run_async())
    assert time.thread_time() - start < 1.0
    assert isinstance(result, (dict, ConvoError))


def _encodable(event: dict[str, Any]) -> bool:
    try:
        encode_event(event)
    except (ValueError, RecursionError, TypeError):
        return False
    return True


@pytest.mark.parametrize(
    "where",
    [
        lambda ev, deep: ev[0]["message"].update(extra=deep),
        lambda ev, deep: ev[1]["content_block"].update(extra=deep),
        lambda ev, deep: ev[-2]["delta"].update(stop_details=deep),
        lambda ev, deep: ev[-2]["usage"].update(extra=deep),
        lambda ev, deep: ev[2]["delta"].update(type="citations_delta", citation=deep),
    ],
)
def test_nesting_past_the_recursion_limit_is_a_stream_error(where: Any) -> None:
    """A Python value nested deeper than the interpreter can copy, anywhere in an
    event, is a StreamError, never a RecursionError."""
    events = message_events(TEXT_MESSAGE)
    where(events, deep_list(5000))
    with pytest.raises(StreamError, match="nested too deeply"):
        accumulate(events)

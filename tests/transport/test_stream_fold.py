"""SSE decoding and the stream fold: ``accumulate(message_events(m)) == m``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo.errors import (
    APIStatusError,
    InternalServerError,
    OverloadedError,
    RateLimitError,
    StreamError,
)
from convo.transport import Accumulator, HTTPTransport, accumulate, message_events
from convo.transport._sse import (
    ServerSentEvent,
    SSEParser,
    encode_event,
    iter_sse,
    parse_event,
)
from convo.transport.stream import FINE_GRAINED_TOOL_STREAMING
from tests.transport._support import TEXT_MESSAGE, TOOL_MESSAGE

# -- SSE decoding ----------------------------------------------------------------


def test_sse_decoder_follows_the_specification() -> None:
    """Fields, one leading space stripped, multi-line data, comments, ids, unknown fields."""
    lines = [
        "\ufeff: a comment, then a BOM-prefixed stream",
        "event: message_start",
        'data: {"a":',
        "data:1}",
        "id: 7",
        "retry: 1000",
        "unknown: field",
        "",
        "",  # a blank line with no data dispatches nothing
        "data",  # a field without a colon: empty data, which dispatches nothing
        "",
        "event: ping",
        "data:  two spaces",
        "",
        "event: cut",
        "data: the last event, without its blank line",
    ]
    assert list(iter_sse(lines)) == [
        ServerSentEvent("message_start", '{"a":\n1}', "7"),
        ServerSentEvent("ping", " two spaces", "7"),
        ServerSentEvent("cut", "the last event, without its blank line", "7"),
    ]


def test_parse_event_reads_json_objects() -> None:
    """The data is a JSON object; ``type`` defaults to the event name."""
    assert parse_event(ServerSentEvent("ping", '{"type": "ping"}')) == {"type": "ping"}
    assert parse_event(ServerSentEvent("message_stop", "{}")) == {"type": "message_stop"}


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '"text"', ""])
def test_parse_event_rejects_malformed_data(data: str) -> None:
    """Data that is not a JSON object is a StreamError naming the event."""
    with pytest.raises(StreamError, match="content_block_delta"):
        parse_event(ServerSentEvent("content_block_delta", data))


def test_encode_then_decode_round_trips() -> None:
    """The encoder writes what the decoder reads back."""
    events = message_events(TOOL_MESSAGE, chunk_size=5)
    text = b"".join(encode_event(e) for e in events).decode()
    decoded = [parse_event(sse) for sse in iter_sse(text.split("\n"))]
    assert decoded == events


# -- the fold ----------------------------------------------------------------------


def test_fold_of_a_recorded_text_stream() -> None:
    """The documented example stream folds into the documented message."""
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 3},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo!"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15, "input_tokens": None},
        },
        {"type": "brand_new_event", "payload": 1},
        {"type": "message_stop"},
    ]
    assert accumulate(events) == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello!"}],
        "model": "claude-sonnet-4-5",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,  # set by every message_delta, as the SDK's fold does
        "usage": {"input_tokens": 25, "output_tokens": 15, "cache_read_input_tokens": 3},
    }


def test_usage_in_message_delta_is_cumulative() -> None:
    """Each message_delta overwrites usage field by field; missing fields keep message_start's."""
    events = message_events(TEXT_MESSAGE)
    closing = events[-2]
    closing["usage"] = {"output_tokens": 4}
    second = {
        "type": "message_delta",
        "delta": {},
        "usage": {"output_tokens": 9, "input_tokens": 13},
    }
    events.insert(-1, second)
    message = accumulate(events)
    assert message["usage"] == {**TEXT_MESSAGE["usage"], "output_tokens": 9, "input_tokens": 13}


def test_tool_input_is_joined_and_parsed_at_block_stop() -> None:
    """input_json_delta fragments are not JSON on their own; the snapshot shows the
    prefix that parses (finished values only), the stop the whole input."""
    acc = Accumulator()
    final = TOOL_MESSAGE["content"][1]["input"]
    seen = []
    for event in message_events(TOOL_MESSAGE, chunk_size=3):
        acc.add(event)
        if event["type"] == "content_block_delta" and event["index"] == 1:
            assert acc.snapshot is not None
            partial = acc.snapshot["content"][1]["input"]
            assert isinstance(partial, dict)
            assert all(partial[key] == final[key] for key in list(partial)[:-1])
            seen.append(partial)
    assert seen[0] == {}
    assert acc.message()["content"][1]["input"] == final


def test_a_block_open_at_message_stop_keeps_what_arrived() -> None:
    """A tool call cut by max_tokens (no content_block_stop) keeps its partial input,
    as the SDK's fold does; the message is not lost."""
    events = [
        {"type": "message_start", "message": {**TOOL_MESSAGE, "content": [], "stop_reason": None}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Paris", "days": [1, 2'},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ', 3], "note": "unfini'}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 7}},
        {"type": "message_stop"},
    ]
    message = accumulate(events)
    assert message["stop_reason"] == "max_tokens"
    assert message["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"city": "Paris", "days": [1, 2, 3]}}
    ]


def test_empty_tool_buffer_keeps_the_start_input() -> None:
    """A tool block without input_json_delta keeps ``{}`` from content_block_start."""
    message = accumulate(message_events(TOOL_MESSAGE))
    assert message["content"][2]["input"] == {}


def test_snapshot_grows_while_streaming() -> None:
    """The snapshot shows text as it arrives; ``message()`` waits for message_stop."""
    acc = Accumulator()
    texts = []
    for event in message_events(TEXT_MESSAGE, chunk_size=4)[:-1]:
        acc.add(event)
        if acc.snapshot and acc.snapshot["content"]:
            texts.append(acc.snapshot["content"][0]["text"])
    assert texts[1] == "Hell"
    assert texts[-1] == TEXT_MESSAGE["content"][0]["text"]
    assert not acc.done
    with pytest.raises(StreamError, match="before message_stop"):
        acc.message()


def test_the_fold_does_not_alias_its_input() -> None:
    """Folding never changes the events, and the message shares nothing with them."""
    events = message_events(TOOL_MESSAGE)
    before = copy.deepcopy(events)
    message = accumulate(events)
    message["content"][0]["text"] = "changed"
    message["usage"]["output_tokens"] = -1
    assert events == before


def _broken(mutate: Any) -> list[dict[str, Any]]:
    events = message_events(TOOL_MESSAGE, chunk_size=8)
    mutate(events)
    return events


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda ev: ev.pop(0), "before message_start"),
        (lambda ev: ev.insert(1, ev[0]), "second message_start"),
        (lambda ev: ev.pop(), "before message_stop"),
        (lambda ev: ev.append({"type": "content_block_stop", "index": 0}), "after message_stop"),
        (lambda ev: ev[1].update(index=5), "expected 0"),
        (lambda ev: ev[2].update(index=9), "not open"),
        (lambda ev: ev[1].update(content_block=[]), "not an object"),
        (lambda ev: ev[2].update(delta="text"), "not an object"),
        (lambda ev: ev[0].update(type=["message_start"]), "must be a string"),
        (lambda ev: ev[2].update(index=True), "not open"),
        (
            lambda ev: ev[2].update(delta={"type": "input_json_delta", "partial_json": "{}"}),
            "input_json_delta for block 0, a text block",
        ),
        (lambda ev: ev[2].pop("delta"), "bad content_block_delta"),
        (lambda ev: ev[2]["delta"].update(text=5), "bad content_block_delta"),
        (lambda ev: ev[0].update(message=[]), "without a message"),
        (lambda ev: ev.insert(3, "not an event"), "must be an object"),
    ],
)
def test_malformed_streams_raise_stream_error(mutate: Any, match: str) -> None:
    """Out-of-order, truncated and malformed streams are StreamErrors."""
    with pytest.raises(StreamError, match=match):
        accumulate(_broken(mutate))


def test_unparsable_tool_input_is_a_stream_error() -> None:
    """A tool input buffer that is not JSON at content_block_stop raises."""
    events = message_events(TOOL_MESSAGE, chunk_size=4)
    first = next(
        i for i, e in enumerate(events) if e.get("delta", {}).get("type") == "input_json_delta"
    )
    del events[first]
    with pytest.raises(StreamError, match="tool input of block 1 is not JSON"):
        accumulate(events)


def test_unknown_delta_types_are_ignored() -> None:
    """A delta type this version does not know leaves the block as it is."""
    events = message_events(TEXT_MESSAGE)
    events.insert(
        2, {"type": "content_block_delta", "index": 0, "delta": {"type": "sparkle_delta", "x": 1}}
    )
    assert accumulate(events) == TEXT_MESSAGE


@pytest.mark.parametrize(
    ("kind", "cls", "status"),
    [
        ("overloaded_error", OverloadedError, 529),
        ("rate_limit_error", RateLimitError, 429),
        ("api_error", InternalServerError, 500),
        ("brand_new_error", APIStatusError, 200),
    ],
)
def test_error_event_raises_the_mapped_status_error(
    kind: str, cls: type[APIStatusError], status: int
) -> None:
    """An ``error`` event raises the class its type has on a non-streamed call."""
    events = message_events(TEXT_MESSAGE)
    events.insert(3, {"type": "error", "error": {"type": kind, "message": "Overloaded"}})
    with pytest.raises(APIStatusError) as info:
        accumulate(events)
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert info.value.error_type == kind
    assert "error event in a 200 stream" in str(info.value)


def test_message_events_validates_its_input() -> None:
    """Synthesis needs a content list and a positive chunk size."""
    with pytest.raises(ValueError, match="content"):
        message_events({"type": "message"})
    with pytest.raises(ValueError, match="chunk_size"):
        message_events(TEXT_MESSAGE, chunk_size=0)


def test_message_events_shape(message: dict[str, Any]) -> None:
    """The synthesised stream has the API's event order (J2)."""
    events = message_events(message, chunk_size=7)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert events[0]["message"]["content"] == []
    assert events[0]["message"]["stop_reason"] is None
    assert kinds.count("content_block_start") == len(message["content"])
    assert kinds.count("content_block_stop") == len(message["content"])


def test_round_trip_of_sample_messages(message: dict[str, Any]) -> None:
    """Text, tool use and thinking (with signature and citations) fold back exactly."""
    for size in (1, 3, 16, 1000):
        assert accumulate(message_events(message, chunk_size=size)) == message


# -- properties ------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
short_text = st.text(max_size=60)

citation = st.fixed_dictionaries(
    {
        "type": st.just("char_location"),
        "cited_text": short_text,
        "start_char_index": st.integers(0, 99),
    }
)
text_block = st.fixed_dictionaries(
    {"type": st.just("text"), "text": short_text},
    optional={"citations": st.none() | st.lists(citation, max_size=3)},
)
tool_block = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["tool_use", "server_tool_use"]),
        "id": st.text(min_size=1, max_size=12),
        "name": st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True),
        "input": st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    }
)
thinking_block = st.fixed_dictionaries(
    {"type": st.just("thinking"), "thinking": short_text, "signature": st.text(max_size=40)}
)
other_block = st.one_of(
    st.fixed_dictionaries({"type": st.just("redacted_thinking"), "data": st.text(max_size=30)}),
    st.fixed_dictionaries(
        {
            "type": st.just("web_search_tool_result"),
            "tool_use_id": st.text(max_size=8),
            "content": json_values,
        }
    ),
    st.fixed_dictionaries({"type": st.just("future_block"), "payload": json_values}),
)
usage = st.fixed_dictionaries(
    {"input_tokens": st.integers(0, 10**6), "output_tokens": st.integers(0, 10**6)},
    optional={
        "cache_creation_input_tokens": st.none() | st.integers(0, 10**5),
        "cache_read_input_tokens": st.none() | st.integers(0, 10**5),
        "service_tier": st.sampled_from(["standard", "priority"]),
    },
)
messages = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=20),
        "type": st.just("message"),
        "role": st.just("assistant"),
        "model": st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5"]),
        "content": st.lists(
            st.one_of(text_block, tool_block, thinking_block, other_block), max_size=6
        ),
        "stop_reason": st.sampled_from(
            ["end_turn", "max_tokens", "tool_use", "pause_turn", "refusal"]
        ),
        "stop_sequence": st.none() | short_text,
        "usage": usage,
    },
    optional={
        "stop_details": st.none()
        | st.fixed_dictionaries({"type": st.just("refusal"), "category": st.just("cyber")}),
        "container": st.none() | st.fixed_dictionaries({"id": st.text(max_size=5)}),
    },
)


@given(message=messages, chunk_size=st.integers(1, 40))
def test_property_accumulate_inverts_message_events(
    message: dict[str, Any], chunk_size: int
) -> None:
    """For every message, folding its stream gives the message back."""
    expected = {**message, "stop_details": message.get("stop_details")}
    assert accumulate(message_events(message, chunk_size=chunk_size)) == expected


@given(message=messages, newline=st.sampled_from(["\n", "\r\n", "\r"]), data=st.data())
def test_property_wire_round_trip(
    message: dict[str, Any], newline: str, data: st.DataObject
) -> None:
    """Encoded to SSE bytes, cut into chunks anywhere, parsed and folded: the same message."""
    text = b"".join(encode_event(e) for e in message_events(message, chunk_size=9)).decode()
    wire = text.replace("\n", newline).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    parser = SSEParser()
    events = []
    for start, stop in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        events += [parse_event(sse) for sse in parser.feed(wire[start:stop])]
    events += [parse_event(sse) for sse in parser.close()]
    assert accumulate(events) == {**message, "stop_details": message.get("stop_details")}


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c"])
def test_unicode_line_separators_inside_json_do_not_split_events(char: str) -> None:
    """Only CR, LF and CRLF end an SSE line; U+2028 and friends are data (unlike splitlines)."""
    message = {**TEXT_MESSAGE, "content": [{"type": "text", "text": f"one{char}two"}]}
    wire = b"".join(encode_event(e) for e in message_events(message))
    parser = SSEParser()
    events = [parse_event(sse) for sse in parser.feed(wire)]
    assert accumulate(events) == message


def test_parser_splits_crlf_across_chunks_and_characters() -> None:
    """A CRLF split between chunks is one line break; a UTF-8 character may be split too."""
    parser = SSEParser()
    out = []
    for chunk in [b'data: {"t":"\xc3', b'\xa9"}\r', b"\n", b"\r\n", b"data: {}\n\n"]:
        out += parser.feed(chunk)
    parser.close()
    assert [sse.data for sse in out] == ['{"t":"\u00e9"}', "{}"]


@pytest.mark.parametrize("chunks", [[b"data: \xff\n\n"], [b"data: \xc3"]])
def test_parser_rejects_invalid_utf8(chunks: list[bytes]) -> None:
    """Bytes that are not UTF-8 (or end inside a character) are a StreamError."""

    def parse_all() -> None:
        parser = SSEParser()
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()

    with pytest.raises(StreamError, match="UTF-8"):
        parse_all()


@pytest.mark.parametrize(("betas", "expected"), [((), {"n": 1}), ((FINE_GRAINED_TOOL_STREAMING,), {"n": 1, "q": "par"})])
def test_unfinished_tool_strings_follow_the_fine_grained_beta(
    betas: tuple[str, ...], expected: dict[str, Any]
) -> None:
    """Under fine-grained tool streaming the SDK keeps an unfinished string as far as
    it arrived; an HTTP transport sending that beta folds its streams the same way."""
    transport = HTTPTransport(api_key="sk-test", betas=betas)
    acc = transport.accumulator()
    transport.close()
    for event in [
        {"type": "message_start", "message": {**TOOL_MESSAGE, "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"n": 1, "q": "par'}},
    ]:
        acc.add(event)
    assert acc.snapshot is not None
    assert acc.snapshot["content"][0]["input"] == expected

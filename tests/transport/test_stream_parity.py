"""The stream fold equals the official SDK's own accumulator (the oracle, run here).

Hypothesis builds streams with every event and delta type SDK 2.15.0 folds
(text, citations, thinking, signature, input_json for tool_use /
server_tool_use / mcp_tool_use, compaction, fallback blocks, blocks that
arrive whole, message_delta with container/stop_details/usage, pings and
event types it does not know), writes them as SSE bytes in every line-break
style, with or without the closing blank line, cuts the bytes into chunks
anywhere, and cuts the stream after any event or inside a block (a tool
call cut by ``max_tokens``).  convo parses and folds the bytes; the SDK's
``accumulate_event`` (``lib/streaming/_beta_messages.py``, the superset of
its two folds) folds the same events; the results must be equal as JSON.
The SDK's own SSE decoder is a second oracle for the events themselves.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
from hypothesis import event as tally
from hypothesis import given, settings
from hypothesis import strategies as st

from convo.errors import StreamError
from convo.transport import Accumulator
from convo.transport._sse import SSEParser, encode_event, parse_event
from convo.transport.stream import FINE_GRAINED_TOOL_STREAMING

beta_messages = pytest.importorskip("anthropic.lib.streaming._beta_messages")
messages = pytest.importorskip("anthropic.lib.streaming._messages")
sdk_streaming = pytest.importorskip("anthropic._streaming")
httpx2 = pytest.importorskip("httpx2")

SDK_EVENTS = {
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
}


def sdk_snapshot(
    events: list[dict[str, Any]], betas: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """What the SDK's accumulator builds from ``events`` (as JSON), or ``None``.

    The SDK's ``Stream`` drops ``ping`` before its fold and yields unknown
    event types to the caller without folding them: only the events it
    folds are given to it here.
    """
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] in SDK_EVENTS:
            snapshot = beta_messages.accumulate_event(
                event=copy.deepcopy(event),
                current_snapshot=snapshot,
                json_bufs=buffers,
                request_headers=httpx2.Headers(
                    {"anthropic-beta": ",".join(betas)} if betas else {}
                ),
            )
    return None if snapshot is None else snapshot.to_dict(mode="json", warnings=False)


BETA_ONLY_BLOCKS = {"compaction", "fallback", "mcp_tool_use"}
BETA_ONLY_FIELDS = {"context_management", "input_transformations", "iterations"}


def ga_snapshot(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The SDK's other fold (``lib/streaming/_messages.py``, for the GA API), or
    ``None`` when the stream uses what only the beta one knows."""
    for event in events:
        block = event.get("content_block", {})
        usage = event.get("usage", {})
        if block.get("type") in BETA_ONLY_BLOCKS or BETA_ONLY_FIELDS & {*event, *usage}:
            return None
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] in SDK_EVENTS:
            snapshot = messages.accumulate_event(
                event=copy.deepcopy(event), current_snapshot=snapshot, json_bufs=buffers
            )
    return None if snapshot is None else snapshot.to_dict(mode="json", warnings=False)


# -- streams -------------------------------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | words
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(words, inner, max_size=3),
    max_leaves=8,
)
models = st.sampled_from(["claude-opus-4-8", "claude-sonnet-5", "claude-haiku-4-5"])


def pieces(text: str, data: st.DataObject) -> list[str]:
    """``text`` cut anywhere into fragments (one empty fragment allowed)."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=4)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def block_events(index: int, data: st.DataObject) -> list[dict[str, Any]]:
    """One content block's events, of any kind the SDK folds."""
    kind = data.draw(
        st.sampled_from(
            [
                "text",
                "thinking",
                "tool_use",
                "server_tool_use",
                "mcp_tool_use",
                "compaction",
                "fallback",
                "redacted_thinking",
                "web_search_tool_result",
            ]
        )
    )
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        head: dict[str, Any] = {"type": "text", "text": data.draw(words)}
        head.update(data.draw(st.sampled_from([{}, {"citations": None}, {"citations": []}])))
        for _ in range(data.draw(st.integers(0, 4))):
            if data.draw(st.booleans()):
                deltas.append({"type": "text_delta", "text": data.draw(words)})
            else:
                citation = {
                    "type": "char_location",
                    "cited_text": data.draw(words),
                    "document_index": data.draw(st.integers(0, 3)),
                    "start_char_index": 0,
                    "end_char_index": data.draw(st.integers(0, 50)),
                }
                deltas.append({"type": "citations_delta", "citation": citation})
    elif kind == "thinking":
        head = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": t}
            for t in data.draw(st.lists(words, max_size=3))
        ]
        if data.draw(st.booleans()):
            deltas.append({"type": "signature_delta", "signature": data.draw(words)})
    elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        head = {"type": kind, "id": f"toolu_{index}", "name": "lookup", "input": {}}
        if kind == "mcp_tool_use":
            head["server_name"] = "srv"
        arguments = data.draw(st.dictionaries(words, json_values, max_size=4))
        text = json.dumps(arguments, ensure_ascii=data.draw(st.booleans()))
        if arguments or data.draw(st.booleans()):
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in pieces(text, data)
            ]
    elif kind == "compaction":
        head = {"type": "compaction", "content": None}
        delta: dict[str, Any] = {"type": "compaction_delta", "content": data.draw(words)}
        if data.draw(st.booleans()):
            delta["encrypted_content"] = data.draw(words)
        deltas = [delta]
    elif kind == "fallback":
        head = {
            "type": "fallback",
            "from": {"model": data.draw(models)},
            "to": {"model": data.draw(models)},
            "trigger": {"type": "refusal", "category": "cyber"},
        }
    elif kind == "redacted_thinking":
        head = {"type": "redacted_thinking", "data": data.draw(words)}
    else:
        head = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}
    return [
        {"type": "content_block_start", "index": index, "content_block": head},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def noise(data: st.DataObject) -> list[dict[str, Any]]:
    """Events anywhere that the fold must ignore."""
    return data.draw(
        st.lists(
            st.sampled_from([{"type": "ping"}, {"type": "brand_new_event", "x": [1, {"y": 2}]}]),
            max_size=1,
        )
    )


def counts() -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(0, 10**6)


def stream(data: st.DataObject) -> tuple[list[dict[str, Any]], bool]:
    """A whole stream; ``True`` when its last block is cut by max_tokens (no stop)."""
    container = data.draw(
        st.sampled_from(
            [None, {"id": "cntr_1", "expires_at": "2026-12-01T10:00:00Z"}, "absent"]
        )
    )
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": data.draw(models),
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": data.draw(st.integers(0, 10**6)),
            "output_tokens": 1,
            **data.draw(
                st.fixed_dictionaries(
                    {}, optional={"cache_read_input_tokens": st.integers(0, 10**5)}
                )
            ),
        },
    }
    if container != "absent":
        message["container"] = container
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    blocks = data.draw(st.integers(0, 4))
    for index in range(blocks):
        events += noise(data) + block_events(index, data)
    cut = blocks > 0 and data.draw(st.booleans())
    if cut:  # max_tokens inside the last block: its content_block_stop never comes
        events.pop()
    for _ in range(data.draw(st.integers(1, 2))):
        delta: dict[str, Any] = {
            "stop_reason": "max_tokens" if cut else data.draw(
                st.sampled_from(["end_turn", "tool_use", "refusal", "pause_turn"])
            ),
            "stop_sequence": data.draw(st.none() | words),
        }
        delta.update(
            data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "stop_details": st.none()
                        | st.just({"type": "refusal", "category": "cyber"}),
                        "container": st.none()
                        | st.just({"id": "cntr_2", "expires_at": "2026-12-02T10:00:00Z"}),
                    },
                )
            )
        )
        usage = {"output_tokens": data.draw(st.integers(0, 10**6))}
        usage.update(
            data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "input_tokens": counts(),
                        "cache_creation_input_tokens": counts(),
                        "cache_read_input_tokens": counts(),
                        "server_tool_use": st.none()
                        | st.builds(lambda n: {"web_search_requests": n}, st.integers(0, 9)),
                        "output_tokens_details": st.none()
                        | st.builds(lambda n: {"thinking_tokens": n}, st.integers(0, 99)),
                        "iterations": st.none()
                        | st.just([{"type": "message", "input_tokens": 3, "output_tokens": 4}]),
                    },
                )
            )
        )
        closing: dict[str, Any] = {"type": "message_delta", "delta": delta, "usage": usage}
        closing.update(
            data.draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "context_management": st.none() | st.just({"applied_edits": []}),
                        "input_transformations": st.none() | st.just([]),
                    },
                )
            )
        )
        events += [*noise(data), closing]
    events.append({"type": "message_stop"})
    return events, cut


def wire(events: list[dict[str, Any]], data: st.DataObject) -> tuple[bytes, bool]:
    """The SSE bytes of ``events``: any line break, comments, and an ending with or
    without the last blank line (or line break).  ``True`` when it ends whole."""
    newline = data.draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = ""
    for event in events:
        if data.draw(st.integers(0, 9)) == 0:
            text += ": keep-alive\n"
        text += encode_event(event).decode()
    ending = data.draw(st.sampled_from(["\n\n", "\n", ""]))
    text = text.removesuffix("\n\n") + ending
    return text.replace("\n", newline).encode(), ending == "\n\n"


def chunked(raw: bytes, data: st.DataObject) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


def convo_parse(chunks: list[bytes]) -> list[dict[str, Any]]:
    parser = SSEParser()
    sses = [sse for chunk in chunks for sse in parser.feed(chunk)]
    sses += parser.close()
    return [parse_event(sse) for sse in sses]


# -- the properties --------------------------------------------------------------


# CI's budget; CONVO_PARITY_EXAMPLES=1500 (say) for a longer run.
EXAMPLES = int(os.environ.get("CONVO_PARITY_EXAMPLES", "100"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_property_fold_equals_the_sdk_accumulator(data: st.DataObject) -> None:
    """Bytes in any chunking -> the same events -> the SDK's message, exactly."""
    events, _ = stream(data)
    raw, whole = wire(events, data)
    chunks = chunked(raw, data)
    parsed = convo_parse(chunks)
    assert parsed == events
    if whole:  # the SDK's decoder drops a last event that has no blank line
        sdk_events = [
            json.loads(sse.data)
            for sse in sdk_streaming.SSEDecoder().iter_bytes(iter(chunks))
        ]
        assert sdk_events == events
    acc = Accumulator()
    for event in parsed:
        acc.add(event)
    assert acc.done
    assert acc.message() == sdk_snapshot(events)
    ga = ga_snapshot(events)
    tally("compared with both SDK folds" if ga is not None else "with the beta fold only")
    if ga is not None:
        assert acc.message() == ga


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_property_a_stream_cut_anywhere_keeps_what_the_sdk_keeps(data: st.DataObject) -> None:
    """A stream broken after any event: the fold's snapshot (and the error's
    ``partial``) equals the SDK's snapshot at that point."""
    events, _ = stream(data)
    keep = data.draw(st.integers(1, len(events) - 1))
    prefix = events[:keep]
    fine_grained = data.draw(st.booleans())  # the beta that keeps unfinished strings
    acc = Accumulator(partial_strings=fine_grained)
    for event in prefix:
        acc.add(event)
    expected = sdk_snapshot(prefix, (FINE_GRAINED_TOOL_STREAMING,) if fine_grained else ())
    assert acc.snapshot == expected
    with pytest.raises(StreamError, match="before message_stop") as info:
        acc.message()
    assert info.value.partial == expected


def test_the_five_measured_cases() -> None:
    """compaction_delta, a tool call cut by max_tokens, container: null, fallback model
    (the fifth, a last event without its blank line, is in the property above)."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-8",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "container": {"id": "cntr_1", "expires_at": "2026-12-01T10:00:00Z"},
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    }
    events = [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "compaction", "content": None}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "compaction_delta", "content": "Summary.", "encrypted_content": "e30="}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "fallback",
                "from": {"model": "claude-opus-4-8"},
                "to": {"model": "claude-sonnet-5"},
                "trigger": {"type": "refusal", "category": "cyber"},
            },
        },
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"q": "paris", "n": 1'}},
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": None, "container": None}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    raw = b"".join(encode_event(e) for e in events).removesuffix(b"\n\n")
    acc = Accumulator()
    for event in convo_parse([raw]):
        acc.add(event)
    message = acc.message()
    assert message["content"][0] == {"type": "compaction", "content": "Summary.", "encrypted_content": "e30="}
    assert message["model"] == "claude-sonnet-5"
    assert message["container"] == start["message"]["container"]
    assert message["content"][2]["input"] == {"q": "paris", "n": 1}
    assert message["stop_reason"] == "max_tokens"
    assert message == sdk_snapshot(events)

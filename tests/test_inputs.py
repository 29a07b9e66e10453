"""The input policy (``convo.inputs``): what convo accepts, at every entry point.

Strings must be UTF-8 encodable (no lone surrogates), numbers finite,
integers kept exactly up to ``MAX_INTEGER_DIGITS``, nesting at most
``MAX_DEPTH``; everything else is a ``CodecError`` naming the JSON path, in
bounded time, never a ``UnicodeEncodeError``/``ValueError``/``RecursionError``
from deep inside, and never something that fails later in ``save``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import convo
from convo import CodecError, Conversation, TextBlock, ToolUseBlock, UnknownBlock
from convo._frozen import FrozenDict, freeze
from convo.chat import AsyncChat, Chat
from convo.codec import block_from_json, content_from_json, split_response
from convo.inputs import (
    DOCUMENT_ENVELOPE,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_INTEGER_DIGITS,
    check_json,
    decode_document,
    describe,
    load_json,
)
from convo.store import AsyncStore, Store
from convo.transport import AsyncScriptedTransport, ScriptedTransport

LONE = "\ud800"


def payload(content: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}], **extra}


def response(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    base.update(overrides)
    return base


def nested(depth: int, leaf: Any = 0) -> Any:
    """A list nested ``depth`` levels (built without recursion)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@contextmanager
def bounded_cpu(seconds: float = 1.0) -> Iterator[None]:
    """The block takes well under a second of CPU (bounded time; CPU time, so
    a loaded machine does not make it flaky). Build large inputs before
    entering it: building 200 000 nested lists alone costs a CI runner most of
    a second in the cyclic collector, which is not the code under test."""
    start = time.thread_time()
    yield
    assert time.thread_time() - start < seconds


# -- strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (payload(LONE), "$.messages[0].content"),
        (payload([{"type": "text", "text": "a" + LONE}]), "$.messages[0].content[0].text"),
        (payload([{"type": "future", LONE: 1}]), "$.messages[0].content[0] (a key)"),
        (payload("hi", system=LONE), "$.system"),
        (payload("hi", metadata={"user_id": "\udfff"}), "$.metadata.user_id"),
    ],
)
def test_lone_surrogates_in_a_payload_are_refused_with_their_path(document, path):
    """A lone surrogate anywhere in a payload is a CodecError naming its path."""
    with pytest.raises(CodecError, match="lone surrogate") as caught:
        Conversation.from_payload(document)
    assert caught.value.path == path


def test_surrogates_from_json_escapes_pair_or_are_refused():
    """A JSON surrogate pair is one character (kept); a lone escape is refused."""
    paired = Conversation.from_payload(json.loads(json.dumps(payload("\U0001f600 ok"))))
    assert paired.turns[0].content == "\U0001f600 ok"
    with pytest.raises(CodecError, match="lone surrogate"):
        Conversation.from_payload(json.loads('{"messages":[{"role":"user","content":"\\ud83d"}]}'))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Conversation().user(LONE),
        lambda: Conversation().user([TextBlock(LONE)]),
        lambda: TextBlock("ok " + LONE),
        lambda: ToolUseBlock("toolu_1", LONE),
        lambda: Conversation().user("hi", meta={"note": LONE}),
        lambda: Conversation(LONE),
        lambda: Conversation().user([ToolUseBlock("t", "f", {"k": LONE})]),
        lambda: UnknownBlock({"type": "x", "v": LONE}),
        lambda: block_from_json({"type": "text", "text": LONE}),
        lambda: content_from_json(LONE),
        lambda: split_response(response(content=[{"type": "text", "text": LONE}])),
    ],
)
def test_every_way_in_refuses_a_lone_surrogate(build):
    """Python-built turns, blocks and meta obey the same rule as parsed JSON."""
    with pytest.raises(CodecError, match="lone surrogate"):
        build()


def test_accepted_text_is_always_hashable_and_saveable():
    """Non-ASCII text that passes the policy survives hashing and the store."""
    text = "caf\u00e9 \u4e2d\u6587 \U0001f600 \x00 \u2028"
    c = Conversation().user(text)
    with Store("sqlite://") as store:
        store.save("t", c)
        assert store.load("t").turns[0].content == text


# -- numbers -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_everywhere(bad):
    """NaN and ±Infinity are CodecErrors with their path, never a ValueError in save."""
    with pytest.raises(CodecError, match="not a JSON number") as caught:
        Conversation.from_payload(payload([{"type": "tool_use", "id": "t", "name": "f", "input": {"x": bad}}]))
    assert caught.value.path == "$.messages[0].content[0].input.x"
    with pytest.raises(CodecError):
        Conversation().user("hi", meta={"score": bad})
    with pytest.raises(CodecError):
        ToolUseBlock("t", "f", {"x": [bad]})
    with pytest.raises(CodecError):
        freeze({"a": bad})


def test_nan_in_usage_is_refused_by_append_response():
    """The response is refused before any turn exists; the conversation is unchanged."""
    c = Conversation().user("hi")
    with pytest.raises(CodecError) as caught:
        c.append_response(response(usage={"input_tokens": math.nan, "output_tokens": 1}))
    assert caught.value.path == "$.usage.input_tokens"
    assert len(c) == 1


def test_chat_never_holds_an_unsaveable_reply(tmp_path: Path):
    """A NaN in usage fails the step with a CodecError; nothing is pending, the
    store holds only what was valid, and the next step works."""
    bad = response(usage={"input_tokens": math.inf})
    with Store(tmp_path / "c.db") as store:
        chat = Chat(store, ScriptedTransport([bad, response(id="msg_2")]), "t", model="claude-opus-4-6")
        with pytest.raises(CodecError):
            chat.send("hello")
        assert chat.pending is None
        with pytest.raises(Exception, match="no thread"):
            store.load("t")
        turn = chat.send("hello again")
        assert turn.meta["id"] == "msg_2"
        assert store.load("t") == chat.conversation


async def test_async_chat_never_holds_an_unsaveable_reply(tmp_path: Path):
    """AsyncChat: the same."""
    bad = response(usage={"input_tokens": math.nan})
    async with AsyncStore(tmp_path / "a.db") as store:
        chat = AsyncChat(store, AsyncScriptedTransport([bad, response()]), "t", model="claude-opus-4-6")
        with pytest.raises(CodecError):
            await chat.send("hello")
        assert chat.pending is None
        await chat.send("again")
        assert await store.load("t") == chat.conversation


BIG = [2**63, 2**64, 2**64 + 1, -(2**200), 10**(MAX_INTEGER_DIGITS - 1), -(10**MAX_INTEGER_DIGITS - 1)]


def _expected_id(content: Any) -> str:
    record = json.dumps({"content": content, "role": "user"}, sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False)
    return "sha256:" + hashlib.sha256(b"\n" + record.encode()).hexdigest()


@pytest.mark.parametrize("number", BIG, ids=range(len(BIG)))
def test_big_integers_round_trip_exactly(number):
    """from_payload -> to_payload keeps the integer exactly, and the turn id is
    the canonical hash of the exact integer (not of a float)."""
    content = [{"type": "future", "n": {"deep": [number]}}]
    c = Conversation.from_payload(payload(content))
    back = c.to_payload("m", 5)["messages"][0]["content"][0]["n"]["deep"][0]
    assert type(back) is int and back == number
    assert c.head_id == _expected_id(content)
    assert Conversation.from_payload(json.loads(json.dumps(c.to_payload("m", 5)))) == c


def test_integers_one_apart_get_different_ids():
    """2**64 and 2**64 + 1 are different content (a float would merge them)."""
    a = Conversation.from_payload(payload([{"type": "future", "n": 2**64}]))
    b = Conversation.from_payload(payload([{"type": "future", "n": 2**64 + 1}]))
    assert a.head_id != b.head_id


@given(st.integers(min_value=-(10**MAX_INTEGER_DIGITS) + 1, max_value=10**MAX_INTEGER_DIGITS - 1))
def test_any_integer_within_the_limit_round_trips(number):
    """Law: every integer of at most MAX_INTEGER_DIGITS digits comes back exactly."""
    c = Conversation.from_payload(payload([{"type": "future", "n": number}]))
    assert c.to_payload("m", 5)["messages"][0]["content"][0]["n"] == number


@pytest.mark.parametrize("number", [10**MAX_INTEGER_DIGITS, -(10**MAX_INTEGER_DIGITS), 1 << 400_000], ids=["10**4300", "-10**4300", "2**400000"])
def test_integers_past_the_limit_are_refused_quickly(number):
    """An integer JSON could not write back is a CodecError naming the limit (no str())."""
    document = payload([{"type": "future", "n": number}])
    with bounded_cpu(), pytest.raises(CodecError, match="MAX_INTEGER_DIGITS"):
        Conversation.from_payload(document)


def test_huge_integer_text_is_a_codec_error():
    """JSON text with an integer past Python's conversion limit: a CodecError."""
    with pytest.raises(CodecError):
        load_json('{"n": ' + "9" * (MAX_INTEGER_DIGITS + 10) + "}")


def test_booleans_stay_booleans():
    """True is not 1: both are accepted and kept as they came."""
    c = Conversation.from_payload(payload([{"type": "future", "a": True, "b": 1}]))
    block = c.to_payload("m", 5)["messages"][0]["content"][0]
    assert block["a"] is True and type(block["b"]) is int


# -- structure and depth -------------------------------------------------------


def test_nesting_at_the_limit_is_accepted_and_round_trips():
    """Content exactly MAX_DEPTH deep is accepted and its payload is accepted back."""
    # content array (1) > block (2) > "v" nest: MAX_DEPTH levels in all.
    block = {"type": "future", "v": nested(MAX_DEPTH - 2)}
    c = Conversation().user([UnknownBlock(block)])
    again = Conversation.from_payload(c.to_payload("m", 5))
    assert again.head_id == c.head_id
    with Store("sqlite://") as store:
        store.save("t", c)
        assert store.load("t").to_payload("m", 5) == c.to_payload("m", 5)


@pytest.mark.parametrize("depth", [MAX_DEPTH + DOCUMENT_ENVELOPE + 1, 5_000, 200_000])
def test_deep_nesting_is_a_codec_error_naming_the_limit(depth):
    """Past the limit: CodecError naming MAX_DEPTH, in bounded time, at every entry point."""
    deep = nested(depth)
    calls = [
        lambda: Conversation.from_payload(payload([{"type": "future", "v": deep}])),
        lambda: Conversation.from_payload({"messages": [{"role": deep, "content": "x"}]}),
        lambda: Conversation().user("x").append_response(response(usage={"deep": deep})),
        lambda: block_from_json({"type": "tool_use", "id": "t", "name": "f", "input": {"x": deep}}),
        lambda: content_from_json(deep),
        lambda: freeze({"x": deep}),
        lambda: Conversation().user("x", meta={"x": deep}),
        lambda: check_json(deep),
    ]
    with bounded_cpu():
        for call in calls:
            with pytest.raises(CodecError, match="MAX_DEPTH"):
                call()


def test_deep_json_text_is_a_codec_error_not_a_recursion_error():
    """JSON text nested far past the recursion limit: CodecError, never RecursionError."""
    deep, shallow = "[" * 200_000 + "]" * 200_000, "[" * 150 + "]" * 150
    with bounded_cpu():
        with pytest.raises(CodecError, match="MAX_DEPTH"):
            load_json(deep)
        with pytest.raises(CodecError, match="MAX_DEPTH"):
            load_json(shallow)


def test_describe_is_bounded_for_any_value():
    """Error messages quote values with a bounded repr, however deep or long."""
    assert len(describe(nested(100_000))) < 200
    assert len(describe("x" * 10**6)) < 200
    assert len(describe(FrozenDict({"k": "v" * 1000}))) < 200

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert describe(Broken()).startswith("<Broken")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({1: "x"}, "keys must be strings"),
        ({"a": {1, 2}}, "set is not a JSON value"),
        ({"a": b"bytes"}, "bytes is not a JSON value"),
        ({"a": object()}, "object is not a JSON value"),
    ],
)
def test_non_json_values_are_refused(value, fragment):
    """Only JSON values are accepted (a set in meta would fail in save)."""
    with pytest.raises(CodecError, match=fragment):
        Conversation().user("x", meta=value)


def test_a_frozen_dict_built_by_hand_is_still_checked_as_meta():
    """meta is checked even when it is already a FrozenDict."""
    with pytest.raises(CodecError):
        Conversation().user("x", meta=FrozenDict({"x": math.nan}))


def test_paths_name_the_problem():
    """check_json reports the first problem with a JSON path."""
    with pytest.raises(CodecError) as caught:
        check_json({"a": [1, {"b c": [math.nan]}]}, "$.doc")
    assert caught.value.path == "$.doc.a[1]['b c'][0]"


# -- documents -----------------------------------------------------------------


def test_decode_document_names_the_bad_byte():
    """Non-UTF-8 bytes: a CodecError with the offset and line."""
    with pytest.raises(CodecError, match=r"not UTF-8 text: byte 0xff at offset 8 \(line 2\)"):
        decode_document(b'{"a":\n"b\xff"}', source="f.json")
    assert decode_document("\ufeff{}".encode()) == "{}"


def test_decode_document_refuses_oversized_input():
    """More than MAX_DOCUMENT_BYTES: a CodecError naming the limit."""

    class Huge(bytes):
        def __len__(self) -> int:
            return MAX_DOCUMENT_BYTES + 1

    with pytest.raises(CodecError, match="MAX_DOCUMENT_BYTES"):
        decode_document(Huge(b"{}"))


def test_limits_are_public():
    """The limits are named constants reachable from convo.inputs."""
    assert convo.inputs.MAX_DEPTH == MAX_DEPTH < 200
    assert convo.inputs.MAX_INTEGER_DIGITS == MAX_INTEGER_DIGITS
    assert convo.inputs.MAX_DOCUMENT_BYTES == MAX_DOCUMENT_BYTES


def test_continuations_cannot_nest_meta_past_the_limit():
    """Each join of a continuation nests the previous meta one level deeper;
    past MAX_DEPTH that is a CodecError, not a turn that cannot be re-read."""
    c = Conversation().user("go").prefill("A")
    reply = response(content=[{"type": "text", "text": "b"}], stop_reason="pause_turn")
    joins = 0
    while joins < MAX_DEPTH + 5:
        try:
            c = c.append_response(reply)
        except CodecError as exc:
            assert "MAX_DEPTH" in str(exc) and exc.path.startswith("$.meta.prefix_meta")
            break
        joins += 1
    assert MAX_DEPTH - 5 < joins < MAX_DEPTH + 5
    assert len(c) == 2


@pytest.mark.parametrize("field", ["thread", "title", "model"])
def test_a_chat_refuses_an_unsaveable_thread_id_title_or_model_up_front(tmp_path: Path, field: str):
    """A NUL in what the chat will save is refused at construction, before any
    request (else every save would fail and leave a pending reply)."""
    options: dict[str, Any] = {"thread": "t", "title": "ok", "model": "claude-opus-4-6"}
    options[field] = "bad\x00value"
    with Store(tmp_path / "c.db") as store:
        transport = ScriptedTransport([response()])
        with pytest.raises(CodecError):
            Chat(store, transport, options.pop("thread"), **options)
        assert transport.requests == []


def test_tool_result_chains_built_in_python_stop_at_the_limit():
    """Nesting tool_result blocks one constructor at a time stops with a
    CodecError near MAX_DEPTH, never a RecursionError when written as JSON."""
    from convo import ToolResultBlock

    block: Any = TextBlock("x")
    built = 0
    with bounded_cpu():
        while built < 10 * MAX_DEPTH:
            try:
                block = ToolResultBlock("t", [block])
            except CodecError as exc:
                assert "MAX_DEPTH" in str(exc)
                break
            built += 1
        assert MAX_DEPTH // 2 - 2 <= built <= MAX_DEPTH // 2
        with pytest.raises(CodecError, match="MAX_DEPTH"):
            Conversation().user("q").assistant("a").user([block])

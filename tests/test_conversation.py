"""Conversation: immutability, O(1) append and fork, equality, verbs."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import (
    CodecError,
    Conversation,
    RuleError,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Turn,
)
from convo.testing import conversations

RESPONSE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hi!"}],
    "model": "claude-opus-4-6",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 2},
}


def test_append_returns_new_conversation_and_leaves_old_alone():
    """Every verb returns a new value; the receiver never changes."""
    a = Conversation()
    b = a.user("hi")
    assert len(a) == 0 and len(b) == 1
    with pytest.raises(AttributeError):
        b._head = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        b[0].role = "assistant"  # type: ignore[misc]


def test_append_links_to_the_previous_turn_without_copying():
    """Append is a new link over the same turn objects (O(1))."""
    a = Conversation().user("hi").assistant("yo")
    b = a.user("again")
    assert b[0] is a[0] and b[1] is a[1]
    assert b[2].parent_id == a.head_id


@given(conversations(min_turns=1), st.data())
def test_fork_shares_turn_objects(c, data):
    """fork(n) and c[:n] are prefixes made of the very same turn objects."""
    n = data.draw(st.integers(0, len(c)))
    fork = c.fork(n)
    assert len(fork) == n
    assert c[:n] == fork
    for i in range(n):
        assert fork[i] is c[i]
    assert fork.head_id == (c[n - 1].id if n else None)


def test_fork_bounds_and_negative_index():
    """fork(-1) drops the last turn; out of range is IndexError."""
    c = Conversation().user("a").assistant("b").user("c")
    assert len(c.fork(-1)) == 2
    assert c.fork(3) is c
    with pytest.raises(IndexError):
        c.fork(4)
    with pytest.raises(IndexError):
        c.fork(-4)
    with pytest.raises(ValueError, match="prefix"):
        c[1:2]
    assert c[:-1] == c.fork(2)
    assert c[:] == c


def test_equal_content_gives_equal_ids_and_equal_conversations():
    """Two conversations built the same way are equal and hash equal."""
    a = Conversation("sys").user("hi").assistant("yo")
    b = Conversation("sys").user("hi").assistant("yo")
    assert a == b and hash(a) == hash(b)
    assert a.head_id == b.head_id
    assert a != Conversation("other").user("hi").assistant("yo")
    assert a != a.user("more")
    assert {a, b} == {a}


def test_origin_and_meta_are_annotations_not_identity():
    """Origin never changes the payload, nor the id."""
    a = Conversation().user("hi", origin="human")
    b = Conversation().user("hi", origin="synthetic", meta={"note": 1})
    assert a.to_payload("m", 1) == b.to_payload("m", 1)
    assert a == b
    assert b[0].origin == "synthetic" and b[0].meta == {"note": 1}


def test_parent_participates_in_hash():
    """The same content under another parent is another turn."""
    a = Conversation().user("x").assistant("y").user("z")
    b = Conversation().user("q").assistant("y").user("z")
    assert a[2].id != b[2].id
    assert a[2].content == b[2].content


def test_shorthand_and_block_forms_are_kept_apart():
    """A string is sent as a string, a block list as a list."""
    a = Conversation().user("hi")
    b = Conversation().user(TextBlock("hi"))
    assert a.to_payload("m", 1)["messages"][0]["content"] == "hi"
    assert b.to_payload("m", 1)["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    assert a != b


def test_payload_params_pass_through_and_messages_are_read_only():
    """Extra params pass through; the shared message objects cannot be edited."""
    c = Conversation([TextBlock("sys")]).user("hi")
    p = c.to_payload("m", 5, temperature=0.2, tools=[{"name": "t"}])
    assert p["temperature"] == 0.2 and p["tools"] == [{"name": "t"}]
    assert p["system"] == [{"type": "text", "text": "sys"}]
    with pytest.raises(TypeError):
        p["messages"][0]["content"] = "changed"
    p["messages"].append({"role": "assistant", "content": "x"})  # the list itself is the caller's
    assert len(c.to_payload("m", 5)["messages"]) == 1
    with pytest.raises(ValueError, match="messages"):
        c.to_payload("m", 5, messages=[])


def test_append_response_keeps_meta_and_origin():
    """A response becomes one model turn with its fields in meta."""
    c = Conversation().user("hello").append_response(RESPONSE)
    turn = c[1]
    assert turn.origin == "model"
    assert turn.meta["usage"] == {"input_tokens": 3, "output_tokens": 2}
    assert turn.meta["id"] == "msg_1"
    assert turn.content == [{"type": "text", "text": "Hi!"}]


def test_append_response_rejects_garbage_clearly():
    """A non-message is a CodecError, never a KeyError."""
    with pytest.raises(CodecError):
        Conversation().user("x").append_response({"nope": 1})


def test_pause_turn_continuation_joins_into_one_turn():
    """A paused server-tool turn is continued, not followed by a new turn."""
    paused = dict(RESPONSE, stop_reason="pause_turn",
                  content=[{"type": "text", "text": "Searching"},
                           {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}])
    c = Conversation().user("find it").append_response(paused)
    c.check_sendable("claude-opus-4-6")  # a paused turn may trail, even without prefill
    done = c.append_response(dict(RESPONSE, content=[{"type": "text", "text": "Found."}]))
    assert len(done) == 2
    assert [b.get("type") for b in done[1].content] == ["text", "server_tool_use", "text"]
    assert done[1].meta["prefix_meta"]["stop_reason"] == "pause_turn"


def test_tool_results_answer_the_last_turn():
    """tool_results builds a user turn of tool_result blocks, origin tool."""
    c = Conversation().user("2+2?").assistant([ToolUseBlock("toolu_1", "calc", {"q": "2+2"})])
    done = c.tool_results({"toolu_1": "4"})
    assert done[2].origin == "tool"
    assert done[2].blocks == (ToolResultBlock("toolu_1", "4"),)
    failed = c.tool_results({"toolu_1": "boom"}, errors=["toolu_1"])
    assert failed[2].blocks[0].is_error is True
    explicit = c.tool_results({"toolu_1": ToolResultBlock("toolu_1", (TextBlock("4"),))})
    assert explicit[2].content[0]["content"] == [{"type": "text", "text": "4"}]


def test_merge_policy_joins_same_role_turns():
    """merge joins blocks into the previous turn, as the API would."""
    c = Conversation(policy="merge").user("a").user("b")
    assert len(c) == 1
    assert c[0].content == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    with pytest.raises(RuleError) as info:
        Conversation().user("a").user("b")
    assert (info.value.rule, info.value.index) == ("roles-alternate", 1)
    assert c.with_policy("strict").policy == "strict"
    with pytest.raises(ValueError, match="policy"):
        Conversation(policy="loose")  # type: ignore[arg-type]


def test_merge_policy_still_enforces_tool_rules():
    """A merged turn is checked like any other."""
    c = Conversation(policy="merge").user("q").assistant([ToolUseBlock("toolu_1", "f", {})])
    c = c.tool_results({"toolu_1": "r"}).user("and also this")
    assert len(c) == 3
    assert [b["type"] for b in c[2].content] == ["tool_result", "text"]


def test_prefill_refuses_trailing_whitespace_at_once():
    """The API refuses it, so prefill() does too."""
    with pytest.raises(RuleError) as info:
        Conversation().user("q").prefill("The answer is ")
    assert info.value.rule == "prefill-no-trailing-whitespace"
    assert info.value.index == 1


def test_thinking_blocks_kept_byte_for_byte():
    """Thinking and signatures come back exactly."""
    block = {"type": "thinking", "thinking": "let me see\n", "signature": "EqQBCkYIARgCIkB..."}
    c = Conversation().user("q").append_response(dict(RESPONSE, content=[block, {"type": "text", "text": "A"}]))
    assert c[1].blocks[0] == ThinkingBlock("let me see\n", "EqQBCkYIARgCIkB...")
    assert c.to_payload("m", 1)["messages"][1]["content"][0] == block


def test_with_system_and_system_json():
    """The system prompt is part of equality but not of turn ids."""
    c = Conversation("a").user("hi")
    d = c.with_system("b")
    assert d.system == "b" and d.system_json == "b"
    assert d[0] is c[0] and d != c


def test_from_turns_checks_the_chain():
    """from_turns needs a parent-linked chain."""
    c = Conversation().user("a").assistant("b")
    assert Conversation.from_turns(c.turns) == c
    with pytest.raises(ValueError, match="parent"):
        Conversation.from_turns([c[1]])


@given(conversations())
def test_pickle_round_trip(c):
    """Conversations and turns survive pickling (multiprocessing, caches)."""
    again = pickle.loads(pickle.dumps(c))
    assert again == c
    assert [t.origin for t in again] == [t.origin for t in c]
    assert [t.meta for t in again] == [t.meta for t in c]


def test_turns_are_not_built_directly():
    """Turn() is refused: Turn.create computes the id."""
    with pytest.raises(TypeError):
        Turn()
    turn = Turn.create("user", "hi", origin="human")
    turn.verify()
    assert turn.computed_id() == turn.id
    assert "user" in repr(turn)
    with pytest.raises(ValueError, match="role"):
        Turn.create("robot", "hi", origin="human")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Turn.create("user", {"type": "text"}, origin="human")  # type: ignore[arg-type]


def test_repr_is_short():
    """repr names the length and head, not the whole history."""
    c = Conversation("s").user("hi" * 1000)
    assert len(repr(c)) < 200
    assert len(repr(c[0])) < 200


def test_reversed_turns_walks_newest_first():
    """reversed_turns yields the chain from the head back."""
    c = Conversation().user("a").assistant("b").user("c")
    assert list(c.reversed_turns()) == list(reversed(c.turns))
    assert list(Conversation().reversed_turns()) == []


def test_repr_shows_roles_and_short_content_bounded():
    """A failing Hypothesis example is readable: roles and clipped content of
    the first and last turns, and the repr stays short however long the history."""
    from convo import ToolUseBlock

    c = Conversation("You are terse.").user("What is the weather in Paris today?")
    c = c.append("assistant", [ToolUseBlock("toolu_1", "get_weather", {})], origin="model")
    text = repr(c)
    assert "user 'What is the weather in" in text and "assistant [tool_use get_weather]" in text
    assert "system='You are terse.'" in text
    long = Conversation()
    for i in range(500):
        long = long.user(f"question {i} " + "x" * 5000).assistant(f"answer {i} " + "y" * 5000)
    text = repr(long)
    assert len(text) < 700
    assert "1000 turns" in text and "question 0" in text and "answer 499" in text
    assert "... 994 more ..." in text

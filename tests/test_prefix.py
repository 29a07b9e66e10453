"""Prefix fingerprints: thinking is reported exactly where its prefix changed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, NotSendableError, ThinkingBlock
from convo.prefix import FINGERPRINT_KEY, THINKING_PREFIX_UNCHANGED, has_thinking

MODEL = "claude-opus-4-5"
TOOLS = [{"name": "search", "input_schema": {"type": "object"}}]
THINKING = {"type": "enabled", "budget_tokens": 2048}
RULE = THINKING_PREFIX_UNCHANGED.name


def reply(i: int, thinking: bool = True, **extra: Any) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking:
        content.append({"type": "thinking", "thinking": f"hmm {i}", "signature": f"sig{i}"})
    content.append({"type": "text", "text": f"answer {i}"})
    return {
        "id": f"msg_{i}", "type": "message", "role": "assistant", "model": MODEL,
        "content": content, "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1}, **extra,
    }


def grow(system: str, exchanges: list[bool]) -> Conversation:
    """User questions answered by model turns (with thinking where True),
    each appended with the request it answers."""
    c = Conversation(system)
    for i, thinks in enumerate(exchanges):
        c = c.user(f"question {i}")
        request = c.to_payload(MODEL, 4096, tools=TOOLS, thinking=THINKING, cache="auto")
        c = c.append_response(reply(i, thinks), request=request)
    return c


def flagged(c: Conversation, **params: Any) -> set[int]:
    try:
        c.check_sendable(MODEL, max_tokens=4096, **params)
    except NotSendableError as exc:
        return {e.index for e in exc.violations if e.rule == RULE and e.index is not None}
    return set()


def test_a_model_turn_records_its_prefix_and_input_transformations() -> None:
    """The fingerprint is kept in meta, as is input_transformations."""
    c = Conversation("sys").user("q")
    request = c.to_payload(MODEL, 10, tools=TOOLS)
    transformations = [{"type": "thinking_block_dropped", "index": 0}]
    c = c.append_response(reply(0, input_transformations=transformations), request=request)
    meta = c.head.meta if c.head else {}
    assert meta["input_transformations"] == transformations
    assert meta[FINGERPRINT_KEY]["parent"] == c[0].id
    assert set(meta[FINGERPRINT_KEY]) == {"system", "tools", "thinking", "parent"}


def test_unchanged_prefix_passes_and_cache_markers_do_not_count() -> None:
    """Same system, tools and thinking: sendable, with or without breakpoints."""
    c = grow("sys", [True, True])
    assert flagged(c, tools=TOOLS, thinking=THINKING) == set()
    marked = [{**TOOLS[0], "cache_control": {"type": "ephemeral"}}]
    assert flagged(c, tools=marked, thinking=THINKING) == set()


def test_without_a_request_nothing_is_known_so_nothing_is_reported() -> None:
    """Turns appended without their request carry no fingerprint."""
    c = Conversation("sys").user("q").append_response(reply(0))
    assert flagged(c.with_system("other")) == set()


@given(
    st.lists(st.booleans(), min_size=1, max_size=6),
    st.sampled_from(["none", "system", "tools", "thinking", "message"]),
    st.data(),
)
def test_check_flags_exactly_the_thinking_whose_prefix_changed(
    exchanges: list[bool], edit: str, data: st.DataObject
) -> None:
    """Edits to system, tools, the thinking config or an earlier turn flag
    exactly the thinking turns after (or under) the edit."""
    c = grow("sys", exchanges)
    thinking_turns = {i for i, t in enumerate(c.turns) if has_thinking(t)}
    tools, thinking = TOOLS, THINKING
    expected: set[int] = set()
    if edit == "system":
        c = c.with_system("a new system prompt")
        expected = thinking_turns
    elif edit == "tools":
        tools = [*TOOLS, {"name": "fetch", "input_schema": {"type": "object"}}]
        expected = thinking_turns
    elif edit == "thinking":
        thinking = {"type": "enabled", "budget_tokens": 3000}
        expected = thinking_turns
    elif edit == "message":
        # Rewrite user turn k and carry every later turn over (a rebase).
        k = data.draw(st.sampled_from(range(0, len(c), 2)))
        turns = c.turns
        edited = c.fork(k).user(f"edited question {k}")
        for turn in turns[k + 1 :]:
            edited = Conversation.from_turns(
                (*edited.turns, turn.with_parent(edited.head_id)), edited.system
            )
        c = edited
        expected = {i for i in thinking_turns if i > k}
    assert flagged(c, tools=tools, thinking=thinking) == expected
    fixed = c.strip_stale_thinking(tools=tools, thinking=thinking)
    assert flagged(fixed, tools=tools, thinking=thinking) == set()
    if expected:
        first = min(expected)
        assert fixed.turns[:first] == c.turns[:first]  # shared, untouched
        assert all(not has_thinking(t) for t in fixed.turns[first:])
        assert [t.text for t in fixed.turns] == [t.text for t in c.turns]
    else:
        assert fixed is c


def test_stripped_turns_say_so_and_the_original_is_unchanged() -> None:
    """The fork marks what it stripped; the conversation it came from keeps
    its thinking."""
    c = grow("sys", [True, False, True]).with_system("changed")
    fixed = c.strip_stale_thinking(tools=TOOLS, thinking=THINKING)
    assert [t.meta.get("thinking_stripped") for t in fixed.turns if t.role == "assistant"] == [True, None, True]
    assert sum(isinstance(b, ThinkingBlock) for t in c.turns for b in t.blocks) == 2
    with pytest.raises(NotSendableError) as info:
        c.check_sendable(MODEL, tools=TOOLS, thinking=THINKING)
    assert {e.index for e in info.value.violations if e.rule == RULE} == {1, 5}

"""Compaction: server blocks kept exactly; client compaction as a new chain."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, ToolResultBlock, ToolUseBlock
from convo.compaction import compact, compaction_link, tail_start
from convo.testing import conversations

SERVER_BLOCK = {
    "type": "compaction",
    "content": "Summary of the talk so far.",
    "encrypted_content": "ZW5jcnlwdGVkLWJsb2I=",
    "signature": "c2lnbmF0dXJl",
    "a_future_field": {"kept": [1, None]},
}


def test_server_compaction_blocks_round_trip_exactly() -> None:
    """A compaction block (encrypted_content, unknown fields, key order)
    goes back byte for byte and gives the same turn id as its payload."""
    response = {
        "id": "msg_c", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
        "content": [SERVER_BLOCK, {"type": "text", "text": "Go on."}],
        "stop_reason": "compaction", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    c = Conversation().user("long talk").append_response(response)
    sent = c.to_payload("claude-opus-4-5", 10)["messages"][1]["content"]
    assert json.dumps(sent) == json.dumps(response["content"])
    assert c.head is not None and c.head.meta["stop_reason"] == "compaction"
    again = Conversation.from_payload(c.to_payload("claude-opus-4-5", 10))
    assert again.head_id == c.head_id
    auto = c.user("next").to_payload("claude-opus-4-5", 10, cache="auto")
    assert "cache_control" not in auto["messages"][1]["content"][0]  # never marked


def _tools_conversation() -> Conversation:
    c = Conversation("sys").user("q0").assistant("a0").user("q1")
    c = c.assistant([ToolUseBlock("toolu_1", "search", {"q": "x"})])
    return c.tool_results({"toolu_1": "found"}).assistant("a1").user("q2")


def test_keep_tail_moves_the_cut_before_a_tool_pair() -> None:
    """Asking to keep the last 3 turns keeps 5: the tool pair stays whole."""
    c = _tools_conversation()
    assert tail_start(c, 3) == 2  # user q1, not the tool result at 4
    compacted = compact(c, "We talked about q0.", keep_tail=3)
    assert len(compacted) == 5
    assert [t.text for t in compacted.turns[1:]] == [t.text for t in c.turns[3:]]
    assert compacted[0].text.startswith("We talked about q0.")
    link = compaction_link(compacted)
    assert link == {"summarises": c[1].id, "summarised_turns": 2, "compacted_head": c.head_id}
    compacted.check_sendable("claude-opus-4-5")
    with pytest.raises(ValueError, match="nothing to compact"):
        compact(c, "x", keep_tail=len(c))
    assert compaction_link(c) is None


@given(conversations(min_turns=2, max_turns=10, thinking=False, images=False), st.integers(0, 10))
def test_compaction_keeps_every_original_turn_and_a_valid_chain(c: Conversation, keep: int) -> None:
    """The original chain is untouched and named by the link; the compacted
    chain obeys every append rule, keeps the tail's content in order and
    never starts its tail inside a tool pair."""
    cut = tail_start(c, keep)
    if cut == 0:
        with pytest.raises(ValueError):
            compact(c, "summary", keep_tail=keep)
        return
    before = [t.id for t in c.turns]
    compacted = compact(c, "summary", keep_tail=keep)
    assert [t.id for t in c.turns] == before
    link = compaction_link(compacted)
    assert link is not None
    assert link["summarises"] == c[cut - 1].id == c.fork(cut).head_id
    assert link["compacted_head"] == c.head_id
    assert [t.content for t in compacted.turns[1:]] == [t.content for t in c.turns[cut + 1 :]]
    first = c.turns[cut] if cut < len(c) else None
    if first is not None:
        assert not any(isinstance(b, ToolResultBlock) for b in first.blocks)
        assert compacted[0].blocks[1:] == first.blocks
    # a valid chain: rebuilding it through the append rules succeeds
    Conversation.from_turns(compacted.turns, compacted.system, policy=c.policy)


def test_compact_thread_archives_then_swaps_with_a_compare_and_set(tmp_path) -> None:
    """The thread's head moves to the compaction; the original chain stays
    stored under the archive thread; a stale view cannot swap."""
    from convo import ConflictError
    from convo.compaction import compact_thread
    from convo.store import Store

    c = _tools_conversation()
    with Store(tmp_path / "c.db") as store:
        store.save("t", c)
        compacted = compact_thread(store, "t", "Earlier: q0.", keep_tail=3, archive="t-full")
        assert store.load("t").head_id == compacted.head_id
        assert store.load("t-full").head_id == c.head_id
        link = compaction_link(store.load("t"))
        assert link is not None and link["compacted_head"] == c.head_id
        # a stale view: someone appended after it was read
        stale = store.load("t")
        store.save("t", stale.assistant("meanwhile"))
        with pytest.raises(ConflictError):
            compact_thread(store, "t", "again", keep_tail=1, conversation=stale, archive="t-old")
        assert store.load("t").head is not None and store.load("t").head.text == "meanwhile"


async def test_acompact_thread(tmp_path) -> None:
    """The async twin does the same."""
    from convo.compaction import acompact_thread
    from convo.store import AsyncStore

    c = _tools_conversation()
    async with AsyncStore(tmp_path / "a.db") as store:
        await store.save("t", c)
        compacted = await acompact_thread(store, "t", "Earlier: q0.", keep_tail=3)
        assert (await store.load("t")).head_id == compacted.head_id
        threads = [i.id for i in await store.threads()]
        assert any(t.startswith("t.before-compaction.") for t in threads)

"""Store round trip of system turns and of the open-world codec (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

from convo import Conversation, UnknownBlock
from convo.store import Store

PAYLOAD = {"model": "claude-opus-4-8", "max_tokens": 64, "messages": [
    {"role": "user", "content": "hi"},
    {"role": "user", "content": [{"type": "text", "text": "still there?", "citations": None}]},
    {"role": "system", "content": [{"type": "text", "text": "Answer in French."}]},
    {"role": "assistant", "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": None}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"id": "toolu_1", "caller": {"type": "direct"}, "input": {}, "name": "calc",
         "type": "tool_use", "toolset_name": None},
    ]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}]},
    {"role": "system", "content": "Be brief."},
]}


def test_system_turns_and_open_world_blocks_survive_save_and_load(tmp_path: Path) -> None:
    """load(save(c)) gives the same ids, roles and bytes; the thread verifies."""
    c = Conversation.from_payload(PAYLOAD)
    with Store(tmp_path / "s.db") as store:
        store.save("t", c)
        loaded = store.load("t")
        assert loaded == c
        assert [t.role for t in loaded] == ["user", "user", "system", "assistant", "user", "system"]
        assert [t.origin for t in loaded] == [t.origin for t in c]
        assert json.dumps(loaded.to_payload("claude-opus-4-8", 64)) == json.dumps(PAYLOAD)
        assert store.verify("t") == len(c)


def test_contents_that_differ_only_by_a_null_keep_their_own_bytes(tmp_path: Path) -> None:
    """Same turn id (the hashed form drops nulls), different bytes: each
    thread loads exactly what it saved, and both verify."""
    with_null = Conversation().user([UnknownBlock({"type": "future", "v": {"type": None}})])
    without = Conversation().user([UnknownBlock({"type": "future", "v": {}})])
    assert with_null.head_id == without.head_id
    with Store(tmp_path / "s.db") as store:
        store.save("a", without)
        store.save("b", with_null)
        for thread, c in (("a", without), ("b", with_null)):
            loaded = store.load(thread)
            assert json.dumps(loaded.to_payload("m", 1)) == json.dumps(c.to_payload("m", 1))
            assert store.verify(thread) == 1

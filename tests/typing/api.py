"""Public-API usage checked by mypy (``mypy tests/typing``), never run.

If a change to convo's signatures breaks a user's typed code, mypy fails
here first.
"""

from __future__ import annotations

from typing import Any, assert_type

from convo import (
    Conversation,
    ImageBlock,
    NotSendableError,
    RuleError,
    TextBlock,
    ToolUseBlock,
    Turn,
    profile_for,
)


def build() -> Conversation:
    c = Conversation(system="You are terse.")
    c = c.user("Hello").assistant("Hi").user([ImageBlock.from_url("https://x/y.png"), TextBlock("?")])
    c = c.assistant([ToolUseBlock("toolu_1", "calc", {"q": 1})]).tool_results({"toolu_1": "2"})
    assert_type(c[0], Turn)
    assert_type(c[:1], Conversation)
    assert_type(c.head_id, str | None)
    payload = c.to_payload(model="claude-opus-4-6", max_tokens=1024, temperature=0.1)
    assert_type(payload, dict[str, Any])
    try:
        c.check_sendable(model="claude-opus-4-6", max_tokens=1024)
    except NotSendableError as err:
        for violation in err.violations:
            assert_type(violation, RuleError)
            assert_type(violation.rule, str)
            assert_type(violation.index, int | None)
    assert_type(profile_for("claude-opus-4-6").prefill, bool)
    return Conversation.from_payload(payload)


def first_hour(c: Conversation) -> None:
    from convo import ForkPointError, ThreadTree, export_jsonl, import_jsonl
    from convo.store import SearchHit, Store, ThreadPage
    from convo.testing import memory_store

    with Store("sqlite:///x.db", read_only=True) as reader:
        page = reader.threads(limit=10, meta={"user": "u1"}, order="created")
        assert_type(page, ThreadPage)
        assert_type(page.next_cursor, str | None)
        assert_type(reader.threads(after=page.next_cursor)[0].to_dict(), dict[str, Any])
        assert_type(reader.history("t"), ThreadTree)
        assert_type(reader.search("hello", limit=5), list[SearchHit])
    with memory_store() as store:
        try:
            store.fork("t", at=99, new_id="f")
        except ForkPointError as err:
            assert_type(err.length, int)
    text = "".join(export_jsonl("t", c, title="x"))
    assert_type(import_jsonl(text).conversation, Conversation)
    assert_type(c[0].to_dict(), dict[str, Any])

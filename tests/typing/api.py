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


def input_policy(payload: dict[str, Any]) -> None:
    from convo import CodecError, inputs

    depth: int = inputs.MAX_DEPTH + inputs.DOCUMENT_ENVELOPE
    digits: int = inputs.MAX_INTEGER_DIGITS
    size: int = inputs.MAX_DOCUMENT_BYTES
    try:
        inputs.check_json(payload, "$", max_depth=depth)
        c = Conversation.from_payload(payload)  # decorated: the signature is kept
        assert_type(c, Conversation)
        assert_type(c.append_response({"content": []}), Conversation)
        text: str = inputs.decode_document(b"{}", source="f")
        inputs.check_store_args(thread_id="t", title=None, meta={"k": 1})
        assert_type(inputs.describe(payload), str)
        assert_type(inputs.load_json(text), Any)
    except CodecError as exc:
        assert_type(exc.path, str)
    del digits, size

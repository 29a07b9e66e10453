"""Every rule: its name, its index, and the model-dependent ones."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
from hypothesis import given

from convo import (
    RULES,
    Conversation,
    ImageBlock,
    ModelProfile,
    NotSendableError,
    RuleError,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    profile_for,
    register_profile,
)
from convo.rules import APPEND_RULES, SEND_RULES
from convo.testing import InvalidCase, conversations, invalid_conversations


@given(invalid_conversations())
def test_every_invalid_conversation_is_rejected_with_rule_and_index(case: InvalidCase):
    """One edit away from valid is rejected, naming the rule and the turn."""
    if case.phase == "append":
        # strict: same-role-twice is refused only by the strict policy (the
        # API combines consecutive same-role turns; the default load keeps them).
        with pytest.raises(RuleError) as info:
            Conversation.from_payload(case.payload, policy="strict")
        assert (info.value.rule, info.value.index) == (case.rule, case.index), case.edit
    else:
        c = Conversation.from_payload(case.payload)
        with pytest.raises(NotSendableError) as info:
            c.check_sendable(case.model)
        found = {(v.rule, v.index) for v in info.value.violations}
        assert (case.rule, case.index) in found, case.edit


@given(conversations(end_with="user", complete=True, images=False))
def test_valid_conversations_ending_with_user_are_sendable(c):
    """A complete history that ends with the user is sendable anywhere (the
    strategy never draws more than 4 cache breakpoints any more)."""
    try:
        c.check_sendable("claude-opus-4-6", max_tokens=1024)
    except NotSendableError as err:
        assert {v.rule for v in err.violations} <= {"has-messages"}


def test_rule_names_are_stable_kebab_case():
    """The names are a contract."""
    expected = {
        "first-turn-is-user", "roles-alternate", "no-empty-content", "block-allowed-in-role",
        "tool-result-follows-tool-use", "tool-results-first", "tool-result-ids-known",
        "every-tool-use-answered", "thinking-first", "image-media-type", "image-size",
        "image-count", "has-messages", "message-count", "prefill-supported-by-model",
        "prefill-no-trailing-whitespace", "cache-control-limit", "max-tokens-limit",
    }
    expected |= {  # today's block catalogue and system turns
        "server-tool-result-follows-use", "system-message-placement",
        "system-message-text-only", "system-message-supported-by-model",
    }
    assert set(RULES) == expected
    assert {r.name for r in APPEND_RULES} | {r.name for r in SEND_RULES} == expected
    for rule in RULES.values():
        assert rule.summary and rule.source


def test_error_message_names_rule_and_turn():
    """str(error) carries the API's messages.N numbering."""
    with pytest.raises(RuleError) as info:
        Conversation().assistant("hi")
    assert str(info.value).startswith("[first-turn-is-user] messages.0:")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        ("", "no-empty-content"),
        ("   \n", "no-empty-content"),
        ([], "no-empty-content"),
        ([TextBlock("")], "no-empty-content"),
        ([TextBlock(" "), TextBlock("\n")], "no-empty-content"),
        ([ToolUseBlock("t", "f", {})], "block-allowed-in-role"),
        ([ThinkingBlock("t", "s")], "block-allowed-in-role"),
    ],
)
def test_bad_user_turns(content, rule):
    """User-turn content rules."""
    with pytest.raises(RuleError) as info:
        Conversation().user(content)
    assert (info.value.rule, info.value.index) == (rule, 0)


def test_whitespace_beside_real_text_is_fine():
    """API_RULES B5: one whitespace block next to real text is accepted."""
    Conversation().user([TextBlock("hi"), TextBlock(" ")])


def test_assistant_may_not_hold_images_or_results():
    """block-allowed-in-role for assistant turns."""
    c = Conversation().user("q")
    with pytest.raises(RuleError) as info:
        c.assistant([ImageBlock.from_url("https://x/y.png")])
    assert (info.value.rule, info.value.index) == ("block-allowed-in-role", 1)
    with pytest.raises(RuleError):
        c.assistant([ToolResultBlock("t", "x")])


def test_every_tool_use_answered_names_the_assistant_turn():
    """The index is the assistant turn's, as in the API's error."""
    c = Conversation().user("q").assistant([ToolUseBlock("toolu_a", "f", {}), ToolUseBlock("toolu_b", "f", {})])
    with pytest.raises(RuleError) as info:
        c.tool_results({"toolu_a": "1"})
    assert (info.value.rule, info.value.index) == ("every-tool-use-answered", 1)
    assert "toolu_b" in str(info.value)
    with pytest.raises(RuleError) as info:
        c.tool_results({"toolu_a": "1", "toolu_b": "2", "toolu_c": "3"})
    assert info.value.rule == "tool-result-ids-known"
    dup = [ToolResultBlock("toolu_a", "1"), ToolResultBlock("toolu_a", "1"), ToolResultBlock("toolu_b", "2")]
    with pytest.raises(RuleError) as info:
        c.user(dup, origin="tool")
    assert info.value.rule == "tool-result-ids-known"
    done = c.tool_results({"toolu_b": "2", "toolu_a": "1"})  # any order
    assert len(done) == 3


def test_check_sendable_lists_every_violation():
    """All send-time problems at once, sorted by turn."""
    cc = TextBlock("x", cache_control=None)
    c = Conversation().user([cc]).prefill("The answer is")
    with pytest.raises(NotSendableError) as info:
        c.check_sendable("claude-opus-4-6", max_tokens=10**6)
    rules = [v.rule for v in info.value.violations]
    assert set(rules) == {"prefill-supported-by-model", "max-tokens-limit"}
    assert info.value.rule == "max-tokens-limit"  # index None sorts first
    assert "2 violations" in str(info.value)
    assert not c.is_sendable("claude-opus-4-6")
    assert c.is_sendable("claude-opus-4-5")
    assert c.is_sendable("claude-opus-4-6", allow_prefill=True)


def test_empty_conversation_is_not_sendable():
    """has-messages."""
    with pytest.raises(NotSendableError) as info:
        Conversation().check_sendable()
    assert info.value.rule == "has-messages"


def test_unknown_model_gets_permissive_rules():
    """No crash and no model-specific rule for an unknown model."""
    c = Conversation().user("q").prefill("A")
    c.check_sendable("some-future-model", max_tokens=10**7)
    c.check_sendable(None)
    assert not profile_for("some-future-model").known


def test_model_profiles_match_by_family_prefix():
    """Dated ids and Vertex ids find their family; longest prefix wins."""
    assert profile_for("claude-opus-4-5-20251101").family == "claude-opus-4-5"
    assert profile_for("claude-opus-4-5@20251101").family == "claude-opus-4-5"
    assert profile_for("claude-opus-4-20250514").family == "claude-opus-4"
    assert profile_for("claude-opus-4-6").prefill is False
    assert profile_for("claude-sonnet-4-5").prefill is False  # follows the seed
    assert profile_for("claude-3-5-sonnet-20240620").prefill is True
    assert profile_for("claude-opus-40").known is False


def test_register_profile_overrides():
    """Users can register or replace a profile."""
    register_profile(ModelProfile("acme-model", 1000, 100, prefill=False, source="test"))
    c = Conversation().user("q").prefill("A")
    with pytest.raises(NotSendableError):
        c.check_sendable("acme-model-2")
    with pytest.raises(NotSendableError) as info:
        Conversation().user("q").check_sendable("acme-model", max_tokens=101)
    assert info.value.rule == "max-tokens-limit"


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


def test_image_size_limits():
    """Over 8000 px is refused on append; over 2000 px with more than 20 images on send."""
    with pytest.raises(RuleError) as info:
        Conversation().user([ImageBlock.from_bytes(_png(8001, 10))])
    assert (info.value.rule, info.value.index) == ("image-size", 0)
    big = ImageBlock.from_bytes(_png(2500, 10))
    small = ImageBlock.from_bytes(_png(10, 10))
    c = Conversation().user([big, *([small] * 20), TextBlock("look")])
    with pytest.raises(NotSendableError) as err:
        c.check_sendable()
    assert err.value.violations[0].rule == "image-size"
    Conversation().user([big, TextBlock("one is fine")]).check_sendable()


def test_image_over_5mb_is_refused():
    """The 5 MB limit is on the base64 text."""
    data = base64.b64encode(_png(10, 10) + b"\x00" * (4 * 1024 * 1024)).decode()
    payload = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}]}]}
    with pytest.raises(RuleError) as info:
        Conversation.from_payload(payload)
    assert info.value.rule == "image-size"


def test_too_many_images_and_breakpoints():
    """image-count and cache-control-limit are send-time rules."""
    small = ImageBlock.from_bytes(_png(10, 10))
    c = Conversation().user([*([small] * 101), TextBlock("many")])
    with pytest.raises(NotSendableError) as err:
        c.check_sendable("claude-opus-4-6")
    assert "image-count" in {v.rule for v in err.value.violations}
    from convo import CacheControl

    cached = [TextBlock(f"t{i}", cache_control=CacheControl()) for i in range(5)]
    with pytest.raises(NotSendableError) as err:
        Conversation().user(cached).check_sendable()
    assert err.value.rule == "cache-control-limit"


def test_model_turns_keep_empty_text_but_are_not_sendable():
    """A response with an empty text block is kept verbatim, then flagged."""
    resp = {"type": "message", "role": "assistant", "id": "m", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": ""}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}
    c = Conversation().user("q").append_response(resp).tool_results({"toolu_1": "ok"})
    with pytest.raises(NotSendableError) as err:
        c.check_sendable()
    assert (err.value.rule, err.value.index) == ("no-empty-content", 1)

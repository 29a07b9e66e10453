"""Issue 10 item 6: the rules that let through what the API rejects (or
rejected what it accepts), the refreshed model profiles and thinking types."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convo import (
    Conversation,
    ImageBlock,
    ModelProfile,
    NotSendableError,
    RuleError,
    TextBlock,
    ToolUseBlock,
    profile_for,
    register_profile,
)
from convo.models import registered_profiles
from convo.testing import conversations

OLD, NEW = "2023-06-01", "2026-10-21"


def _found(c: Conversation, model: str | None = None, **kwargs: Any) -> set[tuple[str, int | None]]:
    return {(v.rule, v.index) for v in c.send_violations(model, **kwargs)}


def _response(*content: dict[str, Any], stop_reason: str = "end_turn") -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "id": "msg_1", "model": "claude-opus-4-5",
            "stop_reason": stop_reason, "content": list(content),
            "usage": {"input_tokens": 1, "output_tokens": 0}}


def _tool_use(tool_id: str, name: str = "calc") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {}}


# -- empty assistant turns ---------------------------------------------------------------


def test_empty_assistant_turn_mid_history_is_rejected_at_send_time():
    """An empty reply (content: []) may be appended, not sent back with turns after it."""
    c = Conversation().user("warm the cache").append_response(_response(stop_reason="max_tokens"))
    assert c.head.content == [] and c.head.origin == "model"
    assert ("no-empty-turn-mid-history", 1) not in _found(c, "claude-opus-4-5")
    c.check_sendable("claude-opus-4-5")  # at the end it is a (empty) prefill
    later = c.user("and now?")
    with pytest.raises(NotSendableError) as err:
        later.check_sendable("claude-opus-4-5")
    assert (err.value.rule, err.value.index) == ("no-empty-turn-mid-history", 1)
    synthetic = Conversation().user("q").assistant([]).user("r")
    assert _found(synthetic) == {("no-empty-turn-mid-history", 1)}


def test_non_empty_assistant_turns_mid_history_pass():
    c = Conversation().user("q").assistant("a").user("r").assistant([TextBlock("b")]).user("s")
    c.check_sendable("claude-opus-4-8")


# -- tool_use ids --------------------------------------------------------------------------


def test_duplicate_tool_use_ids_in_one_turn():
    """Refused on append for a turn the program writes; a model reply is kept
    verbatim and refused at send time.  Both name the assistant turn."""
    c = Conversation().user("q")
    with pytest.raises(RuleError) as err:
        c.assistant([ToolUseBlock("toolu_1", "f", {}), ToolUseBlock("toolu_1", "g", {})])
    assert (err.value.rule, err.value.index) == ("tool-use-ids-unique", 1)
    kept = c.append_response(_response(_tool_use("toolu_1"), _tool_use("toolu_1"), stop_reason="tool_use"))
    answered = kept.tool_results({"toolu_1": "42"})
    assert ("tool-use-ids-unique", 1) in _found(answered)


def test_tool_use_id_reused_later_in_the_history():
    c = (Conversation().user("q")
         .assistant([ToolUseBlock("toolu_1", "f", {})]).tool_results({"toolu_1": "1"})
         .assistant("done").user("again")
         .assistant([ToolUseBlock("toolu_2", "f", {}), ToolUseBlock("toolu_1", "f", {})]))
    c = c.tool_results({"toolu_2": "2", "toolu_1": "3"})
    with pytest.raises(NotSendableError) as err:
        c.check_sendable("claude-opus-4-5")
    assert [(v.rule, v.index) for v in err.value.violations] == [("tool-use-ids-unique", 5)]
    assert "messages.1" in err.value.violations[0].detail  # where it was first used


@pytest.mark.parametrize("bad", ["toolu.1", "call:2", "a/b", "has space", "", "tööl", "x\n"])
def test_tool_use_ids_outside_the_pattern(bad):
    """^[a-zA-Z0-9_-]+$: refused on append (program turns) and at send (model turns)."""
    c = Conversation().user("q")
    with pytest.raises(RuleError) as err:
        c.assistant([ToolUseBlock(bad, "f", {})])
    assert (err.value.rule, err.value.index) == ("tool-use-id-format", 1)
    kept = c.append_response(_response(_tool_use(bad), stop_reason="tool_use")).tool_results({bad: "x"})
    assert ("tool-use-id-format", 1) in _found(kept)


@settings(max_examples=50)
@given(st.from_regex(r"[a-zA-Z0-9_-]{1,40}", fullmatch=True))
def test_every_id_in_the_pattern_is_accepted(tool_id):
    """Never reject what the API accepts: any id of the pattern passes."""
    c = Conversation().user("q").assistant([ToolUseBlock(tool_id, "f", {})]).tool_results({tool_id: "1"})
    c.check_sendable("claude-opus-4-8")


def test_server_tool_ids_and_results_are_not_client_tool_ids():
    """tool_use_id in results, server_tool_use ids: not judged by these rules."""
    c = Conversation.from_payload({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "found"}]},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
            {"type": "text", "text": "same"}]},
        {"role": "user", "content": "ok"},
    ]})
    assert not {r for r, _ in _found(c)} & {"tool-use-ids-unique", "tool-use-id-format"}


# -- images --------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))


FILE_IMAGE = {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}
URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}


def _images(n: int, image: dict[str, Any] = FILE_IMAGE) -> Conversation:
    return Conversation.from_payload(
        {"messages": [{"role": "user", "content": [*([image] * n), {"type": "text", "text": "look"}]}]})


def test_files_api_images_count_toward_the_limit():
    """A {source: {type: file}} image counts like any other (checked on the JSON)."""
    with pytest.raises(NotSendableError) as err:
        _images(101).check_sendable("claude-opus-4-5")
    assert err.value.rule == "image-count"
    _images(100).check_sendable("claude-opus-4-5")
    mixed = Conversation.from_payload({"messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [FILE_IMAGE] * 60},
            *([URL_IMAGE] * 41)]},
    ]})
    assert "image-count" in {r for r, _ in _found(mixed, "claude-haiku-4-5")}


def test_images_per_request_follow_the_context_window():
    """E3: 100 on 200k-context models, 600 above 200k (150 on a 1M model pass)."""
    many = _images(150, URL_IMAGE)
    for model in ("claude-opus-4-6", "claude-sonnet-4-6", "claude-opus-4-8", "claude-fable-5",
                  "claude-sonnet-5", "claude-opus-5-5", "claude-haiku-5-5", "some-future-model"):
        many.check_sendable(model)
    with pytest.raises(NotSendableError) as err:
        many.check_sendable("claude-haiku-4-5")
    assert err.value.rule == "image-count"
    with pytest.raises(NotSendableError) as err:
        _images(601, URL_IMAGE).check_sendable("claude-opus-4-8")
    assert err.value.rule == "image-count"
    _images(600, URL_IMAGE).check_sendable("claude-opus-4-8")


def test_file_images_count_toward_the_many_images_resolution_limit():
    """More than 20 images of any source: an inline image over 2000 px is refused."""
    big = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                       "data": base64.b64encode(_png(2500, 10)).decode()}}
    c = Conversation.from_payload({"messages": [
        {"role": "user", "content": [big, *([FILE_IMAGE] * 20), {"type": "text", "text": "x"}]}]})
    assert _found(c) == {("image-size", 0)}
    Conversation().user([ImageBlock.from_bytes(_png(2500, 10)), TextBlock("alone")]).check_sendable()
    Conversation.from_payload({"messages": [
        {"role": "user", "content": [big, *([FILE_IMAGE] * 19), {"type": "text", "text": "x"}]}]}
    ).check_sendable()


# -- model profiles --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "window", "output"),
    [
        ("claude-haiku-4-5-20251001", 200_000, 64_000),
        ("claude-sonnet-4-5-20250929", 200_000, 64_000),
        ("claude-opus-4-5-20251101", 200_000, 64_000),
        ("claude-opus-4-6", 1_000_000, 128_000),
        ("claude-sonnet-4-6", 1_000_000, 128_000),
        ("claude-opus-4-7", 1_000_000, 128_000),
        ("claude-opus-4-8", 1_000_000, 128_000),
        ("claude-fable-5", 1_000_000, 128_000),
        ("claude-mythos-5", 1_000_000, 128_000),
        ("claude-sonnet-5", 1_000_000, 128_000),
        ("claude-opus-5", 1_000_000, 128_000),
        ("claude-opus-5-5", 1_000_000, 128_000),
        ("claude-sonnet-5-5", 1_000_000, 128_000),
        ("claude-haiku-5-5", 1_000_000, 128_000),
        ("claude-fable-5-1", 1_000_000, 128_000),
    ],
)
def test_profiles_follow_the_models_overview(model, window, output):
    profile = profile_for(model)
    assert (profile.context_window, profile.max_output_tokens) == (window, output)
    assert "platform.claude.com" in profile.source


def test_every_builtin_profile_names_its_source():
    for profile in registered_profiles():
        if profile.family.startswith("claude-"):
            assert "platform.claude.com" in profile.source or "API_RULES" in profile.source, profile


def test_mid_conversation_system_messages_from_opus_4_8_on():
    """B1: Opus 4.8 at least; not the models before it."""
    assert profile_for("claude-opus-4-8").system_messages
    for model in ("claude-fable-5", "claude-opus-5", "claude-opus-5-5", "claude-sonnet-5-5",
                  "claude-haiku-5-5", "claude-fable-5-1"):
        assert profile_for(model).system_messages, model
    for model in ("claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5",
                  "claude-sonnet-4-5", "claude-opus-4-5"):
        assert not profile_for(model).system_messages, model


def test_unknown_models_stay_permissive():
    profile = profile_for("claude-someday-9")
    assert not profile.known
    assert profile.system_messages and profile.thinking_types is None and profile.prefill
    c = Conversation().user("q").prefill("A")
    for kind in ("enabled", "adaptive", "disabled", "between_tools", "future"):
        c.check_sendable("claude-someday-9", max_tokens=10**7, thinking={"type": kind, "budget_tokens": 2048})
    c.check_sendable("claude-someday-9", api_version=OLD, temperature=0.5, top_p=0.9, top_k=3)
    _images(600, URL_IMAGE).check_sendable("claude-someday-9")


# -- thinking types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kind", "ok"),
    [
        ("claude-opus-4-7", "enabled", False),   # enabled is refused from 4.7 on
        ("claude-opus-4-8", "enabled", False),
        ("claude-sonnet-5", "enabled", False),
        ("claude-opus-4-5", "adaptive", False),  # adaptive is refused up to 4.5
        ("claude-sonnet-4-5", "adaptive", False),
        ("claude-haiku-4-5", "adaptive", False),
        ("claude-fable-5", "disabled", False),   # thinking always on
        ("claude-opus-5-5", "disabled", False),
        ("claude-fable-5-1", "disabled", False),
        ("claude-opus-4-5", "enabled", True),
        ("claude-opus-4-5", "disabled", True),
        ("claude-opus-4-6", "enabled", True),
        ("claude-opus-4-6", "adaptive", True),
        ("claude-sonnet-4-6", "adaptive", True),
        ("claude-opus-4-8", "adaptive", True),
        ("claude-opus-4-8", "disabled", True),
        ("claude-fable-5", "adaptive", True),
        ("claude-sonnet-5-5", "between_tools", True),
        ("claude-opus-5-5", "between_tools", True),  # not judged: no source either way
    ],
)
def test_thinking_type_per_model(model, kind, ok):
    c = Conversation().user("q")
    found = _found(c, model, thinking={"type": kind})
    assert (("thinking-type-supported", None) in found) is (not ok)


@pytest.mark.parametrize(("budget", "ok"), [(1024, True), (10_000, True), (1023, False), (None, False),
                                            ("2048", False), (2048.0, False), (True, False)])
def test_enabled_thinking_needs_a_budget_of_at_least_1024(budget, ok):
    thinking = {"type": "enabled"} if budget is None else {"type": "enabled", "budget_tokens": budget}
    found = _found(Conversation().user("q"), "claude-opus-4-5", max_tokens=20_000, thinking=thinking)
    assert (("thinking-budget", None) in found) is (not ok)
    # other types carry no budget
    assert not _found(Conversation().user("q"), "claude-opus-4-8", thinking={"type": "adaptive"})


@pytest.mark.parametrize("model", ["claude-opus-4-7", "claude-opus-4-8", "claude-fable-5", "claude-mythos-5"])
def test_models_that_refuse_sampling_parameters_under_any_version(model):
    """API_RULES A9: these refuse temperature even under 2023-06-01; under
    2026-10-21 the version rule names it once."""
    c = Conversation().user("q")
    assert _found(c, model, api_version=OLD, temperature=0.5) == {
        ("sampling-parameters-supported-by-model", None)}
    assert _found(c, model, api_version=NEW, temperature=0.5) == {("no-sampling-parameters", None)}
    for other in ("claude-sonnet-4-6", "claude-opus-4-6", "claude-opus-5", "some-future-model"):
        assert not _found(c, other, api_version=OLD, temperature=0.5, top_k=3)


def test_thinking_types_of_registered_profiles():
    register_profile(ModelProfile("acme-think", 1000, 100, thinking_types=("adaptive",), source="test"))
    with pytest.raises(NotSendableError) as err:
        Conversation().user("q").check_sendable(
            "acme-think", thinking={"type": "enabled", "budget_tokens": 2048})
    assert err.value.rule == "thinking-type-supported"
    assert "acme-think" in str(err.value)


# -- never reject what the API accepts -------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(conversations(end_with="user", complete=True, images=False), st.sampled_from([OLD, NEW]))
def test_generated_sendable_histories_break_no_new_rule(c, version):
    """Histories the strategies promise sendable break none of issue 10's rules, under both versions."""
    new_rules = {"no-empty-turn-mid-history", "tool-use-ids-unique", "tool-use-id-format",
                 "thinking-type-supported", "thinking-budget", "sampling-parameters-supported-by-model",
                 "api-version-known", "no-sampling-parameters",
                 "no-assistant-document", "no-user-citations"}
    for model in ("claude-opus-4-8", "claude-opus-4-5", None):
        assert not {r for r, _ in _found(c, model, api_version=version)} & new_rules

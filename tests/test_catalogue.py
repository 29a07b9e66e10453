"""Issue 10, cases 1-4: known blocks keep their meaning whatever fields they
carry, SDK objects go in directly, system turns, consecutive same-role turns;
and the pairing rules of today's server-tool blocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic.types as sdk
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import (
    CodecError,
    Conversation,
    NotSendableError,
    RuleError,
    ServerToolUseBlock,
    TextBlock,
    ToolUseBlock,
    WebSearchToolResultBlock,
)
from convo._canonical import hashed_form, turn_id
from convo.blocks import modelled_fields
from convo.chat import Chat
from convo.codec import block_from_json, block_to_json
from convo.store import Store
from convo.testing import blocks, responses
from convo.transport import ScriptedTransport


def _message(content: list[dict[str, Any]], stop: str = "end_turn", **extra: Any) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-8",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 2}, **extra}


CALL_WITH_CALLER = {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                    "input": {"city": "Paris"}, "caller": {"type": "direct"}}
MODEL_DUMP_NULLS = {"id": "toolu_1", "caller": None, "input": {"city": "Paris"},
                    "name": "get_weather", "type": "tool_use", "toolset_name": None}


# -- case 1: a known block with fields convo does not model keeps its meaning --


@pytest.mark.parametrize("call", [CALL_WITH_CALLER, MODEL_DUMP_NULLS])
def test_tool_use_with_caller_or_nulls_is_a_tool_call(call):
    """caller / explicit nulls keep the block a ToolUseBlock, byte for byte."""
    block = block_from_json(call)
    assert isinstance(block, ToolUseBlock)
    assert (block.id, block.name, block.input) == ("toolu_1", "get_weather", {"city": "Paris"})
    assert json.dumps(block_to_json(block)) == json.dumps(call)


@pytest.mark.parametrize("call", [CALL_WITH_CALLER, MODEL_DUMP_NULLS])
def test_chat_tool_calls_and_results_work_on_a_call_with_caller(tmp_path: Path, call):
    """chat.tool_calls sees the call and tool_results answers it."""
    reply = _message([{"type": "text", "text": "Checking.", "citations": None}, call], "tool_use")
    transport = ScriptedTransport([reply, "Sunny."])
    with Store(tmp_path / "c.db") as store:
        chat = Chat(store, transport, "t", model="claude-opus-4-6")
        chat.send("Weather in Paris?")
        assert [c.id for c in chat.tool_calls] == ["toolu_1"]
        turn = chat.tool_results({"toolu_1": "18C, sunny"})
        assert turn.text == "Sunny."
        sent_back = transport.requests[1]["messages"][1]["content"]
        assert json.dumps(sent_back[1]) == json.dumps(call)  # the call goes back unchanged


@pytest.mark.parametrize("call", [CALL_WITH_CALLER, MODEL_DUMP_NULLS])
def test_check_sendable_catches_the_unanswered_call(call):
    """A history whose tool call (with caller) is never answered is refused."""
    c = Conversation().user("Weather?").append_response(_message([call], "tool_use"))
    with pytest.raises(NotSendableError) as info:
        c.check_sendable("claude-opus-4-8")
    assert ("every-tool-use-answered", 1) in {(v.rule, v.index) for v in info.value.violations}
    with pytest.raises(RuleError) as err:
        c.user("never mind")
    assert (err.value.rule, err.value.index) == ("every-tool-use-answered", 1)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"type": "tool_use", "id": "t", "name": "n", "input": {}, "caller": "direct"}, "$.caller"),
        ({"type": "tool_use", "id": None, "name": "n", "input": {}}, "$.id"),
        ({"type": "server_tool_use", "name": "web_search", "input": {}}, "$.id"),
        ({"type": "web_search_tool_result", "content": []}, "$.tool_use_id"),
        ({"type": "image", "source": {"type": "file"}}, "$.source.file_id"),
        ({"type": "search_result", "source": "s", "title": "t", "content": [{"type": "image"}]},
         "$.content[0].source"),
        ({"type": "fallback", "to": {}}, "$.from"),
    ],
)
def test_malformed_catalogue_blocks_raise_with_a_path(data, path):
    """Missing required fields or wrong JSON types still raise CodecError."""
    with pytest.raises(CodecError) as info:
        block_from_json(data)
    assert info.value.path == path


def test_codec_errors_inside_a_payload_name_the_message_and_block():
    """The path of a malformed catalogue block starts at the payload."""
    payload = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
        {"type": "text", "text": "ok", "citations": None},
        {"type": "tool_use", "id": "t", "name": 7, "input": {}, "caller": {"type": "direct"}}]}]}
    with pytest.raises(CodecError) as info:
        Conversation.from_payload(payload)
    assert info.value.path == "$.messages[1].content[1].name"


def test_unknown_type_and_unknown_source_are_kept_verbatim():
    """Only an unknown type is an UnknownBlock; an unknown source stays inside
    its typed image block."""
    future = {"type": "hologram", "z": [1, None]}
    assert type(block_from_json(future)).__name__ == "UnknownBlock"
    image = {"type": "image", "source": {"type": "s3", "bucket": "b"}, "transformations": None}
    block = block_from_json(image)
    assert type(block).__name__ == "ImageBlock"
    assert json.dumps(block_to_json(block)) == json.dumps(image)


# -- case 2: SDK objects in, one id in every form ---------------------------------


def test_append_response_takes_an_sdk_message():
    """client.messages.create(...) output appends directly."""
    raw = _message([{"type": "text", "text": "Hi"}, CALL_WITH_CALLER], "tool_use")
    message = sdk.Message.model_validate(raw)
    c = Conversation().user("hello").append_response(message)
    assert c.head is not None and c.head.meta["stop_reason"] == "tool_use"
    assert isinstance(c.head.blocks[1], ToolUseBlock)
    assert c.head_id == Conversation().user("hello").append_response(raw).head_id


@given(responses())
def test_ids_equal_across_raw_and_dump_forms(raw):
    """Raw JSON, to_dict, model_dump, exclude_none and mode=json: one turn id."""
    message = sdk.Message.model_validate(raw)
    base = Conversation().user("q")
    forms = [raw, message.to_dict(), message.model_dump(),
             message.model_dump(exclude_none=True), message.model_dump(mode="json"), message]
    assert len({base.append_response(f).head_id for f in forms}) == 1


@pytest.mark.parametrize("prefill", ["The answer is", None])
def test_prefill_join_gives_one_id_in_every_form(prefill):
    """Joining a prefill (or a paused turn) with its continuation does not
    depend on the form the continuation came in."""
    raw = _message([{"type": "text", "text": " 42."}])
    message = sdk.Message.model_validate(raw)
    base = Conversation().user("q")
    base = base.prefill(prefill) if prefill else base.append_response(
        _message([SEARCH], "pause_turn"))
    ids = {base.append_response(f).head_id for f in (raw, message.model_dump(), message)}
    assert len(ids) == 1


def test_nulls_inside_tool_input_count():
    """Nulls in a tool's input are the caller's data: they change the id."""
    a = {"type": "tool_use", "id": "t", "name": "n", "input": {"x": None}}
    b = {"type": "tool_use", "id": "t", "name": "n", "input": {}}
    assert turn_id(None, {"content": [a], "role": "assistant"}) != turn_id(
        None, {"content": [b], "role": "assistant"})
    assert hashed_form({"content": [{**a, "caller": None}]}) == {"content": [a]}


def test_ids_without_nulls_are_unchanged():
    """The canonical form of a null-free history is what it always was (a
    thread stored before the null rule still verifies)."""
    record = {"content": [{"type": "text", "text": "hi"}], "role": "user"}
    assert turn_id(None, record) == (
        "sha256:" + __import__("hashlib").sha256(
            b"\n" + b'{"content":[{"text":"hi","type":"text"}],"role":"user"}').hexdigest()
    )


def test_block_constructors_take_sdk_objects():
    """Conversation verbs take SDK block objects in place of convo blocks."""
    sdk_text = sdk.TextBlock(type="text", text="hello")
    c = Conversation().user([sdk_text])
    assert c.head is not None and c.head.blocks == (TextBlock("hello"),)
    assert block_from_json(sdk_text) == TextBlock("hello")
    # An explicitly set null is kept (and does not change the turn id).
    nulled = Conversation().user([sdk.TextBlock(type="text", text="hello", citations=None)])
    assert nulled.head is not None and nulled.head.blocks[0].extra == {"citations": None}
    assert nulled.head_id == c.head_id
    answered = Conversation().user("q").assistant([ToolUseBlock("toolu_1", "n")]).tool_results(
        {"toolu_1": [sdk.TextBlock(type="text", text="42")]})
    assert answered.head is not None
    assert answered.head.content[0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                        "content": [{"type": "text", "text": "42"}]}


# -- server tools: where they go and how they pair ---------------------------------

SEARCH = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}}
RESULT = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}


def test_server_tool_blocks_need_no_client_result():
    """A server call answered in the same turn is complete and sendable."""
    c = Conversation().user("find").append_response(
        _message([SEARCH, RESULT, {"type": "text", "text": "Found."}]))
    assert isinstance(c.head.blocks[0], ServerToolUseBlock)
    assert isinstance(c.head.blocks[1], WebSearchToolResultBlock)
    c.user("thanks").check_sendable("claude-opus-4-6")


def test_open_server_call_beside_a_client_call_is_legal():
    """A server_tool_use left open in a turn that stopped with tool_use."""
    call = {"type": "tool_use", "id": "toolu_9", "name": "calc", "input": {}}
    c = Conversation().user("go").append_response(_message([SEARCH, call], "tool_use"))
    c = c.tool_results({"toolu_9": "4"})
    c.check_sendable("claude-opus-4-6")


def test_paused_turn_is_sendable_without_prefill():
    """pause_turn: the trailing assistant turn ending in server_tool_use is resent."""
    c = Conversation().user("go").append_response(_message([SEARCH], "pause_turn"))
    c.check_sendable("claude-opus-4-6")


def test_server_result_without_its_call_is_refused():
    """server-tool-result-follows-use names the turn."""
    with pytest.raises(RuleError) as info:
        Conversation().user("go").append_response(_message([RESULT]))
    assert (info.value.rule, info.value.index) == ("server-tool-result-follows-use", 1)


def test_server_tool_blocks_in_user_turns_are_refused():
    """block-allowed-in-role: server tool blocks only in assistant turns."""
    payload = {"messages": [{"role": "user", "content": [SEARCH, RESULT]}]}
    with pytest.raises(RuleError) as info:
        Conversation.from_payload(payload)
    assert (info.value.rule, info.value.index) == ("block-allowed-in-role", 0)


# -- case 3: system turns -----------------------------------------------------------


def test_system_message_verb_and_sendability():
    """A system turn is kept with its origin, sent as role system, allowed on
    models whose profile says so and reported with its index elsewhere."""
    c = Conversation("top").user("hi").system_message("Answer in French.")
    assert c.head is not None and (c.head.role, c.head.origin) == ("system", "synthetic")
    assert c.to_payload("m", 1)["messages"][-1] == {"role": "system", "content": "Answer in French."}
    c.check_sendable("claude-opus-4-8")
    c.check_sendable()  # an unknown model stays permissive
    c.check_sendable("claude-next-9")
    with pytest.raises(NotSendableError) as info:
        c.check_sendable("claude-opus-4-6")
    assert ("system-message-supported-by-model", 1) in {
        (v.rule, v.index) for v in info.value.violations}


def test_system_turns_are_ignored_by_alternation():
    """user, system, assistant alternates; the assistant answers the user."""
    c = Conversation().user("hi").system_message("Be terse.").assistant("Hello.")
    assert [t.role for t in c] == ["user", "system", "assistant"]
    reply = _message([{"type": "text", "text": "ok"}])
    c2 = Conversation().user("hi").system_message("Be terse.").append_response(reply)
    assert [t.role for t in c2] == ["user", "system", "assistant"]


@pytest.mark.parametrize(
    ("build", "rule", "index"),
    [
        (lambda c: c.system_message("first"), "system-message-placement", 0),
        (lambda c: c.user("u").assistant("a").system_message("s"), "system-message-placement", 2),
        (lambda c: c.user("u").system_message("s").user("again"), "system-message-placement", 2),
        (lambda c: c.user("u").system_message("s").system_message("t"), "system-message-placement", 2),
        (lambda c: c.user("u").system_message([TextBlock("ok"), ToolUseBlock("t", "n")]),
         "system-message-text-only", 1),
    ],
)
def test_system_turn_placement_rules(build, rule, index):
    """B1's placement rules, each with its name and index."""
    with pytest.raises(RuleError) as info:
        build(Conversation())
    assert (info.value.rule, info.value.index) == (rule, index)


def test_system_after_server_tool_use_is_allowed():
    """A system turn may follow an assistant turn ending in server tool use."""
    c = Conversation(policy="keep").user("go").append_response(_message([SEARCH], "pause_turn"))
    c = c.system_message("Prefer recent sources.")
    c = c.append("assistant", [block_from_json(RESULT), TextBlock("Done.")], origin="model")
    assert [t.role for t in c] == ["user", "assistant", "system", "assistant"]


def test_system_turns_round_trip_through_payloads():
    """A payload with system messages (string and blocks) loads and goes back exactly."""
    payload = {"model": "claude-opus-4-8", "max_tokens": 64, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "Be brief.", "citations": None}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "more"},
        {"role": "system", "content": "Now in French."},
    ]}
    c = Conversation.from_payload(payload)
    assert [t.role for t in c] == ["user", "system", "assistant", "user", "system"]
    assert json.dumps(c.to_payload("claude-opus-4-8", 64)) == json.dumps(payload)


# -- case 4: consecutive same-role turns -----------------------------------------------


SAME_ROLE = {"model": "m", "max_tokens": 8, "messages": [
    {"role": "user", "content": "first"},
    {"role": "user", "content": [{"type": "text", "text": "second"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Let me see."}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "n", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"}]},
]}


def test_consecutive_same_role_payload_round_trips():
    """What the API accepts (and combines) loads and goes back unchanged."""
    c = Conversation.from_payload(SAME_ROLE)
    assert len(c) == 5
    assert c.to_payload("m", 8) == SAME_ROLE
    assert c.policy == "strict"  # appends stay strict by default
    with pytest.raises(RuleError) as info:
        c.user("again")
    assert info.value.rule == "roles-alternate"


def test_strict_rejects_and_merge_rewrites_same_role_payloads():
    """The other policies behave as before."""
    with pytest.raises(RuleError) as info:
        Conversation.from_payload(SAME_ROLE, policy="strict")
    assert (info.value.rule, info.value.index) == ("roles-alternate", 1)
    merged = Conversation.from_payload(SAME_ROLE, policy="merge")
    assert len(merged) == 3 and merged.to_payload("m", 8) != SAME_ROLE


def test_keep_policy_judges_the_combined_turn():
    """Under keep, rules see the turn the API sees: a tool_use in the second
    of two assistant messages must still be answered next."""
    c = Conversation(policy="keep").user("a").assistant("b").append(
        "assistant", [ToolUseBlock("toolu_1", "n")], origin="synthetic")
    with pytest.raises(RuleError) as info:
        c.user("no answer")
    assert info.value.rule == "every-tool-use-answered"
    c.tool_results({"toolu_1": "ok"}).check_sendable("claude-opus-4-6")


@given(st.lists(st.sampled_from(["user", "assistant"]), min_size=1, max_size=6))
def test_keep_loads_every_role_sequence_starting_with_user(roles):
    """Any sequence of plain text messages that starts with user loads and
    goes back unchanged under the default load."""
    messages = [{"role": "user", "content": "start"}] + [
        {"role": r, "content": f"m{i}"} for i, r in enumerate(roles)]
    payload = {"model": "m", "max_tokens": 1, "messages": messages}
    assert Conversation.from_payload(payload).to_payload("m", 1) == payload


# -- the open-world law, as a property --------------------------------------------

ALL_KINDS = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
             "search_result", "tool_reference", "container_upload", "server_tool_use",
             "server_tool_result", "mcp_tool_use", "mcp_tool_result", "compaction", "fallback")
_extra_values = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4) | st.just({"type": "direct"})


@given(
    st.sampled_from(ALL_KINDS).flatmap(lambda k: blocks((k,))),
    st.dictionaries(st.from_regex(r"x_[a-z]{1,6}", fullmatch=True), _extra_values, max_size=3),
    st.randoms(use_true_random=False),
)
def test_known_blocks_stay_typed_whatever_they_carry(block, extra, rnd):
    """Add unmodelled fields and explicit nulls, shuffle the keys: the block
    keeps its class and typed fields, and goes back byte for byte."""
    data = dict(block_to_json(block))
    for name, key in modelled_fields(type(block)):
        if key not in data and rnd.random() < 0.5 and getattr(block, name) is None:
            data[key] = None  # an explicit null in an optional field
    data.update(extra)
    items = list(data.items())
    rnd.shuffle(items)
    data = dict(items)
    again = block_from_json(json.loads(json.dumps(data)))
    assert type(again) is type(block)
    for name, _ in modelled_fields(type(block)):
        assert getattr(again, name) == getattr(block, name), name
    assert json.dumps(block_to_json(again)) == json.dumps(data)


def _two_calls() -> Conversation:
    return Conversation(policy="keep").user("go").assistant(
        [ToolUseBlock("toolu_a", "n"), ToolUseBlock("toolu_b", "n")])


def test_keep_answers_parallel_calls_over_two_user_messages():
    """The API combines two user messages: results split over them answer the calls."""
    c = _two_calls().tool_results({"toolu_a": "1"}).tool_results({"toolu_b": "2"})
    c.check_sendable("claude-opus-4-6")
    assert len(c) == 4
    payload = c.to_payload("m", 1)
    assert Conversation.from_payload(payload).to_payload("m", 1) == payload


def test_keep_still_reports_a_call_left_unanswered():
    """A user run that misses a call is reported, at send time and when the
    model's next turn arrives, with the assistant turn's index."""
    c = _two_calls().tool_results({"toolu_a": "1"})
    with pytest.raises(NotSendableError) as info:
        c.check_sendable("claude-opus-4-6")
    assert ("every-tool-use-answered", 1) in {(v.rule, v.index) for v in info.value.violations}
    with pytest.raises(RuleError) as err:
        c.assistant("done")
    assert (err.value.rule, err.value.index) == ("every-tool-use-answered", 1)
    with pytest.raises(RuleError) as err:
        c.user("and text after the results")
    assert err.value.rule == "every-tool-use-answered"
    # Once the run is complete, text after the results is fine.
    c.tool_results({"toolu_b": "2"}).user("thanks").check_sendable("claude-opus-4-6")


def test_keep_reports_a_call_in_an_earlier_message_of_a_trailing_assistant_run():
    """[assistant: tool_use][assistant: text] at the end: the API sees one
    assistant turn with an unanswered call."""
    c = Conversation(policy="keep").user("go").assistant([ToolUseBlock("toolu_1", "n")])
    c = c.assistant("and some text")
    with pytest.raises(NotSendableError) as info:
        c.check_sendable("claude-opus-4-5")
    assert ("every-tool-use-answered", 1) in {(v.rule, v.index) for v in info.value.violations}


def test_keep_answers_a_call_from_an_earlier_assistant_message():
    """[assistant: tool_use][assistant: text][user: tool_result] is one call answered."""
    c = Conversation(policy="keep").user("go").assistant([ToolUseBlock("toolu_1", "n")])
    c = c.assistant("let me run it").tool_results({"toolu_1": "done"})
    c.check_sendable("claude-opus-4-6")


def test_turns_stored_before_the_null_rule_still_verify():
    """A stored turn whose id hashed its nulls (the old form) verifies; a
    changed content still does not."""
    from convo import HashMismatchError, Turn
    from convo._canonical import legacy_turn_id

    content = [{"type": "text", "text": "hi", "cache_control": None}]
    old_id = legacy_turn_id(None, {"content": content, "role": "user"})
    stored = Turn.from_stored(id=old_id, parent_id=None, role="user", origin="human",
                              content_text=json.dumps(content), meta_text="{}")
    stored.verify()
    assert stored.computed_id() == old_id != Turn.create("user", [TextBlock("hi")], origin="human").id
    altered = Turn.from_stored(id=old_id, parent_id=None, role="user", origin="human",
                               content_text=json.dumps([{"type": "text", "text": "ho"}]), meta_text="{}")
    with pytest.raises(HashMismatchError):
        altered.verify()

"""The official SDK as oracle: payloads validate against its request types,
responses built from its block types append, round-trip byte for byte and
give one turn id in every dump form (issue 10, cases 1 and 2)."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import anthropic.types as sdk
import anthropic.types.beta as sdk_beta
import pydantic
import pytest
from anthropic.types.beta.message_create_params import (
    MessageCreateParamsNonStreaming as BetaMessageCreateParamsNonStreaming,
)
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation
from convo.blocks import BLOCK_TYPES, UnknownBlock
from convo.codec import block_from_json, block_to_json
from convo.testing import conversations, responses

_PARAMS = pydantic.TypeAdapter(MessageCreateParamsNonStreaming)
_BETA_PARAMS = pydantic.TypeAdapter(BetaMessageCreateParamsNonStreaming)


def _consume(value: Any) -> Any:
    """Drain pydantic's lazy ``Iterable`` validators (they validate on iteration)."""
    if isinstance(value, dict):
        return {k: _consume(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)) or hasattr(value, "__next__"):
        return [_consume(v) for v in value]
    return value


def validate_request(adapter: pydantic.TypeAdapter[Any], payload: dict[str, Any]) -> Any:
    return _consume(adapter.validate_python(payload))


def test_the_oracle_rejects_what_the_sdk_types_reject():
    """The oracle is not vacuous: a bad block type inside messages fails."""
    bad = {"model": "m", "max_tokens": 1, "messages": [
        {"role": "user", "content": [{"type": "server_tool_use_typo", "text": "x"}]}]}
    with pytest.raises(pydantic.ValidationError):
        validate_request(_PARAMS, bad)


@given(conversations())
def test_every_generated_payload_validates_against_the_sdk(c):
    """Every payload of convo.testing.conversations() is a MessageCreateParams."""
    payload = json.loads(json.dumps(c.to_payload("claude-opus-4-8", 1024)))
    validate_request(_PARAMS, payload)


@given(conversations(beta=True))
def test_beta_payloads_validate_against_the_sdk_beta_params(c):
    """With beta blocks (MCP, compaction, fallback) they are beta MessageCreateParams."""
    payload = json.loads(json.dumps(c.to_payload("claude-opus-4-8", 1024)))
    validate_request(_BETA_PARAMS, payload)


# -- responses built from the SDK's block types ----------------------------------


def _union_members(alias: Any) -> tuple[type[Any], ...]:
    args = typing.get_args(alias)
    union = args[0] if args and typing.get_origin(alias) is typing.Annotated else alias
    return typing.get_args(union)


def _tag(cls: type[Any]) -> str:
    return typing.get_args(cls.model_fields["type"].annotation)[0]


def test_every_sdk_content_block_type_is_typed_by_convo():
    """Each type of the SDK's response ContentBlock unions has a convo class."""
    tags = {_tag(c) for c in _union_members(sdk.ContentBlock)}
    tags |= {_tag(c) for c in _union_members(sdk_beta.BetaContentBlock)}
    missing = tags - set(BLOCK_TYPES)
    # mcp_tool_listing is a beta listing block convo keeps as an UnknownBlock.
    assert missing <= {"mcp_tool_listing"}, missing


def _five_forms(message: Any) -> Iterator[tuple[str, Any]]:
    yield "to_dict", message.to_dict()
    yield "model_dump", message.model_dump()
    yield "exclude_none", message.model_dump(exclude_none=True)
    yield "mode_json", message.model_dump(mode="json")
    yield "object", message


def _check_forms(raw: dict[str, Any], message: Any) -> None:
    base = Conversation().user("hi")
    from_raw = base.append_response(raw)
    head = from_raw.head
    assert head is not None
    # Byte for byte: the raw blocks go back as they came.
    sent = from_raw.to_payload("m", 1)["messages"][-1]["content"]
    assert json.dumps(sent) == json.dumps(raw["content"])
    for name, form in _five_forms(message):
        other = base.append_response(form)
        assert other.head_id == from_raw.head_id, name
        assert [type(b) for b in other.head.blocks] == [type(b) for b in head.blocks], name
    assert not any(isinstance(b, UnknownBlock) for b in head.blocks)


@given(responses())
def test_sdk_messages_append_round_trip_and_share_one_id(raw):
    """A response parsed by the SDK appends in all five forms with one id."""
    message = sdk.Message.model_validate(raw)
    assert message.to_dict()["content"] == raw["content"]  # the SDK read every block
    _check_forms(raw, message)


@given(responses(beta=True))
def test_sdk_beta_messages_append_round_trip_and_share_one_id(raw):
    """The same law over the beta catalogue (MCP, compaction, fallback)."""
    message = sdk_beta.BetaMessage.model_validate(raw)
    # model_dump() writes a fallback block's ``from`` as the field name
    # ``from_``: it is read as ``from`` and sent back as the API's name.
    _check_forms(raw, message)


_EXAMPLES: dict[str, dict[str, Any]] = {
    "text": {"type": "text", "text": "See", "citations": [
        {"type": "web_search_result_location", "cited_text": "c", "url": "https://e.com",
         "title": None, "encrypted_index": "e"}]},
    "thinking": {"type": "thinking", "thinking": "hm", "signature": "sig"},
    "redacted_thinking": {"type": "redacted_thinking", "data": "ZGF0YQ=="},
    "tool_use": {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"x": None},
                 "caller": {"type": "direct"}},
    "server_tool_use": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                        "input": {"query": "q"}},
    "web_search_tool_result": {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1",
                               "content": [{"type": "web_search_result", "url": "https://e.com",
                                            "title": "t", "encrypted_content": "e", "page_age": None}]},
    "web_fetch_tool_result": {"type": "web_fetch_tool_result", "tool_use_id": "srvtoolu_1", "content": {
        "type": "web_fetch_result", "url": "https://e.com", "content": {
            "type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}}},
    "code_execution_tool_result": {"type": "code_execution_tool_result", "tool_use_id": "srvtoolu_1",
                                   "content": {"type": "code_execution_result", "stdout": "1",
                                               "stderr": "", "return_code": 0, "content": []}},
    "bash_code_execution_tool_result": {
        "type": "bash_code_execution_tool_result", "tool_use_id": "srvtoolu_1",
        "content": {"type": "bash_code_execution_result", "stdout": "", "stderr": "",
                    "return_code": 0, "content": []}},
    "text_editor_code_execution_tool_result": {
        "type": "text_editor_code_execution_tool_result", "tool_use_id": "srvtoolu_1",
        "content": {"type": "text_editor_code_execution_view_result", "content": "x",
                    "file_type": "text"}},
    "tool_search_tool_result": {"type": "tool_search_tool_result", "tool_use_id": "srvtoolu_1",
                                "content": {"type": "tool_search_tool_search_result",
                                            "tool_references": [{"type": "tool_reference",
                                                                 "tool_name": "calc"}]}},
    "container_upload": {"type": "container_upload", "file_id": "file_1"},
}


@pytest.mark.parametrize("kind", sorted(_EXAMPLES))
def test_each_sdk_block_type_in_a_message(kind):
    """A Message holding each of the SDK's block types (after a server tool
    call where the block is a result) keeps its meaning in all five forms."""
    content = [_EXAMPLES[kind]]
    if kind.endswith("_tool_result"):
        content = [_EXAMPLES["server_tool_use"], _EXAMPLES[kind]]
    raw = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-8",
           "content": content, "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 1, "output_tokens": 1}}
    message = sdk.Message.model_validate(raw)
    assert _tag(type(message.content[-1])) == kind
    _check_forms(raw, message)
    assert isinstance(block_from_json(message.content[-1]), BLOCK_TYPES[kind])


def test_every_sdk_response_block_type_has_an_example():
    """The parametrized examples cover the SDK's whole ContentBlock union."""
    assert {_tag(c) for c in _union_members(sdk.ContentBlock)} == set(_EXAMPLES)


@given(st.sampled_from(sorted(_EXAMPLES)))
def test_sdk_param_dicts_with_sdk_objects_load(kind):
    """from_payload takes SDK param dicts whose content holds SDK block objects
    (what Message.to_param() returns)."""
    content = [_EXAMPLES[kind]]
    if kind.endswith("_tool_result"):
        content = [_EXAMPLES["server_tool_use"], _EXAMPLES[kind]]
    raw = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
           "content": content, "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 1, "output_tokens": 1}}
    message = sdk.Message.model_validate(raw)
    payload = {"model": "m", "max_tokens": 1,
               "messages": [{"role": "user", "content": "hi"}, message.to_param()]}
    loaded = Conversation.from_payload(payload)
    expected = Conversation().user("hi").append_response(raw)
    assert loaded.head_id == expected.head_id


def test_no_sdk_model_field_has_a_non_null_default():
    """The canonical form drops nulls and nothing else: that makes model_dump()
    and the raw JSON one id only while no SDK field defaults to a non-null
    value (which model_dump would add and the raw JSON lack)."""
    import inspect

    from anthropic._models import BaseModel

    checked = 0
    for module in (sdk, sdk_beta):
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseModel) and value is not BaseModel:
                for name, info in value.model_fields.items():
                    checked += 1
                    assert info.is_required() or info.default is None, (value.__name__, name)
    assert checked > 1000


def test_a_fallback_block_from_model_dump_is_the_api_block():
    """``model_dump()`` names a fallback block's ``from`` after the SDK's field
    (``from_``): it reads as the API's ``from``, with the id of the raw JSON;
    a block that carries both keeps both (nothing dropped)."""
    raw = {
        "type": "fallback",
        "from": {"model": "claude-opus-4-6"},
        "to": {"model": "claude-sonnet-4-6"},
        "trigger": {"type": "refusal"},
    }
    dumped = {"from_" if k == "from" else k: v for k, v in raw.items()}
    assert list(dumped) == ["type", "from_", "to", "trigger"]
    block = block_from_json(dumped)
    assert block == block_from_json(raw)
    assert list(block_to_json(block)) == list(raw)
    both = block_from_json({**raw, "from_": {"model": "x"}})
    assert block_to_json(both)["from_"] == {"model": "x"}
    assert block_to_json(both)["from"] == raw["from"]

"""Prompt-cache planning: the auto policy, its limits and its byte stability."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, TextBlock
from convo.cache import (
    DEFAULT_MIN_CACHE_TOKENS,
    apply_cache_plan,
    count_breakpoints,
    estimate_tokens,
    plan_cache,
)
from convo.models import profile_for
from convo.rules import MAX_CACHE_BREAKPOINTS
from convo.testing import conversations

LONG = "lorem ipsum dolor sit amet " * 800  # ~5400 estimated tokens


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=False, separators=(",", ":"))


def _unmarked(value: Any) -> Any:
    """``value`` without any ``cache_control`` (markers are not cached content)."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list | tuple):
        return [_unmarked(v) for v in value]
    return value


def _marked_prefixes(payload: dict[str, Any]) -> list[tuple[str, int]]:
    """(path, estimated prefix tokens) of every top-level block with cache_control,
    computed independently of the planner."""
    out: list[tuple[str, int]] = []
    total = 0
    for i, tool in enumerate(payload.get("tools") or ()):
        total += estimate_tokens(tool)
        if tool.get("cache_control") is not None:
            out.append((f"tools[{i}]", total))
    system = payload.get("system")
    if isinstance(system, str):
        total += estimate_tokens(system)
    else:
        for i, block in enumerate(system or ()):
            total += estimate_tokens(block)
            if block.get("cache_control") is not None:
                out.append((f"system[{i}]", total))
    for m, message in enumerate(payload["messages"]):
        content = message["content"]
        if isinstance(content, str):
            total += estimate_tokens(content)
            continue
        for b, block in enumerate(content):
            total += estimate_tokens(block)
            if isinstance(block, dict | type(block)) and block.get("cache_control") is not None:
                out.append((f"messages[{m}][{b}]", total))
    return out


@given(conversations(), st.sampled_from([0, 5, 40, 200, 4096]))
def test_auto_never_exceeds_four_nor_places_below_the_minimum(c: Conversation, minimum: int) -> None:
    """The planner adds breakpoints only up to the API's 4 (the caller's
    counted first) and never where the prefix is below the minimum."""
    plain = c.to_payload("claude-test-1", 100)
    plan = plan_cache(plain, min_tokens=minimum)
    planned = apply_cache_plan(plain, plan)
    before = count_breakpoints(plain)
    after = count_breakpoints(planned)
    assert after <= max(MAX_CACHE_BREAKPOINTS, before)
    assert after == before + len(plan.breakpoints)
    ours = set(_marked_prefixes(planned)) - set(_marked_prefixes(plain))
    assert len(ours) == len(plan.breakpoints)
    for _, tokens in ours:
        assert tokens >= minimum


@given(conversations())
def test_auto_keeps_everything_but_the_markers(c: Conversation) -> None:
    """Removing the added markers gives the plain payload back, and the
    plain payload itself is not changed."""
    plain = c.to_payload("claude-test-1", 100)
    snapshot = _dump(plain)
    planned = apply_cache_plan(plain, plan_cache(plain, min_tokens=0))
    assert _dump(plain) == snapshot
    assert _dump(c.to_payload("claude-test-1", 100)) == snapshot
    assert len(_dump(planned)) >= len(snapshot)


@given(conversations())
def test_equal_histories_give_byte_identical_payloads(c: Conversation) -> None:
    """The plan is a pure function of the history: rebuilding the same
    conversation gives the same bytes."""
    again = Conversation.from_turns(c.turns, c.system)
    a = c.to_payload("claude-opus-4-5", 100, cache="auto")
    b = again.to_payload("claude-opus-4-5", 100, cache="auto")
    assert _dump(a) == _dump(b)


@given(
    conversations(end_with="user", tools=False, images=False),
    st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=2, max_size=8),
    st.sampled_from([0, 50]),
)
def test_cached_prefix_is_byte_stable_across_appends(
    c: Conversation, replies: list[str], minimum: int
) -> None:
    """What a request wrote to the cache is sent again byte for byte by the
    next request, markers aside, and the block it wrote at keeps its marker
    (when the caller's own breakpoints leave room)."""
    if count_breakpoints(c.to_payload("claude-test-1", 100)) > 1:
        return

    def planned(conversation: Conversation) -> dict[str, Any]:
        plain = conversation.to_payload("claude-test-1", 100)
        return apply_cache_plan(plain, plan_cache(plain, min_tokens=minimum))

    previous = planned(c)
    for answer, question in zip(replies[::2], replies[1::2], strict=False):
        c = c.assistant(answer.strip()).user(question.strip())
        current = planned(c)
        n = len(previous["messages"])
        # The content (what the cache key covers) never changes ...
        assert _dump(_unmarked(previous.get("system"))) == _dump(_unmarked(current.get("system")))
        assert _dump(_unmarked(previous["messages"])) == _dump(_unmarked(current["messages"][:n]))
        # ... the system prompt keeps its marker, and the block the previous
        # request wrote its cache at is marked again, byte for byte.
        assert _dump(previous.get("system")) == _dump(current.get("system"))
        assert _dump(previous["messages"][n - 1]) == _dump(current["messages"][n - 1])
        previous = current


def test_auto_policy_places_stable_prefix_previous_and_last() -> None:
    """System, the previous request's end and this request's end."""
    c = Conversation(LONG).user(LONG).assistant("sure").user("and then?")
    p = c.to_payload("claude-opus-4-5", 100, cache="auto")
    assert p["system"] == [{"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    assert p["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert p["messages"][1]["content"] == [{"type": "text", "text": "sure"}]
    assert p["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert count_breakpoints(p) == 3


def test_below_minimum_nothing_is_placed_and_the_plan_says_why() -> None:
    """A short prompt on a 4096-token model gets no breakpoint at all."""
    c = Conversation("short").user("hi")
    plain = c.to_payload("claude-opus-4-5", 100)
    plan = plan_cache(plain)
    assert plan.breakpoints == ()
    assert plan.min_tokens == profile_for("claude-opus-4-5").min_cache_tokens == 4096
    assert any("< minimum 4096" in reason for reason in plan.skipped)
    auto = c.to_payload("claude-opus-4-5", 100, cache="auto")
    assert count_breakpoints(auto) == 0
    # auto always sends the block form, so a message keeps its bytes when a
    # breakpoint later lands on it
    assert auto["system"] == [{"type": "text", "text": "short"}]
    assert auto["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_unknown_model_uses_the_conservative_default_minimum() -> None:
    """Unknown models get the largest known minimum."""
    plain = Conversation("x").user("hi").to_payload("some-other-model", 10)
    assert plan_cache(plain).min_tokens == DEFAULT_MIN_CACHE_TOKENS


def test_user_breakpoints_count_first_and_stay() -> None:
    """With 3 of the caller's own, the planner adds one, by priority."""
    cc = {"type": "ephemeral"}
    tools = [
        {"name": f"t{i}", "input_schema": {"type": "object"}, "cache_control": cc}
        for i in range(3)
    ]
    c = Conversation(LONG).user(LONG).assistant("ok").user("more " * 10)
    p = c.to_payload("claude-opus-4-5", 100, cache="auto", tools=tools)
    assert count_breakpoints(p) == MAX_CACHE_BREAKPOINTS
    assert p["tools"] == tools
    assert "cache_control" in p["system"][0]  # the stable prefix comes first
    plan = plan_cache(c.to_payload("claude-opus-4-5", 100, tools=tools))
    assert plan.user_breakpoints == 3
    assert any("no breakpoint left" in reason for reason in plan.skipped)


def test_thinking_and_empty_text_are_never_marked() -> None:
    """The planner walks back to a block that may carry cache_control."""
    payload: dict[str, Any] = {
        "model": "claude-opus-4-5",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": LONG}, {"type": "text", "text": ""}]},
        ],
    }
    planned = apply_cache_plan(payload, plan_cache(payload))
    assert planned["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in planned["messages"][0]["content"][1]
    thinking = {"type": "thinking", "thinking": LONG, "signature": "s"}
    payload["messages"] = [{"role": "user", "content": "q"}, {"role": "assistant", "content": [thinking]}]
    plan = plan_cache(payload, min_tokens=0)
    assert plan.breakpoints == ()
    assert "this request: no block can carry cache_control" in plan.skipped


def test_ttl_and_modes() -> None:
    """cache_ttl sets the ttl; an unknown cache mode is refused; 'none' is the default."""
    c = Conversation([TextBlock(LONG)]).user("hi")
    p = c.to_payload("claude-opus-4-5", 100, cache="auto", cache_ttl="1h")
    assert p["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert c.to_payload("claude-opus-4-5", 100) == c.to_payload("claude-opus-4-5", 100, cache="none")
    with pytest.raises(ValueError, match="cache must be"):
        c.to_payload("claude-opus-4-5", 100, cache="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl"):
        apply_cache_plan(c.to_payload("m", 1), plan_cache(c.to_payload("m", 1), min_tokens=0), ttl="2h")  # type: ignore[arg-type]


def test_auto_payload_is_sendable() -> None:
    """check_sendable accepts what auto produced (at most 4 breakpoints)."""
    c = Conversation(LONG).user(LONG).assistant("ok").user(LONG)
    p = c.to_payload("claude-opus-4-5", 100, cache="auto")
    again = Conversation.from_payload(p)
    again.check_sendable("claude-opus-4-5", max_tokens=100)


def test_chat_sends_auto_breakpoints_and_records_the_prefix(tmp_path) -> None:
    """Chat(params={"cache": "auto"}) sends planned breakpoints; each model
    turn records the prefix it was produced under."""
    from convo.chat import Chat
    from convo.store import Store
    from convo.transport import ScriptedTransport

    transport = ScriptedTransport(["first", "second"])
    with Store(tmp_path / "c.db") as store:
        chat = Chat(store, transport, "t", model="claude-opus-4-5", system=LONG,
                    params={"cache": "auto"})
        chat.send("hello")
        chat.send("again")
        sent = transport.requests[-1]
        assert count_breakpoints(sent) == 3
        assert "cache" not in sent
        heads = [t for t in chat.conversation.turns if t.role == "assistant"]
        assert all("prefix_fingerprint" in t.meta for t in heads)
        assert heads[1].meta["prefix_fingerprint"]["parent"] == chat.conversation[2].id


def test_cacheable_types_are_exactly_the_sdk_params_with_cache_control() -> None:
    """Oracle: each type the planner may mark has a cache_control field in the
    SDK's request param; thinking blocks do not."""
    import importlib

    from convo.cache import CACHEABLE_BLOCK_TYPES

    def fields(kind: str) -> set[str]:
        module = importlib.import_module(f"anthropic.types.{kind}_block_param")
        cls = getattr(module, "".join(part.capitalize() for part in kind.split("_")) + "BlockParam")
        names: set[str] = set()
        for klass in cls.__mro__:
            names |= set(getattr(klass, "__annotations__", {}))
        return names

    for kind in CACHEABLE_BLOCK_TYPES:
        assert "cache_control" in fields(kind), kind
    for kind in ("thinking", "redacted_thinking"):
        assert "cache_control" not in fields(kind), kind


@given(conversations())
def test_auto_payloads_validate_against_the_sdk(c: Conversation) -> None:
    """Every auto payload is still a MessageCreateParams."""
    import pydantic
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    adapter = pydantic.TypeAdapter(MessageCreateParamsNonStreaming)
    plain = c.to_payload("claude-opus-4-8", 1024)
    payload = json.loads(json.dumps(apply_cache_plan(plain, plan_cache(plain, min_tokens=0))))
    validated = adapter.validate_python(payload)
    for message in validated["messages"]:
        content = message["content"]
        if not isinstance(content, str):
            list(content)  # pydantic validates lazy iterables on iteration


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"messages": [], "tools": {"name": "x"}}, "$.tools"),
        ({"messages": [], "system": 5}, "$.system"),
        ({"messages": {"role": "user"}}, "$.messages"),
        ({"messages": ["hi"]}, "$.messages[0]"),
        ({"messages": [{"role": "user", "content": None}]}, "$.messages[0].content"),
    ],
)
def test_malformed_bodies_get_a_codec_error_with_the_path(payload: dict[str, Any], path: str) -> None:
    """The planner refuses what it cannot read, saying where."""
    from convo import CodecError

    with pytest.raises(CodecError) as info:
        plan_cache(payload, min_tokens=0)
    assert path in str(info.value)

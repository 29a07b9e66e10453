"""Public-API usage checked by mypy (``mypy tests/typing``), never run.

If a change to convo's signatures breaks a user's typed code, mypy fails
here first.
"""

from __future__ import annotations

from typing import Any, assert_type

from convo import (
    Conversation,
    FrozenDict,
    ImageBlock,
    NotSendableError,
    Policy,
    RuleError,
    ServerToolUseBlock,
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


def catalogue(response: object) -> Conversation:
    c = Conversation(policy="keep").user("Find it").append_response(response)
    c = c.user("and now").system_message("Answer in French.")
    block = ServerToolUseBlock("srvtoolu_1", "web_search", {"query": "q"})
    assert_type(block.extra, FrozenDict)
    assert_type(Conversation.from_payload({"messages": []}, policy=None).policy, Policy)
    return c.append("assistant", [block], origin="model")


def prefix_as_a_value(c: Conversation, response: object) -> Conversation:
    from convo import CachePlan, Ledger, Prices, Usage, compact, plan_cache

    payload = c.to_payload("claude-opus-4-5", 1024, cache="auto", cache_ttl="1h")
    assert_type(plan_cache(payload), CachePlan)
    c = c.append_response(response, request=payload)
    ledger = c.usage(prices=Prices.standard(5.0, 25.0))
    assert_type(ledger, Ledger)
    assert_type(ledger.total, Usage)
    assert_type(ledger.total.cost, float | None)
    assert_type(ledger.total.hit_ratio, float)
    fixed = c.strip_stale_thinking(tools=None, thinking=None)
    return compact(fixed, "summary", keep_tail=2)

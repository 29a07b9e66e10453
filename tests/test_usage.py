"""The usage ledger: per-request tokens by kind, cost, forks, hit ratios."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, Prices
from convo.models import profile_for
from convo.usage import TokenCounts, usage_from_meta


def response(
    text: str,
    *,
    model: str = "claude-opus-4-5",
    inp: int = 10,
    out: int = 5,
    read: int = 0,
    w5: int = 0,
    w1: int = 0,
    split: bool = True,
    rid: str = "msg_1",
    **extra: Any,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": w5 + w1,
    }
    if split:
        usage["cache_creation"] = {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1}
    return {
        "id": rid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
        **extra,
    }


def test_ledger_sums_each_kind_and_prices_it_from_the_profile() -> None:
    """Input, output, read and writes by TTL are summed and priced per MTok."""
    c = Conversation().user("a").append_response(response("x", inp=100, out=10, w5=1000, w1=2000))
    c = c.user("b").append_response(response("y", inp=50, out=20, read=3000, rid="msg_2"))
    ledger = c.usage()
    assert [r.response_id for r in ledger.requests] == ["msg_1", "msg_2"]
    assert [r.index for r in ledger.requests] == [1, 3]
    t = ledger.total
    assert (t.input_tokens, t.output_tokens, t.cache_read_tokens) == (150, 30, 3000)
    assert (t.cache_write_5m_tokens, t.cache_write_1h_tokens, t.requests) == (1000, 2000, 2)
    p = profile_for("claude-opus-4-5").prices
    assert p is not None
    expected = (150 * p.input + 30 * p.output + 3000 * p.cache_read + 1000 * p.cache_write_5m + 2000 * p.cache_write_1h) / 1e6
    assert t.cost == pytest.approx(expected)
    assert ledger.requests[1].usage.hit_ratio == pytest.approx(3000 / 3050)
    assert ledger.requests[0].usage.hit_ratio == 0.0


def test_writes_without_a_split_count_as_5m() -> None:
    """An older response (no cache_creation) bills its writes at the 5m price."""
    u = usage_from_meta({"usage": response("x", w5=700, split=False)["usage"]})
    assert u is not None
    assert (u.cache_write_5m_tokens, u.cache_write_1h_tokens) == (700, 0)
    assert usage_from_meta({}) is None


def test_prices_are_overridable_and_unknown_models_are_unpriced() -> None:
    """One Prices, a mapping, or a function; an unknown model gives cost None."""
    c = Conversation().user("a").append_response(response("x", model="mystery-1", inp=1_000_000))
    assert c.usage().total.cost is None
    assert c.usage().unpriced_models == ("mystery-1",)
    flat = Prices.standard(2.0, 10.0)
    assert c.usage(prices=flat).total.cost == pytest.approx(2.0 + 5 * 10.0 / 1e6)
    assert c.usage(prices={"mystery-1": flat}).total.cost == pytest.approx(2.0 + 5e-5)
    assert c.usage(prices=lambda model: flat).total.cost == pytest.approx(2.0 + 5e-5)


def test_a_fork_shares_its_prefix_usage_and_since_counts_its_own() -> None:
    """Forks count the shared requests; since= leaves them out, so the main
    thread plus each fork's own ledger count every request once."""
    main = Conversation().user("a").append_response(response("x", inp=10))
    main = main.user("b").append_response(response("y", inp=20, rid="m2"))
    fork = main.fork(2).user("c").append_response(response("z", inp=40, rid="f1"))
    assert fork.usage().total.input_tokens == 50
    assert fork.usage(since=main).total.input_tokens == 40
    own = main.usage().total + fork.usage(since=main).total
    assert own.input_tokens == 70 and own.requests == 3


def test_joined_continuations_count_each_response() -> None:
    """A pause_turn continuation joined into one turn keeps both usages."""
    paused = response("part", inp=10, out=3)
    paused["stop_reason"] = "pause_turn"
    c = Conversation().user("q").append_response(paused)
    c = c.append_response(response(" rest", inp=30, out=7, rid="msg_2"))
    assert len(c) == 2
    ledger = c.usage()
    assert [r.response_id for r in ledger.requests] == ["msg_1", "msg_2"]
    assert ledger.total.input_tokens == 40


MODEL_ID = "claude-opus-4-5"
counts = st.integers(0, 10**6)


@given(st.lists(st.tuples(counts, counts, counts, counts, counts), max_size=6))
def test_total_is_the_sum_of_the_rows(rows: list[tuple[int, int, int, int, int]]) -> None:
    """The ledger's total equals the sum of its requests, kind by kind."""
    c = Conversation()
    for i, (inp, out, read, w5, w1) in enumerate(rows):
        c = c.user(f"q{i}").append_response(response(f"a{i}", inp=inp, out=out, read=read, w5=w5, w1=w1, rid=f"m{i}"))
    ledger = c.usage()
    assert len(ledger.requests) == len(rows)
    total = sum((r.usage for r in ledger.requests), TokenCounts())
    assert total.total_input_tokens == ledger.total.total_input_tokens
    assert total.cost == pytest.approx(ledger.total.cost)
    assert ledger.total.total_input_tokens == sum(r[0] + r[2] + r[3] + r[4] for r in rows)


def test_cache_diagnostics_are_sent_and_the_miss_reason_recorded() -> None:
    """cache_diagnostics sends the previous response id; the miss reason
    the response gives appears in the ledger."""
    c = Conversation("s").user("a")
    assert c.to_payload(MODEL_ID, 10, cache_diagnostics=True)["diagnostics"] == {"previous_message_id": None}
    c = c.append_response(response("x", rid="msg_A")).user("b")
    payload = c.to_payload(MODEL_ID, 10, cache_diagnostics=True)
    assert payload["diagnostics"] == {"previous_message_id": "msg_A"}
    assert "diagnostics" not in c.to_payload(MODEL_ID, 10)
    miss = {"type": "system_changed"}
    c = c.append_response(response("y", rid="msg_B", diagnostics={"cache_miss_reason": miss}))
    rows = c.usage().requests
    assert rows[0].cache_miss_reason is None
    assert rows[1].cache_miss_reason == miss

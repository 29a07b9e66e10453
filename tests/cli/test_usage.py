"""`convo usage THREAD`: the ledger per request, hit ratio and cost."""

from __future__ import annotations

import json

from convo import Conversation


def _reply(text: str, rid: str, **usage: int) -> dict:
    return {
        "id": rid, "type": "message", "role": "assistant", "model": "claude-opus-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_usage_prints_each_request_with_hit_ratio_and_cost(run, store):
    """One row per request, the total, the hit ratio and USD."""
    c = Conversation("s").user("a").append_response(_reply("x", "m1", cache_creation_input_tokens=4000))
    c = c.user("b").append_response(_reply("y", "m2", cache_read_input_tokens=4000))
    store.save("t", c)
    result = run("usage", "t")
    assert result.exit_code == 0, result.output
    assert "total" in result.output and "2 requests" in result.output
    assert "100%" in result.output or "99%" in result.output
    assert "$" in result.output
    lines = [json.loads(line) for line in run("usage", "t", "--json").output.splitlines()]
    assert [line.get("response_id") for line in lines[:2]] == ["m1", "m2"]
    assert lines[1]["cache_read_tokens"] == 4000
    assert lines[1]["hit_ratio"] == round(4000 / 4010, 4)
    assert lines[2]["total"] is True and lines[2]["requests"] == 2


def test_usage_since_counts_a_forks_own_requests(run, store):
    """--since leaves out the shared prefix."""
    main = Conversation().user("a").append_response(_reply("x", "m1"))
    store.save("main", main)
    store.save("fork", main.user("b").append_response(_reply("y", "f1")))
    lines = [json.loads(line) for line in run("usage", "fork", "--since", "main", "--json").output.splitlines()]
    assert [line.get("response_id") for line in lines[:-1]] == ["f1"]


def test_usage_of_a_thread_without_responses(run, store):
    """No model turn: a one-line note, exit 0."""
    store.save("t", Conversation().user("hello"))
    result = run("usage", "t")
    assert result.exit_code == 0
    assert "no model responses" in result.output


def test_demo_shows_a_cached_exchange_and_its_ledger(run):
    """convo demo ends with a cache="auto" exchange: writes, then reads, and its cost."""
    result = run("demo", env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert 'cache="auto"' in result.stdout and "ledger" in result.stdout
    assert "3 requests on claude-opus-4-5: hit ratio" in result.stdout
    assert "without caching" in result.stdout
    lines = [json.loads(line) for line in run("usage", "demo-cache", "--json").output.splitlines()]
    assert lines[0]["cache_write_5m_tokens"] > 4096 and lines[0]["cache_read_tokens"] == 0
    assert all(line["cache_read_tokens"] > 4096 for line in lines[1:3])
    assert lines[-1]["total"] is True


def test_usage_names_the_cache_miss_reason(run, store):
    """A response's diagnostics.cache_miss_reason is printed and in --json."""
    reply = _reply("x", "m1")
    reply["diagnostics"] = {"cache_miss_reason": {"type": "tools_changed"}}
    store.save("t", Conversation().user("a").append_response(reply))
    assert "turn 1: cache miss: tools_changed" in run("usage", "t").output
    first = json.loads(run("usage", "t", "--json").output.splitlines()[0])
    assert first["cache_miss_reason"] == {"type": "tools_changed"}

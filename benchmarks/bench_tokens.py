"""Token estimates and trimming: counting is paid once per turn.

Ratios (convo / baseline, lower is better), all measured in this run:

* ``count@1000 cold / tiktoken(json.dumps(messages))``: a first count,
  block by block, against one naive tiktoken pass over the messages' JSON.
* ``count after append@1000 / count@1000 cold``: the per-turn cache makes
  a count after one append cost one turn (target: <= 0.01).
* ``count of a fork@500+1 / count@1000 cold``: a fork of a counted
  conversation pays only for its own new turn (target: <= 0.01).
* ``trim@10000 / naive trim``: trimming 10 000 turns to half their tokens
  against a hand-written trim (tiktoken over each message's JSON, drop the
  oldest exchanges, rebuild with ``Conversation.from_payload``).  Cold, both
  are dominated by tiktoken (target: <= 1.5); once the conversation has been
  counted (``fits`` was asked first), trim only rebuilds (target: <= 0.5).
"""

from __future__ import annotations

import json
import time
from typing import Any

from benchmarks._timing import Stat, measure, row
from convo import Conversation, ToolUseBlock
from convo.tokens import clear_cache, count, get_encoding, trim

_MODEL = "claude-opus-4-5"


def _grow(length: int) -> Conversation:
    """Questions and answers, every third exchange through a tool call."""
    c = Conversation("You are a helpful assistant. Answer briefly.")
    i = 0
    while len(c) < length:
        c = c.user(f"Question {i}: what do you know about topic number {i}? " * 3)
        if i % 3 == 0 and len(c) + 3 < length:
            c = c.assistant([ToolUseBlock(f"toolu_{i}", "search", {"query": f"topic {i}"})])
            c = c.tool_results({f"toolu_{i}": f"Found {i} results about topic {i}. " * 4})
        c = c.assistant(f"Answer {i}: here is what I know about topic {i}. " * 4)
        i += 1
    return c


def _each(items: list[Any], fn: Any) -> Stat:
    """Per-item seconds of ``fn(item)``, each item timed once, as a Stat of
    five batches."""
    size = max(1, len(items) // 5)
    samples = []
    for start in range(0, size * 5, size):
        batch = items[start : start + size]
        began = time.perf_counter()
        for item in batch:
            fn(item)
        samples.append((time.perf_counter() - began) / len(batch))
    return Stat(samples)


def _naive_trim(c: Conversation, budget: int) -> Conversation:
    encode = get_encoding().encode_ordinary
    payload = json.loads(json.dumps(c.to_payload(_MODEL, 1)))
    messages = payload["messages"]
    costs = [len(encode(json.dumps(m, ensure_ascii=False))) for m in messages]
    total = len(encode(json.dumps(payload.get("system", "")))) + sum(costs)
    start = 0
    while total > budget and start < len(messages) - 1:
        total -= costs[start]
        start += 1
        while start < len(messages) - 1 and not _starts_exchange(messages[start]):
            total -= costs[start]
            start += 1
    return Conversation.from_payload({"system": payload.get("system"), "messages": messages[start:]})


def _starts_exchange(message: dict[str, Any]) -> bool:
    content = message["content"]
    return message["role"] == "user" and (
        isinstance(content, str) or all(b.get("type") != "tool_result" for b in content)
    )


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the token benchmarks; one row per workload."""
    repeat = 5 if quick else 9
    rows: list[dict[str, Any]] = []

    c = _grow(1_000)
    encode = get_encoding().encode_ordinary
    messages = c.to_payload(_MODEL, 1)["messages"]
    cold = measure(lambda: count(c, model=_MODEL), repeat=repeat, setup=clear_cache)
    naive = measure(lambda: len(encode(json.dumps(messages, ensure_ascii=False))), repeat=repeat)
    rows.append(row("count@1000 cold vs tiktoken(json.dumps(messages))", cold, naive,
                    baseline_name="one tiktoken pass over the JSON", turns=1_000))

    count(c, model=_MODEL)
    appended = [c.user(f"one more question {k}") for k in range(200 if quick else 1_000)]
    after = _each(appended, lambda x: count(x, model=_MODEL))
    rows.append(row("count after append@1000 vs count@1000 cold", after, cold, target=0.01,
                    baseline_name="count@1000 cold", turns=1_000))

    forks = [c.fork(500).user(f"a different question {k}") for k in range(200 if quick else 1_000)]
    forked = _each(forks, lambda x: count(x, model=_MODEL))
    rows.append(row("count of fork@500+1 vs count@1000 cold", forked, cold, target=0.01,
                    baseline_name="count@1000 cold", turns=501))

    big = _grow(10_000)
    budget = count(big, model=_MODEL) // 2
    naive_trim = measure(lambda: _naive_trim(big, budget), repeat=3)
    trim_cold = measure(lambda: trim(big, budget, model=_MODEL), repeat=3, setup=clear_cache)
    rows.append(row("trim@10000 cold vs naive trim", trim_cold, naive_trim, target=1.5,
                    baseline_name="tiktoken per message + from_payload", turns=10_000,
                    kept=len(trim(big, budget, model=_MODEL))))

    def warm() -> None:
        clear_cache()
        count(big, model=_MODEL)

    trim_warm = measure(lambda: trim(big, budget, model=_MODEL), repeat=3, setup=warm)
    rows.append(row("trim@10000 counted vs naive trim", trim_warm, naive_trim, target=0.5,
                    baseline_name="tiktoken per message + from_payload", turns=10_000))
    return rows


def main() -> None:
    """Print the rows as a table."""
    from benchmarks.__main__ import print_table

    print_table(run())


if __name__ == "__main__":
    main()

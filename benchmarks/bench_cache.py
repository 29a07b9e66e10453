"""Prompt caching: what ``cache="auto"`` saves, against an offline optimum.

The script (deterministic, built with convo itself): a 50-turn main thread
with tool calls under a long system prompt (~6 000 tokens) and three tool
definitions, on ``claude-opus-4-5`` (minimum cacheable prefix 4 096).
A request is sent each time a thread ends with a user turn (a question or
tool results), 30 s after the previous one.  After turn 30 the user forks
from turn 20 and runs a 10-turn fork (5 requests) before the main thread
goes on; before turn 40 the user pauses for 7 minutes (every entry expires).

Every request is priced with the ledger's accounting (``convo.usage.TokenCounts``
priced by ``Prices.standard(5.0, 25.0)``: base input, writes 1.25x, reads
0.1x; output is the same under every strategy and left out).  The figure is
"billed input tokens": the input cost over the base price, i.e. tokens at
base-price equivalents.  Strategies, all in one run:

* ``auto``: ``to_payload(cache="auto")`` (the planner in ``convo.cache``).
* ``none``: no breakpoint.
* ``system``: one breakpoint on the system prompt only.
* ``optimum``: an offline optimum that knows the whole script: a dynamic
  program over the requests in time order whose state is the set of live
  cache entries (see ``optimum``).

The simulated cache (``SimCache``):

* A request is a sequence of positions (each tool, each system block, each
  message block); an entry's key is the exact content of the prefix up to
  a position (roles and blocks, ``cache_control`` markers excluded: they
  are not content).
* Each breakpoint looks for a live entry at its own position and up to 19
  positions before it (the API's 20-block lookback); the longest entry
  found is read.  Tokens from there to the last breakpoint are written,
  the rest is base input.  A breakpoint whose prefix is shorter than the
  model's minimum neither reads nor writes.
* Entries live 5 minutes from their last use: creation, a read, or a
  breakpoint on them.

Why the DP is exact under this model: reading the longest live entry is
always best (0.1x beats 1x and 1.25x, and reading refreshes); marking a
live entry costs nothing and only extends its life, so it is always done;
the write cost depends only on the furthest breakpoint, so the one real
choice per request is how far to write, and writing anywhere but at the
longest common prefix with some later request buys nothing (shorter gives
a shorter later hit for the same kind of premium, longer is never read).
The candidates are therefore "no write" and each distinct common prefix
with a later request (at a markable block, above the minimum).  The one
approximation: the 4-breakpoint limit is applied greedily (read, furthest
write, other common prefixes, refreshes); ``slot_limited`` in the row says
whether it ever bound.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from benchmarks._timing import Stat, row
from convo import Conversation, Prices, ToolUseBlock
from convo.cache import CACHEABLE_BLOCK_TYPES, LOOKBACK_BLOCKS, estimate_tokens
from convo.models import profile_for
from convo.rules import MAX_CACHE_BREAKPOINTS
from convo.usage import TokenCounts

MODEL = "claude-opus-4-5"
TTL = 300.0
STEP = 30.0
PAUSE = 420.0
PRICES = Prices.standard(5.0, 25.0, source="simulated: 1.25x write, 0.1x read")

_SYSTEM = " ".join(
    f"Rule {i}: when the user asks about subject {i}, answer with care, cite the tool "
    f"output you relied on, and keep the answer under {100 + i} words."
    for i in range(280)
)
TOOLS = [
    {
        "name": name,
        "description": f"{name}: " + "Looks things up in the knowledge base and returns passages. " * 20,
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
    for name in ("search", "fetch", "lookup")
]


# -- the script ----------------------------------------------------------------


def _exchange(c: Conversation, i: int, tag: str) -> list[Conversation]:
    """One question (with a tool call every other time); returns the
    conversation at each request point, and the final state last."""
    out: list[Conversation] = []
    c = c.user(f"[{tag}] Question {i}: tell me about subject {i} and how it relates to {i + 1}. " * 3)
    if i % 2 == 0:
        out.append(c)
        c = c.assistant([ToolUseBlock(f"toolu_{tag}_{i}", "search", {"query": f"subject {i}"})])
        c = c.tool_results({f"toolu_{tag}_{i}": f"Passage about subject {i}: facts and figures. " * 60})
    out.append(c)
    c = c.assistant(f"[{tag}] Answer {i}: subject {i} is related to {i + 1} in these ways. " * 8)
    out.append(c)
    return out


def script() -> list[tuple[float, str, Conversation]]:
    """(time in s, thread, conversation to send) for every request, in time order."""
    requests: list[tuple[float, str, Conversation]] = []
    now = 0.0
    main = Conversation(_SYSTEM)
    i = 0
    forked = paused = False
    while len(main) < 50:
        if not paused and len(main) >= 40:
            now += PAUSE
            paused = True
        *points, main = _exchange(main, i, "main")
        for point in points:
            requests.append((now, "main", point))
            now += STEP
        i += 1
        if not forked and len(main) >= 30:
            forked = True
            # fork after the answer that ends at (or just before) turn 20
            at = next(k for k in range(20, 0, -1) if main[k - 1].role == "assistant"
                      and not isinstance(main[k - 1].blocks[0], ToolUseBlock))
            fork = main.fork(at)
            j = 100
            while len(fork) < at + 10:
                *points, fork = _exchange(fork, j, "fork")
                for point in points:
                    requests.append((now, "fork", point))
                    now += STEP
                j += 1
    return requests


# -- the simulated cache -------------------------------------------------------


@frozen
class Positions:
    """A request as the cache sees it."""

    keys: tuple[str, ...]
    tokens: tuple[int, ...]  # cumulative prefix tokens at each position
    markable: tuple[bool, ...]
    marks: tuple[int, ...]  # positions carrying cache_control


def _unmarked(block: Any) -> Any:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    return {k: v for k, v in block.items() if k != "cache_control"}


def positions(payload: Mapping[str, Any]) -> Positions:
    """The positions, keys and breakpoints of a request body."""
    keys: list[str] = []
    tokens: list[int] = []
    markable: list[bool] = []
    marks: list[int] = []
    digest = hashlib.sha256()
    total = 0

    def add(tag: str, block: Any, can_mark: bool) -> None:
        nonlocal total
        if isinstance(block, Mapping) and block.get("cache_control") is not None:
            marks.append(len(keys))
        clean = _unmarked(block)
        digest.update(tag.encode())
        digest.update(json.dumps(clean, sort_keys=True).encode())
        total += estimate_tokens(clean)
        keys.append(digest.copy().hexdigest())
        tokens.append(total)
        markable.append(can_mark)

    for tool in payload.get("tools") or ():
        add("tool", tool, True)
    system = payload.get("system")
    for block in [system] if isinstance(system, str) else system or ():
        add("system", block, True)
    for m, message in enumerate(payload["messages"]):
        content = message["content"]
        for b, block in enumerate([content] if isinstance(content, str) else content):
            clean = _unmarked(block)
            can = clean.get("type") in CACHEABLE_BLOCK_TYPES and bool(clean.get("text", "x"))
            add(f"{m}:{message['role']}:{b}", block, can)
    return Positions(tuple(keys), tuple(tokens), tuple(markable), tuple(marks))


class SimCache:
    """The cache model of the module docstring; one instance per strategy."""

    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self.entries: dict[str, float] = {}

    def send(self, request: Positions, marks: Sequence[int], now: float) -> TokenCounts:
        """Bill one request with breakpoints at ``marks``; update the cache."""
        self.entries = {k: t for k, t in self.entries.items() if t >= now}
        usage, self.entries = bill(request, marks, now, self.entries, self.min_tokens)
        return usage


def bill(
    request: Positions, marks: Sequence[int], now: float, entries: Mapping[str, float], min_tokens: int
) -> tuple[TokenCounts, dict[str, float]]:
    """The usage of one request under the cache model, and the entries after it."""
    live = dict(entries)
    eligible = [b for b in marks if request.tokens[b] >= min_tokens]
    hit = -1
    for b in eligible:
        for p in range(b, max(-1, b - LOOKBACK_BLOCKS), -1):
            if request.keys[p] in live:
                hit = max(hit, p)
                break
    read = request.tokens[hit] if hit >= 0 else 0
    furthest = max(eligible, default=-1)
    written = request.tokens[furthest] - read if furthest > hit else 0
    for b in eligible:
        live[request.keys[b]] = now + TTL
    if hit >= 0:
        live[request.keys[hit]] = now + TTL
    base = request.tokens[-1] - read - written
    return TokenCounts(base, 0, read, written, 0, 1), live


# -- strategies ----------------------------------------------------------------


def _payload(c: Conversation, strategy: str) -> dict[str, Any]:
    if strategy == "auto":
        return c.to_payload(MODEL, 1024, tools=TOOLS, cache="auto")
    payload = c.to_payload(MODEL, 1024, tools=TOOLS)
    if strategy == "system":
        payload["system"] = [{"type": "text", "text": _SYSTEM, "cache_control": {"type": "ephemeral"}}]
    return payload


def simulate(strategy: str, requests: Sequence[tuple[float, str, Conversation]], min_tokens: int) -> TokenCounts:
    """The summed usage of the script sent with one strategy."""
    cache = SimCache(min_tokens)
    total = TokenCounts()
    for now, _, conversation in requests:
        request = positions(_payload(conversation, strategy))
        total = total + cache.send(request, request.marks, now).priced(PRICES)
    return total


def optimum(requests: Sequence[tuple[float, str, Conversation]], min_tokens: int) -> tuple[TokenCounts, bool]:
    """The cheapest summed usage any breakpoint placement achieves under the
    cache model, knowing the whole script; and whether the 4-breakpoint
    limit ever bound."""
    reqs = [positions(_payload(c, "none")) for _, _, c in requests]
    times = [t for t, _, _ in requests]
    n = len(reqs)
    future_keys: list[frozenset[str]] = [frozenset()] * (n + 1)
    for i in range(n - 1, -1, -1):
        future_keys[i] = future_keys[i + 1] | frozenset(reqs[i].keys)

    def usable(r: Positions, p: int) -> int:
        while p >= 0 and not (r.markable[p] and r.tokens[p] >= min_tokens):
            p -= 1
        return p

    lcps: list[list[int]] = []
    for i, r in enumerate(reqs):
        points: set[int] = set()
        for j in range(i + 1, n):
            other = reqs[j]
            p = 0
            limit = min(len(r.keys), len(other.keys))
            while p < limit and r.keys[p] == other.keys[p]:
                p += 1
            q = usable(r, p - 1)
            if q >= 0:
                points.add(q)
        lcps.append(sorted(points))
    bound = [False]
    states = [0]
    containing: dict[str, set[int]] = {}
    length: dict[str, int] = {}
    for j, r in enumerate(reqs):
        for k, t in zip(r.keys, r.tokens, strict=True):
            containing.setdefault(k, set()).add(j)
            length[k] = t

    def prune(entries: Mapping[str, float], i: int, horizon: float) -> frozenset[tuple[str, float]]:
        """The entries that still matter after request ``i``: alive at the
        next request, read by some later request, and not dominated by a
        longer entry that lives as long and every such request also holds
        (two histories that differ only in dominated entries have the same
        future, so the DP state stays small)."""
        useful = {
            k: (t, frozenset(j for j in containing[k] if j > i))
            for k, t in entries.items()
            if t >= horizon and k in future_keys[i + 1]
        }
        return frozenset(
            (k, t)
            for k, (t, later) in useful.items()
            if not any(
                length[o] > length[k] and to >= t and later <= lo
                for o, (to, lo) in useful.items()
                if o != k
            )
        )

    @functools.cache
    def best(i: int, state: frozenset[tuple[str, float]]) -> tuple[float, TokenCounts]:
        if i == n:
            return 0.0, TokenCounts()
        now = times[i]
        r = reqs[i]
        live = {k: t for k, t in state if t >= now}
        held = [p for p, k in enumerate(r.keys) if k in live]
        options: list[tuple[float, TokenCounts]] = []
        for furthest in [None, *lcps[i]]:
            wanted: list[int] = []
            if held:
                wanted.append(held[-1])
            if furthest is not None:
                wanted.append(furthest)
                wanted.extend(p for p in reversed(lcps[i]) if p < furthest)
            wanted.extend(reversed(held[:-1]))
            marks = list(dict.fromkeys(wanted))
            if len(marks) > MAX_CACHE_BREAKPOINTS:
                bound[0] = True
                marks = marks[:MAX_CACHE_BREAKPOINTS]
            usage, after = bill(r, marks, now, live, min_tokens)
            usage = usage.priced(PRICES)
            nxt = prune(after, i, times[i + 1] if i + 1 < n else now)
            rest_cost, rest = best(i + 1, nxt)
            assert usage.cost is not None
            options.append((usage.cost + rest_cost, usage + rest))
        return min(options, key=lambda o: o[0])

    _, total = best(0, frozenset())
    states[0] = best.cache_info().currsize
    return total, bound[0]


def billed(usage: TokenCounts) -> float:
    """Input cost in base-price tokens."""
    assert usage.cost is not None
    return usage.cost * 1_000_000 / PRICES.input


def run(*, quick: bool = False) -> list[dict[str, Any]]:  # one workload, 2 s: quick changes nothing
    """The rows for ``python -m benchmarks``."""
    minimum = profile_for(MODEL).min_cache_tokens
    assert minimum is not None
    requests = script()
    results = {s: simulate(s, requests, minimum) for s in ("auto", "none", "system")}
    best, slot_limited = optimum(requests, minimum)
    results["optimum"] = best
    tokens = {s: billed(u) for s, u in results.items()}
    note = "; ".join(
        f"{s}: {tokens[s]:,.0f} billed tokens, ${results[s].cost:.3f}, hit {results[s].hit_ratio:.0%}"
        for s in ("auto", "optimum", "system", "none")
    )
    common = {"unit": "tok", "requests": len(requests), "slot_limited": slot_limited,
              "costs_usd": {s: results[s].cost for s in results}}
    return [
        row("cache auto / offline optimum (billed input)", Stat([tokens["auto"]]), Stat([tokens["optimum"]]),
            target=1.05, baseline_name="optimum", note=note, **common),
        row("cache auto / no caching (billed input)", Stat([tokens["auto"]]), Stat([tokens["none"]]),
            baseline_name="none", **common),
        row("cache auto / system prompt only (billed input)", Stat([tokens["auto"]]), Stat([tokens["system"]]),
            baseline_name="system", **common),
        row("no caching / offline optimum (billed input)", Stat([tokens["none"]]), Stat([tokens["optimum"]]),
            baseline_name="optimum", **common),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r['name']}: {r['ratio']:.3f}x  ({r['convo_s']:,.0f} vs {r['baseline_s']:,.0f})")
    print(run()[0]["note"])

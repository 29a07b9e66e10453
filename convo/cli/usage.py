"""``convo usage THREAD``: the thread's usage ledger, per request and in
total, with the cache hit ratio of each request and the cost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from convo._frozen import thaw
from convo.cli.app import App, main, pass_app
from convo.usage import Ledger

__all__ = ["CACHE_DEMO_THREAD", "ToyCache", "cached_exchange", "ledger_table", "print_cached_exchange", "usage"]


def _cost(value: float | None) -> str:
    return "?" if value is None else f"${value:.4f}"


def ledger_table(ledger: Ledger, title: str | None = None) -> Table:
    """The rich table of a ledger: one row per request (by turn index),
    then the total."""
    # Compact (box.SIMPLE, short headers): it must fit an 80-column terminal.
    table = Table(title=title, box=box.SIMPLE, pad_edge=False)
    for name in ("turn", "input", "read", "write5m", "write1h", "output", "hit", "cost"):
        table.add_column(name, justify="right")
    for row in ledger.requests:
        u = row.usage
        table.add_row(
            str(row.index),
            f"{u.input_tokens:,}",
            f"{u.cache_read_tokens:,}",
            f"{u.cache_write_5m_tokens:,}",
            f"{u.cache_write_1h_tokens:,}",
            f"{u.output_tokens:,}",
            f"{u.hit_ratio:.0%}",
            _cost(u.cost),
        )
    t = ledger.total
    table.add_section()
    table.add_row(
        "total",
        f"{t.input_tokens:,}",
        f"{t.cache_read_tokens:,}",
        f"{t.cache_write_5m_tokens:,}",
        f"{t.cache_write_1h_tokens:,}",
        f"{t.output_tokens:,}",
        f"{t.hit_ratio:.0%}",
        _cost(t.cost),
    )
    return table


def _row_json(usage: Any) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_5m_tokens": usage.cache_write_5m_tokens,
        "cache_write_1h_tokens": usage.cache_write_1h_tokens,
        "hit_ratio": round(usage.hit_ratio, 4),
        "cost_usd": usage.cost,
    }


@main.command()
@click.argument("thread")
@click.option("--since", metavar="THREAD", default=None,
              help="Leave out the requests this thread shares with THREAD (a fork's own cost).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per request, then the total.")
@pass_app
def usage(app: App, thread: str, since: str | None, as_json: bool) -> None:
    """Show what a thread's requests cost: tokens, cache hits, USD.

    A fork shares its prefix's requests with the thread it forked from;
    use --since to count only its own.
    """
    # One read of both threads (store.usage): a save meanwhile cannot skew it.
    ledger = app.store(read_only=True).usage(thread, since=since)
    if as_json:
        for row in ledger.requests:
            click.echo(json.dumps({"turn": row.index, "turn_id": row.turn_id,
                                   "response_id": row.response_id, "model": row.model,
                                   **_row_json(row.usage),
                                   "cache_miss_reason": thaw(row.cache_miss_reason)}))
        click.echo(json.dumps({"total": True, "requests": ledger.total.requests,
                               **_row_json(ledger.total)}))
        return
    if not ledger.requests:
        app.out.print(f"{thread}: no model responses with usage yet")
        return
    app.out.print(ledger_table(ledger, title=f"usage of {thread}"))
    models = sorted({row.model or "?" for row in ledger.requests})
    app.out.print(f"{ledger.total.requests} requests; model: {', '.join(models)}")
    for row in ledger.requests:
        reason = row.cache_miss_reason
        if isinstance(reason, Mapping):
            app.out.print(f"turn {row.index}: cache miss: {escape(str(reason.get('type', reason)))}")
    if ledger.unpriced_models:
        app.out.print(f"no price table for: {', '.join(ledger.unpriced_models)} (cost shown as ?)")


# -- the demo's cached exchange ---------------------------------------------------

CACHE_DEMO_THREAD = "demo-cache"
CACHE_DEMO_MODEL = "claude-opus-4-5"
CACHE_DEMO_SYSTEM = " ".join(
    f"Guideline {i}: answer questions about topic {i} briefly, and say which guideline you used."
    for i in range(260)
)


class ToyCache:
    """A scripted Claude's prompt cache, for the demo: exact-prefix hits on
    earlier breakpoints, writes up to the last breakpoint, the model's
    minimum honoured; no TTL (the demo takes a second).  The benchmark
    (``benchmarks/bench_cache.py``) has the full model."""

    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self.entries: set[str] = set()

    def usage(self, payload: Any) -> dict[str, Any]:
        """The ``usage`` a response to ``payload`` reports."""
        import hashlib

        from convo.cache import estimate_tokens

        digest = hashlib.sha256()
        keys: list[str] = []
        cumulative: list[int] = []
        marks: list[int] = []
        total = 0
        blocks: list[Any] = list(payload.get("tools") or ())
        system = payload.get("system")
        blocks += [system] if isinstance(system, str) else list(system or ())
        for message in payload.get("messages", ()):
            content = message["content"]
            blocks += [content] if isinstance(content, str) else list(content)
        for block in blocks:
            if isinstance(block, dict) and block.get("cache_control") is not None:
                marks.append(len(keys))
            clean = block if isinstance(block, str) else {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(json.dumps(clean, sort_keys=True).encode())
            total += estimate_tokens(clean)
            keys.append(digest.copy().hexdigest())
            cumulative.append(total)
        eligible = [m for m in marks if cumulative[m] >= self.min_tokens]
        hits = [p for p, k in enumerate(keys) if k in self.entries]
        read = cumulative[max(hits)] if hits else 0
        last = max(eligible, default=-1)
        written = max(0, cumulative[last] - read) if last >= 0 else 0
        self.entries.update(keys[m] for m in eligible)
        return {
            "input_tokens": total - read - written,
            "output_tokens": 12,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
            "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        }


def cached_exchange(store: Any) -> Any:
    """Run the demo's three-question exchange with ``cache="auto"`` on a
    scripted, caching Claude; returns the saved conversation."""
    from convo.chat import Chat
    from convo.models import profile_for
    from convo.transport import ScriptedTransport

    minimum = profile_for(CACHE_DEMO_MODEL).min_cache_tokens or 0
    cache = ToyCache(minimum)

    def reply(payload: Any) -> dict[str, Any]:
        number = len(payload["messages"])
        return {
            "id": f"msg_cache_{number:03d}", "type": "message", "role": "assistant",
            "model": payload["model"],
            "content": [{"type": "text", "text": f"(guideline {number}) Here is a brief answer."}],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": cache.usage(payload),
        }

    chat = Chat(store, ScriptedTransport(reply), CACHE_DEMO_THREAD, model=CACHE_DEMO_MODEL,
                system=CACHE_DEMO_SYSTEM, params={"cache": "auto"}, title="convo demo: caching")
    for question in ("What does guideline 3 say?", "And guideline 7?", "Which one is shortest?"):
        chat.send(question)
    return chat.conversation


def print_cached_exchange(app_out: Any, store: Any) -> None:
    """The demo's caching step: the exchange, then its ledger."""
    from convo.models import profile_for
    from convo.usage import TokenCounts

    conversation = cached_exchange(store)
    ledger = conversation.usage()
    app_out.print(ledger_table(ledger, title=f"[bold]thread {CACHE_DEMO_THREAD}[/] · cache=\"auto\" · ledger"))
    total = ledger.total
    uncached = TokenCounts(total.total_input_tokens, total.output_tokens, requests=total.requests)
    plain = uncached.priced(profile_for(CACHE_DEMO_MODEL).prices).cost or 0.0
    app_out.print(
        f"{total.requests} requests on {CACHE_DEMO_MODEL}: hit ratio {total.hit_ratio:.0%}, "
        f"{_cost(total.cost)} against {_cost(plain)} without caching"
    )

"""``convo usage THREAD``: the thread's usage ledger, per request and in
total, with the cache hit ratio of each request and the cost."""

from __future__ import annotations

import json
from typing import Any

import click
from rich import box
from rich.table import Table

from convo.cli.app import App, main, pass_app
from convo.usage import Ledger

__all__ = ["ledger_table", "usage"]


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
    store = app.store()
    conversation = store.load(thread)
    base = None if since is None else store.load(since)
    ledger = conversation.usage(since=base)
    if as_json:
        for row in ledger.requests:
            click.echo(json.dumps({"turn": row.index, "turn_id": row.turn_id,
                                   "response_id": row.response_id, "model": row.model,
                                   **_row_json(row.usage)}))
        click.echo(json.dumps({"total": True, "requests": ledger.total.requests,
                               **_row_json(ledger.total)}))
        return
    if not ledger.requests:
        app.out.print(f"{thread}: no model responses with usage yet")
        return
    app.out.print(ledger_table(ledger, title=f"usage of {thread}"))
    models = sorted({row.model or "?" for row in ledger.requests})
    app.out.print(f"{ledger.total.requests} requests; model: {', '.join(models)}")
    if ledger.unpriced_models:
        app.out.print(f"no price table for: {', '.join(ledger.unpriced_models)} (cost shown as ?)")

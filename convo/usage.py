"""The usage ledger: what each request of a conversation cost, and why.

Every model turn keeps its response's ``usage`` in ``meta`` (input, output,
cache read, cache write split by TTL in ``cache_creation``).  ``ledger``
reads them back per request, prices them from the model profiles' price
tables (``ModelProfile.prices``, overridable), and sums them.

Forks: a conversation's ledger covers every request that produced a turn
of its chain, so a fork *shares* its prefix's usage: the requests before
the fork point appear in the ledger of both.  To count a fork's own cost
only, pass ``since=`` the conversation it was forked from: requests whose
turn is in that conversation's chain are left out.  Summing the main
thread and each fork's ``since=main`` ledger counts every request once.

A continuation joined into one turn (after a prefill or ``pause_turn``)
keeps the earlier response's meta under ``meta["prefix_meta"]``; each
response counts as its own request.

This module reads turns only (a layer below ``conversation``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import frozen

from convo.models import Prices, profile_for
from convo.turns import Turn

__all__ = ["Ledger", "RequestUsage", "TokenCounts", "ledger", "usage_from_meta"]

_MILLION = 1_000_000


@frozen
class TokenCounts:
    """Token counts of one request or a sum of requests.

    Attributes:
        input_tokens: input billed at the base price (neither read from nor
            written to the cache).
        output_tokens: output tokens.
        cache_read_tokens: input read from the cache.
        cache_write_5m_tokens: input written to the cache with the 5m TTL.
        cache_write_1h_tokens: input written with the 1h TTL.
        requests: how many requests this counts.
        cost: USD, or ``None`` when a request's model has no price table.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    requests: int = 0
    cost: float | None = 0.0

    @property
    def cache_write_tokens(self) -> int:
        """Input written to the cache, both TTLs."""
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        """Every input token of the request(s): base + cache read + cache write."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def hit_ratio(self) -> float:
        """The share of input read from the cache (0.0 when there is none)."""
        total = self.total_input_tokens
        return self.cache_read_tokens / total if total else 0.0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        if not isinstance(other, TokenCounts):
            return NotImplemented
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        return TokenCounts(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.requests + other.requests,
            cost,
        )

    def priced(self, prices: Prices | None) -> TokenCounts:
        """This usage with ``cost`` computed from ``prices`` (``None``: unpriced)."""
        if prices is None:
            cost = None
        else:
            cost = (
                self.input_tokens * prices.input
                + self.output_tokens * prices.output
                + self.cache_read_tokens * prices.cache_read
                + self.cache_write_5m_tokens * prices.cache_write_5m
                + self.cache_write_1h_tokens * prices.cache_write_1h
            ) / _MILLION
        return TokenCounts(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.requests,
            cost,
        )


@frozen
class RequestUsage:
    """One request of the ledger.

    Attributes:
        index: the index of the turn the response became.
        turn_id: that turn's id.
        response_id: the response's ``id`` (``None`` if it had none).
        model: the model that answered.
        usage: its token counts and cost.
        cache_miss_reason: the response's ``diagnostics.cache_miss_reason``
            (sent when the request asked, see ``cache_diagnostics``), or ``None``.
    """

    index: int
    turn_id: str
    response_id: str | None
    model: str | None
    usage: TokenCounts
    cache_miss_reason: Any = None


@frozen
class Ledger:
    """Every request of a conversation, and their sum.

    Attributes:
        requests: one entry per model response, oldest first.
        total: the sum (``total.cost`` is ``None`` if any request is unpriced).
    """

    requests: tuple[RequestUsage, ...]
    total: TokenCounts

    @property
    def unpriced_models(self) -> tuple[str, ...]:
        """Models with no price table (their requests have ``cost=None``)."""
        return tuple(
            sorted({r.model or "?" for r in self.requests if r.usage.cost is None})
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_meta(meta: Mapping[str, Any]) -> TokenCounts | None:
    """The token counts of one response's ``usage`` (unpriced), or ``None``
    when ``meta`` holds no usage.

    Cache writes are split by TTL from ``cache_creation``; a response
    without it counts every ``cache_creation_input_tokens`` as 5m.
    """
    raw = meta.get("usage")
    if not isinstance(raw, Mapping):
        return None
    written = _int(raw.get("cache_creation_input_tokens"))
    split = raw.get("cache_creation")
    if isinstance(split, Mapping):
        five = _int(split.get("ephemeral_5m_input_tokens"))
        hour = _int(split.get("ephemeral_1h_input_tokens"))
        # Trust the split; keep any remainder the split does not explain as 5m.
        five += max(0, written - five - hour)
    else:
        five, hour = written, 0
    return TokenCounts(
        _int(raw.get("input_tokens")),
        _int(raw.get("output_tokens")),
        _int(raw.get("cache_read_input_tokens")),
        five,
        hour,
        1,
        0.0,
    )


PriceTable = Prices | Mapping[str, Prices] | Callable[[str | None], Prices | None]
"""Prices for the ledger: one table for every model, a model -> table
mapping (a key matches the model id or its family), or a function."""


def _price_for(model: str | None, prices: PriceTable | None) -> Prices | None:
    if isinstance(prices, Prices):
        return prices
    if callable(prices):
        return prices(model)
    profile = profile_for(model)
    if isinstance(prices, Mapping):
        if model is not None and model in prices:
            return prices[model]
        if profile.family in prices:
            return prices[profile.family]
    return profile.prices


def _responses(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The metas of every response joined into one turn, oldest first."""
    chain: list[Mapping[str, Any]] = []
    current: Any = meta
    depth = 0
    # Bounded: a hostile meta cannot make this loop forever.
    while isinstance(current, Mapping) and depth < 1000:
        chain.append(current)
        current = current.get("prefix_meta")
        depth += 1
    chain.reverse()
    return chain


def ledger(
    turns: Iterable[Turn],
    *,
    prices: PriceTable | None = None,
    skip: Iterable[str] = (),
) -> Ledger:
    """The ledger of ``turns`` (a conversation's chain, oldest first).

    Args:
        prices: override the profiles' price tables.
        skip: turn ids to leave out (a fork's shared prefix).
    """
    skipped = set(skip)
    rows: list[RequestUsage] = []
    total = TokenCounts()
    for index, turn in enumerate(turns):
        if turn.role != "assistant" or turn.id in skipped:
            continue
        for meta in _responses(turn.meta):
            usage = usage_from_meta(meta)
            if usage is None:
                continue
            model = meta.get("model")
            model = model if isinstance(model, str) else None
            usage = usage.priced(_price_for(model, prices))
            response_id = meta.get("id")
            diagnostics = meta.get("diagnostics")
            rows.append(
                RequestUsage(
                    index,
                    turn.id,
                    response_id if isinstance(response_id, str) else None,
                    model,
                    usage,
                    diagnostics.get("cache_miss_reason") if isinstance(diagnostics, Mapping) else None,
                )
            )
            total = total + usage
    return Ledger(tuple(rows), total)

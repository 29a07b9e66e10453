"""Trimming a conversation to a token budget.

``trim`` drops whole exchanges from the front (after an optional pinned
prefix) and, with ``strategy="summary"``, puts a synthetic summary in
their place.  Every cut point it considers leaves a history that the
append rules accept, so the result is as valid as the input; the kept
turns are re-parented (their ids change, their content does not).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Literal

import tiktoken

from convo.blocks import Block
from convo.conversation import Conversation
from convo.errors import BudgetError, RuleError
from convo.rules import NO_EMPTY_CONTENT, check_append, tool_result_ids
from convo.tokens._count import (
    DEFAULT_ENCODING,
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    _Context,
    _context,
    _conversation_tokens,
    _own_tokens,
    _prime,
    _system_cost,
    _turn_tokens,
)
from convo.turns import Content, Role, Turn

__all__ = ["SUMMARY_ACK", "SUMMARY_PREFIX", "Strategy", "Summarizer", "trim"]

Strategy = Literal["oldest", "summary"]
Summarizer = Callable[[Conversation], str | Sequence[Block]]
"""``summarize(removed) -> str | blocks`` for ``strategy="summary"``."""

SUMMARY_PREFIX = "Summary of the earlier conversation:\n\n"
"""Put before a summary given as a string."""
SUMMARY_ACK = "Understood. I will continue from that summary."
"""The synthetic assistant turn that answers a user summary turn."""

# The junction is checked with the append rules; content rules are skipped
# because every kept turn already passed them (or, for a model turn, was
# exempt) when it was first appended.
_SKIP = frozenset({NO_EMPTY_CONTENT.name})


def trim(
    conversation: Conversation,
    budget: int,
    strategy: Strategy = "oldest",
    *,
    keep_first: int = 0,
    summarize: Summarizer | None = None,
    model: str | None = None,
    encoding: str | tiktoken.Encoding = DEFAULT_ENCODING,
) -> Conversation:
    """A valid conversation whose estimated tokens are at most ``budget``.

    The system prompt and the first ``keep_first`` turns are kept; whole
    exchanges after them are removed, oldest first, as few as needed.  A
    cut never separates a ``tool_use`` from its ``tool_result``, never
    starts inside a tool-use loop (the kept assistant turns keep their
    thinking blocks, untouched), never leaves a first turn that is not a
    plain user turn, and keeps roles alternating where the pinned prefix
    meets the kept suffix.  The last turn is always kept.

    ``strategy="oldest"`` just drops.  ``strategy="summary"`` calls
    ``summarize(removed)``, where ``removed`` is the conversation up to the
    cut (``removed.turns[keep_first:]`` are the turns being dropped), and
    puts its answer in a synthetic user turn (a string gets
    ``SUMMARY_PREFIX``) followed by a synthetic assistant ``SUMMARY_ACK``.
    When the pinned prefix ends with a user turn, the summary is a single
    synthetic assistant turn instead, so roles still alternate.  If the
    summary is too long for its cut, more is removed (the first cut where
    that summary would fit, else the last) and ``summarize`` is called
    again; each call removes strictly more, so it ends.

    Trimming is lossy and rewrites history: on models with preserved
    thinking, blocks after an edited prefix fail their prefix check
    (API_RULES D8).  Use it where that is acceptable.

    Args:
        conversation: the conversation to trim (it is not changed).
        budget: the most estimated tokens (``convo.tokens.count``) allowed.
        strategy: ``"oldest"`` or ``"summary"``.
        keep_first: how many leading turns are pinned (more than the
            conversation has pins them all).
        summarize: the summarizer, required by ``"summary"``.
        model: the target model (its profile sets image costs).
        encoding: the tiktoken encoding of the estimate.

    Returns:
        ``conversation`` itself when it already fits; otherwise a new
        conversation with the same system prompt and policy.

    Raises:
        BudgetError: no valid cut fits; ``needed`` is the smallest count a
            valid cut reaches (``budget`` is echoed).
        ValueError: a bad strategy, ``keep_first`` or missing ``summarize``.
    """
    if strategy not in ("oldest", "summary"):
        raise ValueError(f"strategy must be 'oldest' or 'summary', got {strategy!r}")
    if strategy == "summary" and summarize is None:
        raise ValueError("strategy='summary' needs a summarize callable")
    if keep_first < 0:
        raise ValueError(f"keep_first must be 0 or more, got {keep_first}")
    # Pinning more turns than the conversation has pins all of them: the same
    # call works whatever the conversation's length (it fits, or BudgetError).
    keep_first = min(keep_first, len(conversation))
    ctx = _context(encoding, model)
    total = _conversation_tokens(conversation, ctx)
    if total <= budget:
        return conversation
    plan = _Plan(conversation, ctx, keep_first)
    if strategy == "oldest":
        return plan.oldest(budget)
    assert summarize is not None
    return plan.summary(budget, summarize)


class _Plan:
    """The turns, their cached counts and the valid cut points.

    A cut ``j`` keeps ``turns[j:]``; the result costs less the larger ``j``
    is, so the search starts at the first cut the budget allows and checks
    validity only from there.
    """

    def __init__(self, conversation: Conversation, ctx: _Context, keep: int) -> None:
        self.conversation = conversation
        self.ctx = ctx
        self.keep = keep
        self.turns = conversation.turns
        self.own = [_own_tokens(t, ctx) for t in self.turns]
        self.prefix = [0, *accumulate(self.own)]
        self.base = REQUEST_OVERHEAD + _system_cost(conversation.system_json, ctx)
        self.pinned = self.turns[keep - 1] if keep else None

    def cost(self, cut: int, extra: int = 0) -> int:
        """Tokens of the pinned prefix + ``extra`` + ``turns[cut:]``."""
        return self.base + self.prefix[self.keep] + extra + self.prefix[-1] - self.prefix[cut]

    def valid(self, cut: int, after: Turn | None) -> bool:
        """``turns[cut:]`` starts an exchange and may follow ``after``."""
        turn = self.turns[cut]
        # Start on an assistant turn only where it opens the reply to a plain
        # user turn: never inside a tool-use loop, whose first assistant turn
        # carries the thinking blocks.
        if turn.role == "assistant" and tool_result_ids(self.turns[cut - 1]):
            return False
        return _follows(after, turn)

    def first_cut(self, after: Turn | None, extra: int, budget: int, above: int) -> int | None:
        """The smallest valid cut after ``above`` whose result fits ``budget``."""
        # cost() falls as the cut grows: skip the cuts that cannot fit.
        start = bisect_left(self.prefix, self.cost(0, extra) - budget, lo=above + 1)
        for cut in range(start, len(self.turns)):
            if self.valid(cut, after):
                return cut
        return None

    def last_cut(self, after: Turn | None) -> int | None:
        """The largest valid cut (the cheapest valid result)."""
        for cut in range(len(self.turns) - 1, self.keep, -1):
            if self.valid(cut, after):
                return cut
        return None

    def fail(self, after: Turn | None, extra: int, budget: int) -> BudgetError:
        """The error when nothing fits: ``needed`` is what the cheapest valid
        result costs (the untrimmed conversation when no cut is valid)."""
        last = self.last_cut(after)
        if last is None:
            return _budget_error(budget, self.cost(self.keep), False)
        return _budget_error(budget, self.cost(last, extra), True)

    def oldest(self, budget: int) -> Conversation:
        cut = self.first_cut(self.pinned, 0, budget, self.keep)
        if cut is None:
            raise self.fail(self.pinned, 0, budget)
        return self.build(cut, ())

    def summary(self, budget: int, summarize: Summarizer) -> Conversation:
        pinned = self.pinned
        roles: tuple[Role, ...] = (
            ("assistant",) if pinned is not None and pinned.role == "user" else ("user", "assistant")
        )
        probe = _synthetic(roles, "-", 0)
        if not _chain_follows(pinned, probe):  # the pinned prefix ends with an open tool call
            raise _budget_error(budget, self.cost(self.keep), False)
        after = probe[-1]
        # The summary's size is unknown until it is written: start from the
        # first cut that leaves room for the smallest possible one (a message
        # of one token), so no more is removed than a short summary needs.
        extra = MESSAGE_OVERHEAD + 1 + sum(_turn_tokens(t, self.ctx) for t in probe[1:])
        cut = self.first_cut(after, extra, budget, self.keep)
        while cut is not None:
            summary = summarize(self.conversation.fork(cut))
            turns = _synthetic(roles, summary, cut - self.keep)
            prev = pinned
            for index, turn in enumerate(turns, self.keep):
                check_append(prev, turn, index)  # a bad summary (say, a tool_result) raises
                prev = turn
            extra = sum(_turn_tokens(t, self.ctx) for t in turns)
            if self.cost(cut, extra) <= budget:
                return self.build(cut, turns)
            # Too long for this cut: remove more (the first cut where this
            # summary would fit, else the last cut) and ask for a new one.
            later = self.first_cut(after, extra, budget, cut)
            if later is None:
                last = self.last_cut(after)
                later = last if last is not None and last > cut else None
            cut = later
        raise self.fail(after, extra, budget)

    def build(self, cut: int, synthetic: Sequence[Turn]) -> Conversation:
        """Pinned prefix (shared, not copied) + synthetic turns + re-parented
        ``turns[cut:]``, each appended through the append rules."""
        result = self.conversation.fork(self.keep).with_policy("strict")
        for turn in synthetic:
            result = _append(result, turn)
        for turn, own in zip(self.turns[cut:], self.own[cut:], strict=True):
            result = _append(result, turn)
            # Same content, same cost: counting the result encodes nothing
            # but the synthetic turns.
            new = result.head
            if new is not None and new.content == turn.content:
                _prime(new, own, self.ctx)
        return result.with_policy(self.conversation.policy)


def _append(conversation: Conversation, turn: Turn) -> Conversation:
    content: Content = turn.content if turn.shorthand else turn.blocks
    return conversation.append(turn.role, content, origin=turn.origin, meta=turn.meta)


def _synthetic(roles: tuple[Role, ...], summary: str | Sequence[Block], removed: int) -> tuple[Turn, ...]:
    """The summary turns, unparented: the summary in the first, and an
    acknowledgement when the summary is a user turn."""
    content: Content
    if isinstance(summary, str):
        if not summary.strip():
            raise ValueError("summarize returned an empty summary")
        content = SUMMARY_PREFIX + summary
    else:
        content = tuple(summary)
    meta = {"trim": {"summary": True, "removed_turns": removed}}
    first = Turn.create(roles[0], content, origin="synthetic", meta=meta)
    if len(roles) == 1:
        return (first,)
    return (first, Turn.create("assistant", SUMMARY_ACK, origin="synthetic", meta=meta))


def _chain_follows(prev: Turn | None, turns: Sequence[Turn]) -> bool:
    """True when ``turns`` may be appended, in order, right after ``prev``."""
    for turn in turns:
        if not _follows(prev, turn):
            return False
        prev = turn
    return True


def _follows(prev: Turn | None, turn: Turn) -> bool:
    """True when ``turn`` may be appended right after ``prev``."""
    try:
        check_append(prev, turn, 0, skip=_SKIP)
    except RuleError:
        return False
    return True


def _budget_error(budget: int, needed: int, any_cut: bool) -> BudgetError:
    why = (
        f"the shortest valid trim still needs about {needed} tokens"
        if any_cut
        else "no cut point keeps the history valid"
    )
    return BudgetError(
        f"cannot trim the conversation to {budget} tokens: {why}", budget=budget, needed=needed
    )

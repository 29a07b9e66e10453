"""Trimming a conversation to a token budget.

``trim`` drops whole exchanges from the front (after an optional pinned
prefix) and, with ``strategy="summary"``, puts a synthetic summary in
their place.  Every cut point it considers leaves a history that the
append rules accept, so the result is as valid as the input; the kept
turns are re-parented (their ids change, their content does not).
"""

from __future__ import annotations

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
    summary is too long for the cut, a later cut is tried and ``summarize``
    is called again.

    Trimming is lossy and rewrites history: on models with preserved
    thinking, blocks after an edited prefix fail their prefix check
    (API_RULES D8).  Use it where that is acceptable.

    Args:
        conversation: the conversation to trim (it is not changed).
        budget: the most estimated tokens (``convo.tokens.count``) allowed.
        strategy: ``"oldest"`` or ``"summary"``.
        keep_first: how many leading turns are pinned.
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
    if not 0 <= keep_first <= len(conversation):
        raise ValueError(
            f"keep_first must be between 0 and {len(conversation)}, got {keep_first}"
        )
    ctx = _context(encoding, model)
    total = _conversation_tokens(conversation, ctx)
    if total <= budget:
        return conversation
    plan = _Plan(conversation, ctx, keep_first)
    if strategy == "oldest":
        return plan.oldest(budget, total)
    assert summarize is not None
    return plan.summary(budget, total, summarize)


class _Plan:
    """The turns, their cached counts and the valid cut points."""

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
        """Tokens of pinned + ``extra`` + turns[cut:]."""
        n = len(self.turns)
        return self.base + self.prefix[self.keep] + extra + self.prefix[n] - self.prefix[cut]

    def cuts(self, after: Turn | None) -> list[int]:
        """Cut points ``j`` (the suffix is ``turns[j:]``, never empty) at an
        exchange boundary whose first turn may follow ``after``."""
        turns = self.turns
        found = []
        for j in range(self.keep + 1, len(turns)):
            turn = turns[j]
            if turn.role == "assistant":
                # Start a suffix on an assistant turn only where it opens a
                # reply to a plain user turn: never inside a tool-use loop.
                prev = turns[j - 1]
                if tool_result_ids(prev):
                    continue
            if _follows(after, turn):
                found.append(j)
        return found

    def oldest(self, budget: int, total: int) -> Conversation:
        cuts = self.cuts(self.pinned)
        for j in cuts:
            if self.cost(j) <= budget:
                return self.build(j, ())
        needed = self.cost(cuts[-1]) if cuts else total
        raise _budget_error(budget, needed, bool(cuts))

    def summary(self, budget: int, total: int, summarize: Summarizer) -> Conversation:
        pinned = self.pinned
        roles: tuple[Role, ...] = (
            ("assistant",) if pinned is not None and pinned.role == "user" else ("user", "assistant")
        )
        probe = self.synthetic(roles, "-")
        if probe is None:
            raise _budget_error(budget, total, False)
        cuts = self.cuts(probe[-1])
        estimate = sum(self.ctx_tokens(t) for t in probe)
        start = 0
        while True:
            j = next((c for c in cuts[start:] if self.cost(c, estimate) <= budget), None)
            if j is None:
                needed = self.cost(cuts[-1], estimate) if cuts else total
                raise _budget_error(budget, needed, bool(cuts))
            summary = summarize(self.conversation.fork(j))
            turns = self.synthetic(roles, summary, removed=j - self.keep)
            assert turns is not None
            extra = sum(self.ctx_tokens(t) for t in turns)
            if self.cost(j, extra) <= budget:
                return self.build(j, turns)
            # Too long for this cut: a later cut (more removed) with a new summary.
            estimate = max(estimate, extra)
            start = cuts.index(j) + 1

    def ctx_tokens(self, turn: Turn) -> int:
        return _turn_tokens(turn, self.ctx)

    def synthetic(
        self, roles: tuple[Role, ...], summary: str | Sequence[Block], *, removed: int = 0
    ) -> tuple[Turn, ...] | None:
        """The summary turns (unparented).  A probe (``removed=0``) returns
        ``None`` when they cannot follow the pinned prefix (it ends with an
        unanswered tool call); a real summary that cannot raises."""
        content: Content
        if isinstance(summary, str):
            if not summary.strip():
                raise ValueError("summarize returned an empty summary")
            content = SUMMARY_PREFIX + summary
        else:
            content = tuple(summary)
        meta = {"trim": {"summary": True, "removed_turns": removed}}
        turns: tuple[Turn, ...]
        if roles == ("assistant",):
            turns = (Turn.create("assistant", content, origin="synthetic", meta=meta),)
        else:
            turns = (
                Turn.create("user", content, origin="synthetic", meta=meta),
                Turn.create("assistant", SUMMARY_ACK, origin="synthetic", meta=meta),
            )
        prev = self.pinned
        for turn in turns:
            if removed:
                check_append(prev, turn, 0)  # a bad summary (say, a tool_result) raises
            elif not _follows(prev, turn):
                return None
            prev = turn
        return turns

    def build(self, cut: int, synthetic: Sequence[Turn]) -> Conversation:
        """Pinned prefix (shared, not copied) + synthetic turns + re-parented
        ``turns[cut:]``, each appended through the append rules."""
        original = self.conversation
        result = original.fork(self.keep).with_policy("strict")
        kept = self.turns[cut:]
        for turn in (*synthetic, *kept):
            content: Content = turn.content if turn.shorthand else turn.blocks
            result = result.append(turn.role, content, origin=turn.origin, meta=turn.meta)
        # The kept turns cost what they cost before: reuse their counts so
        # counting the result encodes nothing but the synthetic turns.
        rebuilt = result.turns[len(result) - len(kept) :]
        for old, new, own in zip(kept, rebuilt, self.own[cut:], strict=True):
            if new.content == old.content:
                _prime(new, own, self.ctx)
        return result.with_policy(original.policy)


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

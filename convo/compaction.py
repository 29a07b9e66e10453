"""Compaction as a commit: a summary that replaces a prefix, history kept.

``compact`` builds a *new* chain: its first turn carries the summary (and
the first kept turn's content) and links, in ``meta["compaction"]``, to the
turn that ends the summarised prefix; the kept tail follows, turn for turn.
Nothing is rewritten: the original chain, whose head id the link names,
stays whole (keep it in a thread, or save the compacted chain as a new
thread), so the full history stays reachable.

The kept tail never splits a tool pair: it starts at a user turn that
holds no tool results, moving the cut earlier when needed.

Server compaction (``compaction`` blocks in assistant turns) needs nothing
here: the blocks are kept and sent back exactly as received, including
``encrypted_content`` and any field convo does not model.

This module sits above ``conversation`` (beside ``tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from convo.blocks import Block, TextBlock, ToolResultBlock
from convo.conversation import Conversation
from convo.turns import Turn

__all__ = [
    "COMPACTION_KEY",
    "acompact_thread",
    "compact",
    "compact_thread",
    "compaction_link",
    "tail_start",
]

COMPACTION_KEY = "compaction"
"""The ``meta`` key of a compacted chain's first turn."""


def _plain_user(turn: Turn) -> bool:
    return turn.role == "user" and not any(isinstance(b, ToolResultBlock) for b in turn.blocks)


def tail_start(conversation: Conversation, keep_tail: int) -> int:
    """The index the kept tail starts at: ``len - keep_tail``, moved earlier
    until it is a user turn without tool results (never splitting a tool
    call from its result); ``0`` when there is no such turn."""
    if keep_tail < 0:
        raise ValueError(f"keep_tail must be >= 0, got {keep_tail}")
    turns = conversation.turns
    cut = max(0, len(turns) - keep_tail)
    while 0 < cut < len(turns) and not _plain_user(turns[cut]):
        cut -= 1
    return cut


def compact(
    conversation: Conversation,
    summary: str | Sequence[Block],
    *,
    keep_tail: int = 0,
    meta: Mapping[str, Any] | None = None,
) -> Conversation:
    """A new chain: ``summary`` standing for the prefix, then the kept tail.

    Args:
        summary: the summary text (or blocks), sent as a user turn's first
            blocks.
        keep_tail: how many of the last turns to keep (more when the cut
            would split a tool pair; see ``tail_start``).
        meta: extra metadata for the first turn.

    Returns:
        A conversation under the same system prompt and policy, whose first
        turn's ``meta["compaction"]`` holds ``summarises`` (the id of the
        last summarised turn: it covers the whole summarised prefix),
        ``summarised_turns`` and ``compacted_head`` (the original head).

    Raises:
        ValueError: nothing would be summarised.
        RuleError: the summary breaks an append-time rule (an empty text).
    """
    cut = tail_start(conversation, keep_tail)
    if cut == 0:
        raise ValueError("nothing to compact: the kept tail would be the whole conversation")
    turns = conversation.turns
    head = [TextBlock(summary)] if isinstance(summary, str) else list(summary)
    link = {
        "summarises": turns[cut - 1].id,
        "summarised_turns": cut,
        "compacted_head": conversation.head_id,
    }
    first_meta: dict[str, Any] = {COMPACTION_KEY: link, **(meta or {})}
    out = Conversation(conversation.system, policy=conversation.policy)
    tail = turns[cut:]
    if not tail:
        return out.append("user", head, origin="synthetic", meta=first_meta)
    first = tail[0]
    out = out.append(
        "user", [*head, *first.blocks], origin="synthetic", meta={**first.meta, **first_meta}
    )
    for turn in tail[1:]:
        content = turn.content if turn.shorthand else turn.blocks
        out = out.append(turn.role, content, origin=turn.origin, meta=turn.meta)
    return out


def compaction_link(conversation: Conversation) -> Mapping[str, Any] | None:
    """The ``meta["compaction"]`` link of a compacted chain's first turn,
    or ``None`` if the conversation is not a compaction."""
    if not len(conversation):
        return None
    link = conversation[0].meta.get(COMPACTION_KEY)
    return link if isinstance(link, Mapping) else None


def _archive_id(thread: str, conversation: Conversation, archive: str | None) -> str:
    if archive is not None:
        return archive
    head = conversation.head_id or ""
    return f"{thread}.before-compaction.{head.removeprefix('sha256:')[:12]}"


def compact_thread(
    store: Any,
    thread: str,
    summary: str | Sequence[Block],
    *,
    keep_tail: int = 0,
    conversation: Conversation | None = None,
    archive: str | None = None,
) -> Conversation:
    """Compact a stored thread as a commit: keep the full history, then swap.

    The original chain is saved first as the thread ``archive`` (default
    ``THREAD.before-compaction.<head>``), so every original turn stays
    reachable (and out of ``gc``'s reach); then the thread's head moves to
    the compacted chain with a compare-and-set on the head it was compacted
    from.  If anything was appended meanwhile the swap fails with
    ``ConflictError`` and the thread keeps what was appended: nothing is lost.

    Args:
        store: a ``convo.store.Store``.
        conversation: the view that was compacted (default: the thread as
            loaded now); the swap succeeds only if it is still the head.
        archive: the thread id that keeps the original chain.

    Returns:
        The compacted conversation, now the thread's head.

    Raises:
        ConflictError: the thread moved since ``conversation`` was read.
    """
    original = store.load(thread) if conversation is None else conversation
    compacted = compact(original, summary, keep_tail=keep_tail)
    store.save(_archive_id(thread, original, archive), original)
    store.save(thread, compacted, expected_head=original.head_id)
    return compacted


async def acompact_thread(
    store: Any,
    thread: str,
    summary: str | Sequence[Block],
    *,
    keep_tail: int = 0,
    conversation: Conversation | None = None,
    archive: str | None = None,
) -> Conversation:
    """``compact_thread`` on a ``convo.store.AsyncStore``."""
    original = await store.load(thread) if conversation is None else conversation
    compacted = compact(original, summary, keep_tail=keep_tail)
    await store.save(_archive_id(thread, original, archive), original)
    await store.save(thread, compacted, expected_head=original.head_id)
    return compacted

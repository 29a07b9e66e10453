"""Prefix fingerprints: the exact prefix a model turn was produced under.

With preserved thinking (API_RULES D8) the API checks every thinking block
it is sent against its prefix: the top-level ``system``, the ``tools`` and
every earlier message must be unchanged since the block was produced, or
the request gets a 400 (or the block is silently dropped).  A turn id
already covers every earlier message, so the fingerprint a model turn
keeps in ``meta["prefix_fingerprint"]`` is small:

* ``system``, ``tools``, ``thinking``: hashes of the request's top-level
  system prompt, tool definitions and thinking configuration;
* ``parent``: the id of the turn before it (which covers every earlier
  message).

Hashes use the canonical JSON of ``convo._canonical`` with every
``cache_control`` removed and a string system prompt read as one text
block: moving a cache breakpoint, or sending the same prompt in the other
form, is not a change of content.  The thinking configuration is part of
the fingerprint as issue 15 asks; changing it between turns is reported as
well, which errs on the side of a warning the API might not give.

This module sits between ``turns``/``rules`` and ``conversation``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from convo._canonical import canonical_json, hashed_form
from convo.blocks import RedactedThinkingBlock, ThinkingBlock
from convo.codec import block_to_json
from convo.errors import RuleError
from convo.rules import THINKING_PREFIX_UNCHANGED
from convo.turns import Turn

__all__ = [
    "FINGERPRINT_KEY",
    "THINKING_PREFIX_UNCHANGED",
    "fingerprint",
    "has_thinking",
    "stale_thinking_errors",
]

FINGERPRINT_KEY = "prefix_fingerprint"
"""The ``meta`` key of a model turn's prefix fingerprint."""


_PARTS = ("system", "tools", "thinking", "parent")


def _without_markers(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, (list, tuple)):
        return [_without_markers(v) for v in value]
    return value


def _digest(value: Any) -> str | None:
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(canonical_json(hashed_form(_without_markers(value)))).hexdigest()


def _system_form(system: Any) -> Any:
    if isinstance(system, str):
        return [{"type": "text", "text": system}] if system else None
    if isinstance(system, (list, tuple)):
        return [_block_json(b) for b in system] or None
    return system


def _block_json(block: Any) -> Any:
    return block if isinstance(block, Mapping) else block_to_json(block)


def fingerprint(
    *, system: Any, tools: Any, thinking: Any, parent: str | None
) -> dict[str, str | None]:
    """The fingerprint of a prefix (see the module docstring)."""
    return {
        "system": _digest(_system_form(system)),
        "tools": _digest(list(tools) if tools else None),
        "thinking": _digest(thinking),
        "parent": parent,
    }


def has_thinking(turn: Turn) -> bool:
    """Whether ``turn`` holds a thinking or redacted thinking block."""
    return turn.role == "assistant" and any(
        isinstance(b, (ThinkingBlock, RedactedThinkingBlock)) for b in turn.blocks
    )


def stale_thinking_errors(
    turns: Sequence[Turn], *, system: Any, tools: Any, thinking: Any
) -> list[RuleError]:
    """One ``thinking-prefix-unchanged`` error per turn whose thinking was
    produced under another prefix than the one it would be sent under.

    Turns without a fingerprint (appended without their request) are not
    judged: convo does not know their prefix.
    """
    current = fingerprint(system=system, tools=tools, thinking=thinking, parent=None)
    errors: list[RuleError] = []
    for index, turn in enumerate(turns):
        if turn.origin != "model" or not has_thinking(turn):
            continue
        recorded = turn.meta.get(FINGERPRINT_KEY)
        if not isinstance(recorded, Mapping):
            continue
        now = dict(current, parent=turn.parent_id)
        changed = [part for part in _PARTS if recorded.get(part) != now[part]]
        if changed:
            what = ", ".join("earlier messages" if p == "parent" else p for p in changed)
            errors.append(
                THINKING_PREFIX_UNCHANGED.error(
                    f"the thinking in this turn was produced under another prefix ({what} "
                    "changed since); the API rejects or drops it: use "
                    "strip_stale_thinking() for a sendable fork",
                    index,
                )
            )
    return errors

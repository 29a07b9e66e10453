"""Rows <-> values: turns, thread rows, system prompts, metadata.

Named constructors in one place, so the SQL in ``_ops`` never spells out a
conversion and domain classes never mirror columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from convo._canonical import legacy_turn_id
from convo._frozen import freeze
from convo.blocks import TextBlock
from convo.codec import content_from_json, dumps
from convo.conversation import Conversation, System
from convo.errors import CodecError
from convo.store._info import ThreadInfo
from convo.turns import Turn

__all__ = [
    "ThreadRow",
    "frozen_meta_from_text",
    "info_from_row",
    "key_text",
    "length_from_depth",
    "links_newest_first",
    "meta_from_text",
    "meta_to_text",
    "storage_key",
    "system_from_text",
    "system_to_text",
    "turn_params",
]


class ThreadRow(NamedTuple):
    """A ``threads`` row with its head's id and depth (joined: ``None`` when
    the head row is missing or is not the row ``head_key`` names) and key
    (see ``_sql.THREAD_COLUMNS``)."""

    id: str
    head: int | None
    version: int
    system: str | None
    title: str | None
    meta: str
    created_at: Any
    updated_at: Any
    forked_from: str | None
    forked_at: int | None
    head_id: str | None
    depth: int | None
    head_key: bytes | None


def info_from_row(row: ThreadRow, *, ts: Any) -> ThreadInfo:
    """A ``ThreadInfo`` from a thread row (``ts`` reads stored timestamps)."""
    return ThreadInfo(
        id=row.id,
        head_id=row.head_id,
        length=length_from_depth(row.depth),
        title=row.title,
        meta=meta_from_text(row.meta),
        version=row.version,
        created_at=ts(row.created_at),
        updated_at=ts(row.updated_at),
        forked_from=row.forked_from,
        forked_at=row.forked_at,
    )


def length_from_depth(depth: int | None) -> int:
    """A thread's length from its head's depth (``None``: an empty thread)."""
    return 0 if depth is None else depth + 1


_last_system: list[tuple[Any, str | None]] = [(None, None)]


def system_to_text(conversation: Conversation) -> str | None:
    """The system prompt as the ``threads.system`` column stores it.

    Conversations grown from one another share their system prompt object,
    so the last one serialised is remembered (by identity; the pair is read
    and replaced as one tuple, so threads cannot mix two pairs up).
    """
    value = conversation.system_json
    if value is None:
        return None
    seen, text = _last_system[0]
    if seen is value:
        return text
    text = dumps(value)
    _last_system[0] = (value, text)
    return text


def system_from_text(text: str | None) -> System:
    """The system prompt stored as ``text``: ``None``, a str, or text blocks."""
    if text is None:
        return None
    value = json.loads(text)
    if value is None or isinstance(value, str):
        return value
    blocks = content_from_json(value, "$.system")
    text_blocks = tuple(block for block in blocks if isinstance(block, TextBlock))
    if len(text_blocks) != len(blocks):
        raise CodecError("a stored system prompt holds a block that is not text", path="$.system")
    return text_blocks


def meta_to_text(meta: Mapping[str, Any]) -> str:
    """Thread metadata as stored JSON text."""
    if not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a mapping, got {type(meta).__name__}")
    return dumps(meta)


def meta_from_text(text: str | None) -> Any:
    """Stored thread metadata (a JSON object) as a plain dict."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CodecError(f"stored thread metadata is not valid JSON: {exc}") from None


_last_meta: list[tuple[str | None, Any]] = [(None, None)]


def frozen_meta_from_text(text: str) -> Any:
    """``meta_from_text`` frozen, remembering the last text (a thread's
    metadata rarely changes between two saves; the pair is read and
    replaced as one tuple, so threads cannot mix two pairs up)."""
    seen, value = _last_meta[0]
    if seen is not None and seen == text:
        return value
    value = freeze(meta_from_text(text))
    _last_meta[0] = (text, value)
    return value


def storage_key(parent_key: bytes | None, turn: Turn) -> bytes:
    """The ``turns.key`` of ``turn`` stored under the row ``parent_key``.

    ``sha256(K + "\n" + id + "\n" + origin + "\n" + M)`` (the raw 32-byte
    digest) where ``K`` is the parent row's key (empty for a first turn),
    ``id`` the turn's id (its content and its ancestors' content) and ``M``
    its stored metadata text.  So a key covers the annotations of the turn
    and of every ancestor, which ``Turn.id`` does not: ``verify`` re-checks
    both.

    A turn id drops null-valued keys (``convo._canonical``), so two turns
    whose content differs only by such a null share an id.  Their bytes must
    not share a row (each thread gets back exactly what it saved), so when
    the stored content holds a null the id does not cover, the key also
    covers the content text: ``... + "\n" + C``.  Every other key, and so
    every row written before the null rule, is unchanged.
    """
    # One buffer, one digest call: the same bytes as feeding the parts one
    # by one (a key is computed for every turn saved).
    digest = hashlib.sha256(
        b"%b\n%b\n%b\n%b"
        % (
            b"" if parent_key is None else parent_key,
            turn.id.encode("ascii"),
            turn.origin.encode("ascii"),
            turn.meta_text.encode("utf-8"),
        )
    )
    content = turn.content_text
    if "null" in content and turn.id != legacy_turn_id(turn.parent_id, turn.record()):
        digest.update(b"\n")
        digest.update(content.encode("utf-8"))
    return digest.digest()


def key_text(key: bytes | None) -> str:
    """A row key as text, for messages: ``"key:<hex>"``."""
    return "key:" + (key.hex() if key is not None else "")


def turn_params(turn: Turn, *, key: bytes, depth: int, created_at: Any) -> dict[str, Any]:
    """The ``turns`` row of ``turn`` at ``depth`` (0 for a first turn); the
    ``parent`` rid is added when the parent's row is known."""
    return {
        "key": key,
        "id": turn.id,
        "parent": None,
        "depth": depth,
        "role": turn.role,
        "origin": turn.origin,
        "content": turn.content_text,
        "meta": turn.meta_text,
        "created_at": created_at,
    }


def links_newest_first(conversation: Conversation) -> Iterator[tuple[Turn, int]]:
    """``(turn, length up to and including it)``, from the head backwards.

    Lazy, so that a save stops after the turns it needs: O(new turns), not
    O(length).
    """
    return zip(conversation.reversed_turns(), range(len(conversation), 0, -1), strict=False)

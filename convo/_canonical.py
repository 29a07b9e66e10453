"""The canonical form of a turn and its id: a compatibility contract.

A turn's id is ``"sha256:" + hex(sha256(P + b"\\n" + C))`` where

* ``P`` is the parent turn's id as ASCII, or empty for a first turn;
* ``C`` is the canonical JSON of the *hashed form* of the turn record
  ``{"content": ..., "role": ...}``: ``content`` exactly as sent to the API
  (a string for the shorthand form, else the array of block objects), with
  every object key whose value is ``null`` dropped, at every depth, except
  inside opaque user JSON (the ``input`` of a ``tool_use``,
  ``server_tool_use`` or ``mcp_tool_use`` block, whose nulls are the
  caller's data); serialised by Python's ``json.dumps`` with
  ``sort_keys=True``, ``separators=(",", ":")``, ``ensure_ascii=False``,
  ``allow_nan=False``, encoded as UTF-8.

``role`` is ``"user"``, ``"assistant"`` or ``"system"`` (a system message
inside ``messages``).

Why nulls are dropped: the same API message reaches a program in several
spellings that differ only by null-valued keys.  The raw JSON and the
official SDK's ``Message.to_dict()`` carry the keys the API sent;
``model_dump()`` adds ``"caller": null``, ``"citations": null`` and the like
for every optional field left unset; ``model_dump(exclude_none=True)``
drops them all (but keeps nulls inside dict-typed fields such as a tool's
``input``), and ``model_dump(mode="json")`` equals ``model_dump()`` for
messages.  No SDK block field has a non-null default, so null-dropping is
the one rule that makes all five spellings of one message **the same turn
id**.  The bytes are still kept as received: ``Turn.content`` (and so the
payload) is what was given, explicit nulls included; only the hash ignores
them.

The id addresses what is sent, nothing else: a turn's ``origin`` and
``meta`` are annotations carried beside it (kept, saved, queryable) but not
hashed, so ``Conversation.from_payload(c.to_payload(...)) == c`` and equal
content under equal parents gives equal ids.

Consequences, all relied on elsewhere: a shared prefix is stored once; an
id covers every ancestor (a thread verifies end to end); key order inside
objects does not change an id, nor does a null-valued key outside opaque
input; any other value does.  Two turns whose contents differ only by such
a null are the same turn: a store keeps the bytes it saved first.

Encoded once where the forms agree, twice where they cannot: the store
keeps ``Turn.content_text``, the content as received (the API's key order,
explicit nulls), because that is what a loaded turn sends back byte for
byte; the id hashes ``C`` (sorted keys, nulls dropped).  For a string
turn the two are the same bytes: ``C`` is ``{"content":`` + the stored
text + ``,"role":"<role>"}``, so ``shorthand_turn_id`` hashes the stored
text itself and a string turn is encoded once.  A block array is encoded
twice: every block object starts with ``"type"``, which sorts after most of
its keys (``"text"``, ``"id"``, ``"input"``...), so the canonical bytes are
never the stored ones.  Storing the canonical bytes instead would change
what a loaded turn sends (key order, the nulls the API sent), and hashing
the stored bytes instead would change every id (stored ids and ``verify``
on existing databases depend on this form).  Measured (best of 7, on a
loaded 2-core machine): a 300-character string turn's id took 17 us
through ``turn_id`` and takes 3.7 us from its stored text; the second
encoding of a 900-character text block costs 7 us, against ~200 us for
the whole append and save (``benchmarks/bench_store.py``).  The stdlib
encoder stays here: its spelling of floats and integers is part of ``C``.

Compatibility: the null rule came with the open-world codec.  The id of
every history without null-valued keys (outside tool inputs) is unchanged,
so threads stored before verify as they did; a turn stored before the rule
whose content held such a null keeps the id it was given
(``legacy_turn_id``: the same hash without dropping nulls), and
``Turn.verify`` accepts it.  Changing anything else here
changes ids, so it is versioned by the prefix: a future form gets a new
tag, never a silent change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "HASH_PREFIX",
    "OPAQUE_INPUT_TYPES",
    "canonical_json",
    "hashed_form",
    "legacy_turn_id",
    "shorthand_turn_id",
    "turn_id",
]

HASH_PREFIX = "sha256:"

OPAQUE_INPUT_TYPES = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
"""Block types whose ``input`` is the caller's JSON, hashed exactly (nulls kept)."""

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return _dumps(value).encode("utf-8")


def _has_null(value: Any) -> bool:
    # dict, not Mapping: every JSON object here is a dict (FrozenDict is one),
    # and the ABC check costs more than the walk.
    if isinstance(value, dict):
        if value.get("type") in OPAQUE_INPUT_TYPES:
            return any(v is None or _has_null(v) for k, v in value.items() if k != "input")
        return any(v is None or _has_null(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_null(v) for v in value)
    return False


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        opaque = value.get("type") in OPAQUE_INPUT_TYPES
        return {
            k: v if opaque and k == "input" else _drop_nulls(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, (list, tuple)):
        return [_drop_nulls(v) for v in value]
    return value


def hashed_form(record: Any) -> Any:
    """``record`` with null-valued keys dropped (outside opaque tool input).

    The record itself is returned when it holds no such key (the common
    case costs one walk and no copy).
    """
    return _drop_nulls(record) if _has_null(record) else record


def turn_id(parent_id: str | None, record: Any) -> str:
    """The id of a turn with this record under this parent."""
    return _digest(parent_id, hashed_form(record))


def shorthand_turn_id(parent_id: str | None, role: str, content_text: str) -> str:
    """``turn_id(parent_id, {"content": content, "role": role})`` for a
    string ``content`` whose JSON text is ``content_text`` (what the store
    writes): the canonical bytes are that text between the record's two
    keys, so it is not encoded again.  ``role`` is one of the three roles."""
    digest = hashlib.sha256()
    if parent_id is not None:
        digest.update(parent_id.encode("ascii"))
    digest.update(b'\n{"content":')
    digest.update(content_text.encode("utf-8"))
    digest.update(b',"role":"%b"}' % role.encode("ascii"))
    return HASH_PREFIX + digest.hexdigest()


def legacy_turn_id(parent_id: str | None, record: Any) -> str:
    """The id the form before the null rule gave (nulls hashed as they are)."""
    return _digest(parent_id, record)


def _digest(parent_id: str | None, form: Any) -> str:
    digest = hashlib.sha256()
    if parent_id is not None:
        digest.update(parent_id.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json(form))
    return HASH_PREFIX + digest.hexdigest()

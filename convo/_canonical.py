"""The canonical form of a turn and its id: a compatibility contract.

A turn's id is ``"sha256:" + hex(sha256(P + b"\\n" + C))`` where

* ``P`` is the parent turn's id as ASCII, or empty for a first turn;
* ``C`` is the canonical JSON of the turn record
  ``{"content": ..., "role": ...}``: ``content`` exactly as sent to the API
  (a string for the shorthand form, else the array of block objects);
  serialised by Python's ``json.dumps`` with ``sort_keys=True``,
  ``separators=(",", ":")``, ``ensure_ascii=False``, ``allow_nan=False``,
  encoded as UTF-8.

The id addresses what is sent, nothing else: a turn's ``origin`` and
``meta`` are annotations carried beside it (kept, saved, queryable) but not
hashed, so ``Conversation.from_payload(c.to_payload(...)) == c`` and equal
content under equal parents gives equal ids.

Consequences, all relied on elsewhere: a shared prefix is stored once; an
id covers every ancestor (a thread verifies end to end); key order inside
objects does not change an id, any value does.  Changing any of this changes every id, so it is versioned by the
prefix: a future form gets a new tag, never a silent change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["HASH_PREFIX", "canonical_json", "turn_id"]

HASH_PREFIX = "sha256:"

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``value``."""
    return _dumps(value).encode("utf-8")


def turn_id(parent_id: str | None, record: Any) -> str:
    """The id of a turn with this record under this parent."""
    digest = hashlib.sha256()
    if parent_id is not None:
        digest.update(parent_id.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json(record))
    return HASH_PREFIX + digest.hexdigest()

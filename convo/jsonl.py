"""A thread as JSON Lines, and reading a thread back from a file.

The layer above ``conversation`` (beside ``tokens``, ``store`` and
``transport``): pure functions over the core objects, no store, no I/O;
``convo export``/``convo import`` are built on them.

* **JSONL** (:func:`export_jsonl`, :func:`import_jsonl`): the thread
  itself, lossless (origin and meta included).  One header line, then one
  line per turn, oldest first::

      {"format": "convo.thread", "version": 1, "thread": "t1", "title": null,
       "system": "You are terse.", "meta": {}, "length": 2, "head_id": "sha256:..."}
      {"id": "sha256:...", "parent_id": null, "role": "user", "origin": "human",
       "content": "Hello", "meta": {}}
      {"id": "sha256:...", "parent_id": "sha256:...", "role": "assistant",
       "origin": "model", "content": [{"type": "text", "text": "Hi!"}],
       "meta": {"model": "...", "stop_reason": "end_turn", "usage": {...}}}

  On import ``id`` and ``parent_id`` are optional; when present they must
  be what the content hashes to and the id of the line before, so a file
  that was edited by hand is caught.
* **A request body** (``conversation.to_payload(...)`` as JSON):
  :func:`read_import` reads either format, told apart by content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from attrs import frozen

from convo._frozen import thaw
from convo.blocks import (
    TextBlock,
)
from convo.codec import block_from_json, content_from_json, dumps
from convo.conversation import Conversation
from convo.errors import CodecError
from convo.inputs import load_json
from convo.turns import ORIGINS, ROLES, Turn

__all__ = [
    "JSONL_FORMAT",
    "JSONL_VERSION",
    "Imported",
    "export_jsonl",
    "import_jsonl",
    "read_import",
]

JSONL_FORMAT = "convo.thread"
"""The ``format`` field of a JSONL header line."""
JSONL_VERSION = 1
"""The JSONL format version this convo writes and reads."""

_TURN_FIELDS = frozenset({"id", "parent_id", "role", "origin", "content", "meta"})


# -- export ------------------------------------------------------------------


def export_jsonl(
    thread_id: str,
    conversation: Conversation,
    *,
    title: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """The lines (each ending with a newline) of the JSONL form of a thread.

    ``"".join(export_jsonl(...))`` is the whole file; :func:`import_jsonl`
    reads it back to an equal conversation (ids, origins, meta, system).
    """
    header = {
        "format": JSONL_FORMAT,
        "version": JSONL_VERSION,
        "thread": thread_id,
        "title": title,
        "system": thaw(conversation.system_json),
        "meta": thaw(dict(meta or {})),
        "length": len(conversation),
        "head_id": conversation.head_id,
    }
    yield dumps(header) + "\n"
    for turn in conversation.turns:
        yield _turn_line(turn)


def _turn_line(turn: Turn) -> str:
    # content_text/meta_text are the cached compact JSON the store writes:
    # splicing them keeps the content byte for byte and costs no re-encoding.
    parent = "null" if turn.parent_id is None else json.dumps(turn.parent_id)
    return (
        f'{{"id":{json.dumps(turn.id)},"parent_id":{parent},"role":{json.dumps(turn.role)},'
        f'"origin":{json.dumps(turn.origin)},"content":{turn.content_text},'
        f'"meta":{turn.meta_text}}}\n'
    )


# -- import ------------------------------------------------------------------


@frozen
class Imported:
    """What an import file holds: a conversation and where it came from.

    Attributes:
        conversation: the validated conversation (append-time rules hold).
        format: ``"payload"`` or ``"jsonl"``.
        thread: the thread id the file names (JSONL header), if any.
        title: the title the file gives, if any.
        meta: thread metadata to save (for a payload: its other fields,
            under ``"request"``, so ``export --format payload`` gives it back).
    """

    conversation: Conversation
    format: Literal["payload", "jsonl"]
    thread: str | None
    title: str | None
    meta: dict[str, Any]


def read_import(text: str) -> Imported:
    """Read a payload JSON document or a convo JSONL thread.

    The format is recognised by content: a JSON object with ``messages`` is
    a payload; a first line with ``"format": "convo.thread"`` is JSONL.

    Raises:
        CodecError: not JSON, not one of the formats, or malformed (the
            ``path`` says where: ``$.messages[3]...`` or ``line 4``).
        RuleError: a turn breaks an append-time rule (``.index`` says which).

    A JSONL turn whose ``id`` is not what its content hashes to is a
    ``CodecError`` at ``line N.id``.
    """
    stripped = text.lstrip()
    if not stripped:
        raise CodecError("the file is empty")
    first_line = stripped.split("\n", 1)[0]
    try:
        first = load_json(first_line, path="line 1")  # the input policy (convo.inputs)
    except json.JSONDecodeError:
        first = None
    if isinstance(first, Mapping) and first.get("format") == JSONL_FORMAT:
        return _read_jsonl(text)
    try:
        document = load_json(text)  # the input policy (convo.inputs)
    except json.JSONDecodeError as exc:
        raise CodecError(f"not valid JSON: {_json_error(exc)}") from None
    if not isinstance(document, Mapping) or "messages" not in document:
        raise CodecError(
            "not a payload (a JSON object with 'messages') nor a convo JSONL thread "
            f"(a first line with \"format\": \"{JSONL_FORMAT}\")"
        )
    conversation = Conversation.from_payload(document)
    request = {k: v for k, v in document.items() if k not in ("messages", "system")}
    return Imported(conversation, "payload", None, None, {"request": request})


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    return str(exc)  # pragma: no cover - json.loads raises JSONDecodeError


def import_jsonl(text: str) -> Imported:
    """Read a JSONL thread (the text :func:`export_jsonl` wrote).

    Raises:
        CodecError: not a convo JSONL thread, or malformed (``path`` says
            where: ``line 4.id``...), or a turn whose ``id`` is not what it
            hashes to (edited after export).
        RuleError: a turn breaks an append-time rule.
    """
    first = next((line for line in text.split("\n") if line.strip()), "")
    try:
        header = load_json(first, path="line 1")  # the input policy (convo.inputs)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, Mapping) or header.get("format") != JSONL_FORMAT:
        raise CodecError(
            f'not a convo JSONL thread (a first line with "format": "{JSONL_FORMAT}")',
            path="line 1",
        )
    return _read_jsonl(text)


def _read_jsonl(text: str) -> Imported:
    # Only "\n" ends a line: str.splitlines() would also split on U+2028,
    # U+0085... which JSON text may hold unescaped inside strings.
    lines = [
        (n, line.removesuffix("\r"))
        for n, line in enumerate(text.split("\n"), start=1)
        if line.strip()
    ]
    records: list[tuple[int, Any]] = []
    for n, line in lines:
        try:
            records.append((n, load_json(line, path=f"line {n}")))  # convo.inputs
        except json.JSONDecodeError as exc:
            raise CodecError(f"not valid JSON: {_json_error(exc)}", path=f"line {n}") from None
    (header_line, header), body = records[0], records[1:]
    version = header.get("version")
    if version != JSONL_VERSION:
        raise CodecError(
            f"JSONL version {version!r} is not supported (this convo reads {JSONL_VERSION})",
            path=f"line {header_line}",
        )
    thread = _opt_str(header, "thread", header_line)
    title = _opt_str(header, "title", header_line)
    meta = header.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise CodecError("meta must be an object", path=f"line {header_line}.meta")
    system = _system_from_json(header.get("system"), header_line)
    turns = list(_turns_from_records(body))
    conversation = Conversation.from_turns(turns, system)
    length = header.get("length")
    if length is not None and length != len(turns):
        raise CodecError(
            f"the header says {length} turns, the file has {len(turns)}",
            path=f"line {header_line}.length",
        )
    head_id = header.get("head_id")
    if head_id is not None and head_id != conversation.head_id:
        raise CodecError(
            f"the header's head_id {head_id} is not the last turn's id {conversation.head_id}",
            path=f"line {header_line}.head_id",
        )
    return Imported(conversation, "jsonl", thread, title, dict(meta))


def _opt_str(record: Mapping[str, Any], key: str, line: int) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise CodecError(f"{key} must be a string", path=f"line {line}.{key}")
    return value


def _system_from_json(value: Any, line: int) -> str | list[TextBlock] | None:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise CodecError("system must be a string or an array of text blocks", path=f"line {line}.system")
    blocks = [block_from_json(b, f"line {line}.system[{i}]") for i, b in enumerate(value)]
    texts = [b for b in blocks if isinstance(b, TextBlock)]
    if len(texts) != len(blocks):
        raise CodecError("system blocks must be text blocks", path=f"line {line}.system")
    return texts


def _turns_from_records(records: Iterable[tuple[int, Any]]) -> Iterator[Turn]:
    parent: str | None = None
    for n, record in records:
        where = f"line {n}"
        if not isinstance(record, Mapping):
            raise CodecError("a turn line must be a JSON object", path=where)
        if record.get("format") == JSONL_FORMAT:
            raise CodecError("a second header line", path=where)
        extra = set(record) - _TURN_FIELDS
        if extra:
            raise CodecError(f"unknown turn fields {sorted(extra)}", path=where)
        role, origin = record.get("role"), record.get("origin", "human")
        if role not in ROLES:
            raise CodecError(f"role must be one of {list(ROLES)}, got {role!r}", path=f"{where}.role")
        if origin not in ORIGINS:
            raise CodecError(
                f"origin must be one of {list(ORIGINS)}, got {origin!r}", path=f"{where}.origin"
            )
        if "content" not in record:
            raise CodecError("a turn needs 'content'", path=f"{where}.content")
        content = record["content"]
        if not isinstance(content, str):
            content_from_json(content, f"{where}.content")  # raises CodecError with the path
        meta = record.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise CodecError("meta must be an object", path=f"{where}.meta")
        stated_parent = record.get("parent_id", parent)
        if stated_parent != parent:
            raise CodecError(
                f"parent_id {stated_parent} is not the id of the turn before ({parent}): "
                "a thread file is one chain, oldest turn first",
                path=f"{where}.parent_id",
            )
        turn = Turn.from_stored(
            id="",
            parent_id=parent,
            role=role,
            origin=origin,
            content_text=dumps(content),
            meta_text=dumps(meta),
        )
        actual = turn.computed_id()
        stated = record.get("id", actual)
        if stated != actual:
            raise CodecError(
                f"id {stated} is not what the turn hashes to ({actual}): the content, role "
                "or an earlier turn was changed after export",
                path=f"{where}.id",
            )
        turn = Turn.from_stored(
            id=actual,
            parent_id=parent,
            role=role,
            origin=origin,
            content_text=turn.content_text,
            meta_text=turn.meta_text,
        )
        parent = actual
        yield turn

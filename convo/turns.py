"""Turns: one message of the history, immutable and content-addressed.

A ``Turn`` has a ``role`` (``user`` | ``assistant`` | ``system``: a system
message inside ``messages``, on the models that take one), its ``blocks``, an
``id`` that hashes its parent's id and its canonical content (the contract
is in ``convo._canonical``), and two annotations that are kept and saved but
never sent nor hashed: ``origin`` (``human``, ``model``, ``synthetic`` or
``tool``) and read-only ``meta`` (model, usage, stop_reason, response id).

Turns cache what they cost to compute: the request form (``message``) and
the JSON text the store writes are built once, so building a payload never
re-serialises an old turn.  A turn read from the store decodes its JSON
only when something asks for it, so loading a long thread costs little
more than reading its rows; sending it without looking at it
(``payload_messages``) decodes each stored text into plain dicts and
freezes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, get_args

import orjson

from convo._canonical import legacy_turn_id, shorthand_turn_id, turn_id
from convo._frozen import FrozenDict, FrozenList, freeze
from convo._gcpause import no_gc
from convo.blocks import BLOCK_CLASSES, Block, TextBlock
from convo.codec import block_from_json, block_to_json, content_from_json, dumps
from convo.errors import CodecError, HashMismatchError
from convo.inputs import check_turn

if TYPE_CHECKING:
    from convo.response_info import ResponseInfo

__all__ = [
    "ORIGINS",
    "ROLES",
    "Content",
    "Origin",
    "Role",
    "Turn",
    "is_sdk_object",
    "payload_messages",
    "stored_turns",
]

Role = Literal["user", "assistant", "system"]
Origin = Literal["human", "model", "synthetic", "tool"]
ROLES: tuple[Role, ...] = get_args(Role)
ORIGINS: tuple[Origin, ...] = get_args(Origin)

Content = str | Block | Iterable[Block]
"""What a turn can be built from: a string (the API's shorthand for one text
block), a block, or an iterable of blocks."""

_UNSET: Any = object()


class Turn:
    """One message of a conversation (immutable; equal iff ids are equal).

    Build turns with ``Turn.create``; a ``Conversation`` does this for you.
    """

    __slots__ = (
        "__weakref__",
        "_blocks",
        "_content",
        "_content_text",
        "_message",
        "_meta",
        "_meta_text",
        "id",
        "origin",
        "parent_id",
        "role",
    )

    id: str
    parent_id: str | None
    role: Role
    origin: Origin
    _content: Any
    _blocks: tuple[Block, ...] | None
    _meta: FrozenDict | None
    _message: FrozenDict | None
    _content_text: str | None
    _meta_text: str | None

    def __init__(self) -> None:
        raise TypeError("build turns with Turn.create(...) or Conversation methods")

    @classmethod
    def _new(
        cls,
        *,
        id: str | None,
        parent_id: str | None,
        role: str,
        origin: str,
        content: Any = _UNSET,
        blocks: tuple[Block, ...] | None = None,
        meta: FrozenDict | None = None,
        content_text: str | None = None,
        meta_text: str | None = None,
    ) -> Turn:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        if origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {origin!r}")
        turn = object.__new__(cls)
        put = object.__setattr__
        put(turn, "parent_id", parent_id)
        put(turn, "role", role)
        put(turn, "origin", origin)
        put(turn, "_content", content)
        put(turn, "_blocks", blocks)
        put(turn, "_meta", meta)
        put(turn, "_message", None)
        put(turn, "_content_text", content_text)
        put(turn, "_meta_text", meta_text)
        if id is None:
            if content_text is not None and isinstance(content, str):
                # Encoded once: the stored text is the hashed bytes' middle.
                # Only ``create`` gets here with a text, ``dumps(content)``;
                # a stored text (another spelling of the same string, e.g.
                # ``\u00e9``) always comes with its id.
                id = shorthand_turn_id(parent_id, role, content_text)
            else:
                id = turn_id(parent_id, turn.record())
        put(turn, "id", id)
        return turn

    @classmethod
    def create(
        cls,
        role: Role,
        content: Content,
        *,
        origin: Origin,
        meta: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> Turn:
        """Build a turn and compute its id.

        Args:
            role: ``"user"``, ``"assistant"`` or ``"system"``.
            content: a string (sent in the API's string shorthand), a block,
                or an iterable of blocks (sent as an array); a block may also
                be an SDK block object (anything with ``to_dict()`` or
                ``model_dump()``), read with ``block_from_json``.
            origin: where the turn came from; never sent.
            meta: JSON metadata (model, usage, stop_reason, response id...).
            parent_id: the id of the turn before this one.
        """
        if isinstance(content, str):
            blocks: tuple[Block, ...] = (TextBlock(content),)
            json_content: Any = content
        else:
            blocks = _as_blocks(content)
            json_content = FrozenList([block_to_json(b) for b in blocks])
        check_turn(json_content, meta)  # the input policy (convo.inputs)
        return cls._new(
            id=None,
            parent_id=parent_id,
            role=role,
            origin=origin,
            content=json_content,
            blocks=blocks,
            meta=freeze(meta) if meta else _EMPTY,
            # A string's JSON text is what the id hashes and the store writes.
            content_text=dumps(content) if isinstance(content, str) else None,
            meta_text=None if meta else _EMPTY_TEXT,
        )

    @classmethod
    def from_stored(
        cls,
        *,
        id: str,
        parent_id: str | None,
        role: str,
        origin: str,
        content_text: str,
        meta_text: str,
    ) -> Turn:
        """A turn read back from storage; its JSON is decoded on first use.

        The id is trusted here (``verify()`` re-checks it), which is what
        makes loading cheap.
        """
        return cls._new(
            id=id,
            parent_id=parent_id,
            role=role,
            origin=origin,
            content_text=content_text,
            meta_text=meta_text,
        )

    # -- values --------------------------------------------------------

    @property
    def content(self) -> Any:
        """The content exactly as sent: a string, or a read-only array of
        block objects."""
        if self._content is _UNSET:
            assert self._content_text is not None
            object.__setattr__(self, "_content", _loads_frozen(self._content_text, self.id))
        return self._content

    @property
    def blocks(self) -> tuple[Block, ...]:
        """The content as block objects."""
        if self._blocks is None:
            object.__setattr__(self, "_blocks", content_from_json(self.content))
        assert self._blocks is not None
        return self._blocks

    @property
    def meta(self) -> FrozenDict:
        """Read-only metadata: model, usage, stop_reason, id of the response..."""
        if self._meta is None:
            assert self._meta_text is not None
            object.__setattr__(self, "_meta", _loads_frozen(self._meta_text, self.id))
        assert self._meta is not None
        return self._meta

    @property
    def info(self) -> ResponseInfo:
        """``meta`` as a typed view: id, model, stop_reason, usage... (``convo.response_info``)."""
        from convo.response_info import response_info

        return response_info(self)

    @property
    def shorthand(self) -> bool:
        """True when the content is sent as a bare string."""
        return isinstance(self.content, str)

    @property
    def message(self) -> FrozenDict:
        """The request form ``{"role": ..., "content": ...}`` (cached, read-only)."""
        if self._message is None:
            object.__setattr__(
                self, "_message", _frozen_dict({"role": self.role, "content": self.content})
            )
        assert self._message is not None
        return self._message

    @property
    def content_text(self) -> str:
        """Compact JSON text of ``content`` (what the store writes)."""
        if self._content_text is None:
            object.__setattr__(self, "_content_text", dumps(self.content))
        assert self._content_text is not None
        return self._content_text

    @property
    def meta_text(self) -> str:
        """Compact JSON text of ``meta``."""
        if self._meta_text is None:
            object.__setattr__(self, "_meta_text", dumps(self.meta))
        assert self._meta_text is not None
        return self._meta_text

    @property
    def text(self) -> str:
        """The concatenated text of the turn's text blocks."""
        if isinstance(self.content, str):
            return self.content
        return "".join(b.text for b in self.blocks if isinstance(b, TextBlock))

    def record(self) -> FrozenDict:
        """The canonical record the id hashes (see ``convo._canonical``)."""
        return FrozenDict({"content": self.content, "role": self.role})

    def computed_id(self) -> str:
        """Recompute the id from the content (what ``verify`` compares).

        A turn stored before the canonical form dropped nulls keeps the id
        it was given, when that is what its content hashed to then.
        """
        record = self.record()
        actual = turn_id(self.parent_id, record)
        if actual != self.id and self.id == legacy_turn_id(self.parent_id, record):
            return self.id
        return actual

    def verify(self) -> None:
        """Raise ``HashMismatchError`` unless the content hashes to ``id``."""
        actual = self.computed_id()
        if actual != self.id:
            raise HashMismatchError(turn_id=self.id, actual=actual)

    # -- derived turns -------------------------------------------------

    def with_parent(self, parent_id: str | None) -> Turn:
        """The same turn placed under another parent (a new id)."""
        if parent_id == self.parent_id:
            return self
        return Turn._new(
            id=None,
            parent_id=parent_id,
            role=self.role,
            origin=self.origin,
            content=self.content,
            blocks=self._blocks,
            meta=self.meta,
        )

    # -- protocol --------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Turn):
            return NotImplemented
        return self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Turn is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Turn is immutable (cannot delete {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_turn,
            (self.id, self.parent_id, self.role, self.origin, self.content_text, self.meta_text),
        )

    def __repr__(self) -> str:
        preview = self.text
        if len(preview) > 40:
            preview = preview[:37] + "..."
        return (
            f"Turn({self.role}, origin={self.origin}, id={self.id[:15]}..., "
            f"blocks={len(self.blocks)}, text={preview!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict: ``id``, ``parent_id``, ``role``,
        ``origin``, ``content`` (exactly as sent) and ``meta``."""
        from convo._frozen import thaw

        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "role": self.role,
            "origin": self.origin,
            "content": thaw(self.content),
            "meta": thaw(self.meta),
        }


def _rebuild_turn(
    id: str, parent_id: str | None, role: str, origin: str, content_text: str, meta_text: str
) -> Turn:
    return Turn.from_stored(
        id=id,
        parent_id=parent_id,
        role=role,
        origin=origin,
        content_text=content_text,
        meta_text=meta_text,
    )


_EMPTY = FrozenDict()
_EMPTY_TEXT = "{}"


def payload_messages(turns: Sequence[Turn]) -> tuple[list[Any], bool]:
    """The request forms of ``turns`` for a payload, and whether every one
    is a turn's cached, read-only ``message``.

    A turn whose content was never decoded (read from a store and not
    looked at) gives a fresh plain dict decoded straight from its stored
    text: equal to its ``message``, byte for byte as JSON, but nothing is
    frozen or cached, so a turn that is only sent stays undecoded.
    """
    messages: list[Any] = []
    add = messages.append
    shared = True
    with no_gc(len(turns)):
        for turn in turns:
            message = turn._message
            if message is None:
                if turn._content is _UNSET:
                    text = turn._content_text
                    assert text is not None
                    add({"role": turn.role, "content": _loads_plain(text, turn.id)})
                    shared = False
                    continue
                message = turn.message
            add(message)
    return messages, shared


_ROLE_NAMES: dict[str, str] = {name: name for name in ROLES}
_ORIGIN_NAMES: dict[str, str] = {name: name for name in ORIGINS}


def stored_turns(rows: Iterable[Any], at: tuple[int, int, int, int, int]) -> list[Turn]:
    """Lazy turns from stored rows, oldest first: what ``Turn.from_stored``
    gives for each, at half its cost (the hot loop of loading a thread).

    ``at`` says where id, role, origin, content text and meta text sit in a
    row; each turn's parent is the id of the row before it.  The role and
    origin strings are replaced by one shared object each (a driver returns
    a new string for every row).

    Raises:
        ValueError: a row's role or origin is not one a turn can have.
    """
    i, r, o, c, m = at
    new = object.__new__
    role_of, origin_of = _ROLE_NAMES.get, _ORIGIN_NAMES.get
    (set_parent, set_role, set_origin, set_content, set_blocks, set_meta, set_message,
     set_content_text, set_meta_text, set_id) = _STORED_SETTERS
    turns: list[Turn] = []
    add = turns.append
    parent = None
    for row in rows:
        role = role_of(row[r])
        origin = origin_of(row[o])
        if role is None:
            raise ValueError(f"role must be one of {ROLES}, got {row[r]!r}")
        if origin is None:
            raise ValueError(f"origin must be one of {ORIGINS}, got {row[o]!r}")
        turn = new(Turn)
        set_parent(turn, parent)
        set_role(turn, role)
        set_origin(turn, origin)
        set_content(turn, _UNSET)
        set_blocks(turn, None)
        set_meta(turn, None)
        set_message(turn, None)
        set_content_text(turn, row[c])
        set_meta_text(turn, row[m])
        set_id(turn, parent := row[i])
        add(turn)
    return turns


_STORED_SETTERS: Any = tuple(
    Turn.__dict__[name].__set__  # the slots' descriptors: a third of object.__setattr__'s cost
    for name in (
        "parent_id", "role", "origin", "_content", "_blocks", "_meta", "_message",
        "_content_text", "_meta_text", "id",
    )
)


def _as_blocks(content: Any) -> tuple[Block, ...]:
    if isinstance(content, BLOCK_CLASSES):
        return (content,)
    if is_sdk_object(content):
        return (block_from_json(content),)
    if isinstance(content, Mapping) or not isinstance(content, Iterable):
        raise TypeError(
            "content must be a str, a block, or an iterable of blocks, "
            f"got {type(content).__name__} (use convo.codec.block_from_json for JSON)"
        )
    blocks = tuple(
        block_from_json(b, f"$[{i}]") if is_sdk_object(b) else b for i, b in enumerate(content)
    )
    for i, block in enumerate(blocks):
        if not isinstance(block, BLOCK_CLASSES):
            raise TypeError(
                f"content[{i}] must be a block, got {type(block).__name__} "
                "(use convo.codec.block_from_json for JSON)"
            )
    return blocks


def is_sdk_object(value: Any) -> bool:
    """An object that dumps itself to JSON (an SDK model), not a plain value."""
    return not isinstance(value, (Mapping, str, bytes, list, tuple)) and (
        callable(getattr(value, "to_dict", None)) or callable(getattr(value, "model_dump", None))
    )


_SCALARS = frozenset({str, int, float, bool, type(None)})

_dict_new = dict.__new__
_dict_init = dict.__init__
_set_hash: Any = FrozenDict.__dict__["_hash"].__set__  # the slot's descriptor


def _frozen_dict(items: dict[str, Any]) -> FrozenDict:
    """``FrozenDict(items)`` without the Python-level ``__init__`` call (a
    third of its cost; the hot path of building a loaded turn's message)."""
    frozen: FrozenDict = _dict_new(FrozenDict)
    _dict_init(frozen, items)
    _set_hash(frozen, None)
    return frozen


def _freeze_loaded(value: Any) -> Any:
    """``freeze`` for a freshly decoded JSON value (plain dicts with str
    keys, lists and scalars only): the same result, without ``freeze``'s
    checks and a call per leaf.  The hot path of ``to_payload`` after a load."""
    kind = type(value)
    if kind is dict:
        return _frozen_dict(
            {k: v if type(v) in _SCALARS else _freeze_loaded(v) for k, v in value.items()}
        )
    if kind is list:
        return FrozenList([v if type(v) in _SCALARS else _freeze_loaded(v) for v in value])
    return value


def _loads_plain(text: str, turn: str) -> Any:
    """Stored JSON text as fresh plain values: what ``json.loads(text)`` gives.

    orjson decodes the texts the store writes (three times as fast), but it
    turns an integer beyond 64 bits into a float (``2**64`` ->
    ``1.8446744073709552e+19``) and refuses some texts ``json.loads`` takes
    (lone surrogates, NaN).  So a value in which orjson produced a float at
    all, and a text orjson refuses, go through ``json.loads``, which decides
    and reports: the result never depends on which decoder ran.  (Looking
    for a float in the decoded value costs a tenth of scanning the text for
    a long run of digits, and text blocks hold no numbers at all.)
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _loads(text, turn)
    kind = type(value)
    if kind is str:
        return value
    if kind is float or ((kind is list or kind is dict) and _holds_float(value)):
        return _loads(text, turn)
    return value


def _holds_float(value: Any) -> bool:
    """Whether a freshly decoded JSON container holds a float anywhere.

    The first two levels (a content array and its blocks' fields) are
    walked inline, deeper ones by ``_nested_float``: a text block costs two
    short loops and no call."""
    for item in value.values() if type(value) is dict else value:
        kind = type(item)
        if kind is dict:
            for leaf in item.values():
                kind = type(leaf)
                if kind is float or ((kind is dict or kind is list) and _nested_float(leaf)):
                    return True
        elif kind is float or (kind is list and _nested_float(item)):
            return True
    return False


def _nested_float(value: Any) -> bool:
    """``_holds_float`` at any depth (iterative: orjson nests up to 1024
    levels, beyond the recursion limit)."""
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        for item in node.values() if type(node) is dict else node:
            kind = type(item)
            if kind is float:
                return True
            if kind is dict or kind is list:
                stack.append(item)
    return False


def _loads_frozen(text: str, turn: str) -> Any:
    """Stored JSON text as a frozen value: what ``freeze(json.loads(text))``
    gives (decoded by ``_loads_plain``)."""
    return _freeze_loaded(_loads_plain(text, turn))


def _loads(text: str, turn: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CodecError(f"stored JSON of turn {turn} is not valid: {exc}") from None
    except RecursionError:
        # Deeper than any text the store writes (``inputs.MAX_DEPTH``).
        raise CodecError(f"stored JSON of turn {turn} is nested too deeply") from None

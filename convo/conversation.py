"""Conversation: an immutable chain of turns and the verbs that grow it.

A conversation is a head pointer into a parent-linked chain of turns, like
a git branch.  Appending creates one turn and one link (O(1) whatever the
length); ``fork``/slicing points a new conversation at an earlier link, so
forks share every turn they have in common.  Append-time rules run on every
append, so a ``Conversation`` never holds a history that no future append
could make valid; ``check_sendable`` adds the send-time rules.

``to_payload`` returns the exact request body.  Each turn caches its
request form, so building a payload after an append costs a list build
plus the one new turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, NoReturn, overload

from convo.blocks import Block, TextBlock, ToolResultBlock
from convo.codec import block_from_json, content_from_json, content_to_json, split_response
from convo.errors import CodecError, NotSendableError
from convo.models import profile_for
from convo.rules import (
    NO_EMPTY_CONTENT,
    PREFILL_NO_TRAILING_WHITESPACE,
    check_append,
    check_send,
    content_errors,
)
from convo.turns import Content, Origin, Role, Turn

__all__ = ["Conversation", "Policy", "System"]

Policy = Literal["strict", "merge"]
System = str | Sequence[TextBlock] | None
"""A system prompt: a string, or text blocks (which may carry cache_control)."""

ToolResultValue = str | Block | Sequence[Block] | ToolResultBlock


class _Link:
    """One step of the chain: a turn, the link before it, and the length."""

    __slots__ = ("length", "parent", "turn")

    turn: Turn
    parent: _Link | None
    length: int

    def __init__(self, turn: Turn, parent: _Link | None) -> None:
        self.turn = turn
        self.parent = parent
        self.length = 1 if parent is None else parent.length + 1


class Conversation:
    """An immutable Messages API conversation.

    Args:
        system: the system prompt (a string or a sequence of ``TextBlock``).
        policy: what appending a turn of the same role as the last one does:
            ``"strict"`` raises ``roles-alternate``; ``"merge"`` joins the
            blocks into the last turn (what the API does with consecutive
            same-role turns).

    Every method returns a new conversation; none changes this one.
    """

    __slots__ = ("_base", "_head", "_links", "_messages", "_policy", "_system", "_system_json")

    _head: _Link | None
    # Caches, filled on first use.  ``_base`` is the conversation this one
    # was appended to: when its caches are warm, ours cost one tuple concat
    # instead of a walk of the chain (dropped once used, so no chain of
    # conversations stays alive through it).
    _base: Conversation | None
    _links: tuple[_Link, ...] | None
    _messages: tuple[Any, ...] | None
    _policy: Policy
    _system: str | tuple[TextBlock, ...] | None
    _system_json: Any

    def __init__(self, system: System = None, *, policy: Policy = "strict") -> None:
        if policy not in ("strict", "merge"):
            raise ValueError(f"policy must be 'strict' or 'merge', got {policy!r}")
        put = object.__setattr__
        put(self, "_system", _check_system(system))
        put(self, "_system_json", _system_json(self._system))
        put(self, "_policy", policy)
        put(self, "_head", None)
        put(self, "_links", None)
        put(self, "_messages", None)
        put(self, "_base", None)

    def _derive(self, head: _Link | None, *, appended: bool = False) -> Conversation:
        new = object.__new__(Conversation)
        put = object.__setattr__
        put(new, "_system", self._system)
        put(new, "_system_json", self._system_json)
        put(new, "_policy", self._policy)
        put(new, "_head", head)
        put(new, "_links", None)
        put(new, "_messages", None)
        put(new, "_base", self if appended else None)
        return new

    # -- reading -----------------------------------------------------------

    @property
    def system(self) -> str | tuple[TextBlock, ...] | None:
        """The system prompt."""
        return self._system

    @property
    def system_json(self) -> Any:
        """The system prompt as sent: a string, a read-only array of text
        block objects, or ``None``."""
        return self._system_json

    @property
    def policy(self) -> Policy:
        """``"strict"`` or ``"merge"``."""
        return self._policy

    @property
    def head(self) -> Turn | None:
        """The last turn, or ``None`` for an empty conversation."""
        return None if self._head is None else self._head.turn

    @property
    def head_id(self) -> str | None:
        """The id of the last turn (it covers the whole history)."""
        return None if self._head is None else self._head.turn.id

    def _chain(self) -> tuple[_Link, ...]:
        if self._links is None:
            base = self._base
            if base is not None and base._links is not None and self._head is not None:
                chain = (*base._links, self._head)
            else:
                links: list[_Link] = []
                link = self._head
                while link is not None:
                    links.append(link)
                    link = link.parent
                links.reverse()
                chain = tuple(links)
            object.__setattr__(self, "_links", chain)
            if base is None or base._messages is None:
                object.__setattr__(self, "_base", None)
        assert self._links is not None
        return self._links

    def _message_tuple(self) -> tuple[Any, ...]:
        if self._messages is None:
            base = self._base
            if base is not None and base._messages is not None and self._head is not None:
                # One tuple concatenation: a third cheaper than unpacking
                # (measured: 20 us against 32 us at 10 000 turns).
                messages = base._messages + (self._head.turn.message,)  # noqa: RUF005
            else:
                messages = tuple(link.turn.message for link in self._chain())
            object.__setattr__(self, "_messages", messages)
            object.__setattr__(self, "_base", None)
        assert self._messages is not None
        return self._messages

    @property
    def turns(self) -> tuple[Turn, ...]:
        """Every turn, oldest first."""
        return tuple(link.turn for link in self._chain())

    def reversed_turns(self) -> Iterator[Turn]:
        """The turns newest first, walking the chain (no tuple is built):
        what an O(new turns) incremental computation wants."""
        link = self._head
        while link is not None:
            yield link.turn
            link = link.parent

    def __len__(self) -> int:
        return 0 if self._head is None else self._head.length

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    @overload
    def __getitem__(self, key: int) -> Turn: ...
    @overload
    def __getitem__(self, key: slice) -> Conversation: ...
    def __getitem__(self, key: int | slice) -> Turn | Conversation:
        if isinstance(key, slice):
            if key.start not in (None, 0) or key.step not in (None, 1):
                raise ValueError(
                    "only prefix slices (c[:n]) give a Conversation; use c.turns[i:j] "
                    "for a tuple of turns"
                )
            # range slicing clamps and counts negatives exactly as a tuple would.
            return self.fork(len(range(len(self))[key]))
        return self._chain()[key].turn

    def fork(self, length: int) -> Conversation:
        """The first ``length`` turns as a new conversation sharing them.

        A negative ``length`` counts from the end (``fork(-1)`` drops the
        last turn).  Nothing is copied.

        Raises:
            IndexError: ``length`` is outside ``-len(self)..len(self)``.
        """
        size = len(self)
        if length < 0:
            length += size
        if not 0 <= length <= size:
            raise IndexError(f"cannot fork at {length}: the conversation has {size} turns")
        if length == size:
            return self
        if length == 0:
            return self._derive(None)
        return self._derive(self._chain()[length - 1])

    # -- growing -----------------------------------------------------------

    def append(
        self,
        role: Role,
        content: Content,
        *,
        origin: Origin,
        meta: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """Append one turn (the general form of ``user``/``assistant``).

        Raises:
            RuleError: the turn breaks an append-time rule; ``.index`` is
                the turn's index (or the earlier turn the rule names).
        """
        head = self._head
        turn = Turn.create(
            role, content, origin=origin, meta=meta, parent_id=None if head is None else head.turn.id
        )
        return self._append_turn(turn)

    def _append_turn(self, turn: Turn) -> Conversation:
        head = self._head
        if head is not None and head.turn.role == turn.role and self._policy == "merge":
            merged = _merge(head.turn, turn)
            prev = head.parent
            _check(None if prev is None else prev.turn, merged, head.length - 1)
            return self._derive(_Link(merged, prev))
        _check(None if head is None else head.turn, turn, len(self))
        return self._derive(_Link(turn, head), appended=True)

    def user(
        self, content: Content, *, origin: Origin = "human", meta: Mapping[str, Any] | None = None
    ) -> Conversation:
        """Append a user turn (origin ``human`` unless told otherwise)."""
        return self.append("user", content, origin=origin, meta=meta)

    def assistant(
        self,
        content: Content,
        *,
        origin: Origin = "synthetic",
        meta: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """Append an assistant turn written by the program (origin ``synthetic``)."""
        return self.append("assistant", content, origin=origin, meta=meta)

    def prefill(self, text: str) -> Conversation:
        """Append a trailing assistant turn for the model to continue.

        ``append_response`` then joins the prefill and the continuation into
        one assistant turn.  Models from Claude 4.6 on refuse prefill;
        ``check_sendable(model=...)`` says so before a request is wasted.

        Raises:
            RuleError: ``prefill-no-trailing-whitespace`` (the API refuses it).
        """
        if text != text.rstrip():
            raise PREFILL_NO_TRAILING_WHITESPACE.error(
                "final assistant content cannot end with trailing whitespace", len(self)
            )
        return self.append("assistant", text, origin="synthetic", meta={"prefill": True})

    def append_response(self, response: Mapping[str, Any]) -> Conversation:
        """Append the assistant message of a Messages API response.

        The turn has origin ``model``; every response field but the content
        (``id``, ``model``, ``stop_reason``, ``stop_sequence``, ``usage``...)
        is kept in ``meta``.  When the conversation ends with an assistant
        turn (a prefill, or a turn paused with ``stop_reason: pause_turn``),
        the continuation is joined to it: the result is ONE assistant turn,
        whose ``meta["prefix"]`` keeps what was there before.

        Raises:
            CodecError: the response is not a message.
            RuleError: the response breaks an append-time rule.
        """
        blocks, meta = split_response(response)
        head = self._head
        if head is None or head.turn.role != "assistant":
            turn = Turn.create(
                "assistant",
                blocks,
                origin="model",
                meta=meta,
                parent_id=None if head is None else head.turn.id,
            )
            return self._append_turn(turn)
        prev = head.turn
        joined_meta = meta | {"prefix": prev.content, "prefix_origin": prev.origin}
        if prev.meta:
            joined_meta = joined_meta | {"prefix_meta": prev.meta}
        joined = _join(prev, blocks)
        parent = head.parent
        turn = Turn.create(
            "assistant",
            joined,
            origin="model",
            meta=joined_meta,
            parent_id=None if parent is None else parent.turn.id,
        )
        _check(None if parent is None else parent.turn, turn, head.length - 1)
        return self._derive(_Link(turn, parent))

    def tool_results(
        self,
        results: Mapping[str, ToolResultValue],
        *,
        errors: Iterable[str] = (),
    ) -> Conversation:
        """Append a user turn answering the last turn's tool calls.

        Args:
            results: tool_use id -> result (a string, a block, a sequence of
                blocks, or a complete ``ToolResultBlock``).
            errors: ids whose result is an error (``is_error: true``).
        """
        failed = set(errors)
        blocks: list[Block] = []
        for tool_use_id, value in results.items():
            if isinstance(value, ToolResultBlock):
                blocks.append(value)
                continue
            blocks.append(
                ToolResultBlock(
                    tool_use_id,
                    value,
                    is_error=True if tool_use_id in failed else None,
                )
            )
        return self.append("user", blocks, origin="tool")

    def with_system(self, system: System) -> Conversation:
        """The same turns under another system prompt."""
        new = self._derive(self._head)
        object.__setattr__(new, "_system", _check_system(system))
        object.__setattr__(new, "_system_json", _system_json(new._system))
        return new

    def with_policy(self, policy: Policy) -> Conversation:
        """The same conversation with another append policy."""
        if policy not in ("strict", "merge"):
            raise ValueError(f"policy must be 'strict' or 'merge', got {policy!r}")
        new = self._derive(self._head)
        object.__setattr__(new, "_policy", policy)
        return new

    # -- sending -----------------------------------------------------------

    def to_payload(self, model: str, max_tokens: int, **params: Any) -> dict[str, Any]:
        """The exact request body for ``POST /v1/messages``.

        ``params`` are passed through unchanged (``tools``, ``temperature``,
        ``stream``, ``thinking``, ``metadata``...).  The message objects are
        shared, read-only views of each turn's cached request form.
        """
        for key in ("messages", "system"):
            if key in params:
                raise ValueError(f"{key!r} comes from the conversation, not from params")
        payload: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
        if self._system_json is not None:
            payload["system"] = self._system_json
        payload["messages"] = list(self._message_tuple())
        payload.update(params)
        return payload

    def check_sendable(
        self,
        model: str | None = None,
        *,
        max_tokens: int | None = None,
        allow_prefill: bool | None = None,
        **params: Any,
    ) -> None:
        """Raise ``NotSendableError`` listing every send-time violation.

        Args:
            model: the target model (its profile gates prefill and limits;
                an unknown model gets permissive rules).
            max_tokens: checked against the model's output limit.
            allow_prefill: override the profile's prefill capability.
            params: other request parameters (``tools`` cache breakpoints count).
        """
        turns = self.turns
        errors = check_send(
            turns,
            profile_for(model),
            max_tokens=max_tokens,
            system=self._system_json,
            allow_prefill=allow_prefill,
            extra=params,
        )
        # Model turns skip the empty-content rule at append time (they are
        # kept exactly as received); the API still refuses them.
        for i, turn in enumerate(turns):
            if turn.origin == "model":
                errors.extend(content_errors(turn, i))
        if errors:
            errors.sort(key=lambda e: (-1 if e.index is None else e.index))
            raise NotSendableError(errors)

    def fits(self, model: str, *, max_tokens: int | None = None) -> bool:
        """True when the estimated input plus ``max_tokens`` (default: the
        model's output limit) fits the model's context window.

        See ``convo.tokens`` for how the estimate is made.
        """
        from convo.tokens import fits

        result: bool = fits(self, model, max_tokens=max_tokens)
        return result

    def is_sendable(self, model: str | None = None, **kwargs: Any) -> bool:
        """True when ``check_sendable`` would not raise."""
        try:
            self.check_sendable(model, **kwargs)
        except NotSendableError:
            return False
        return True

    # -- building from JSON ------------------------------------------------

    @classmethod
    def from_payload(
        cls, payload: Mapping[str, Any], *, policy: Policy = "strict"
    ) -> Conversation:
        """Read a request body back into a conversation.

        ``from_payload(p).to_payload(**rest) == p`` where ``rest`` is every
        key of ``p`` but ``messages`` and ``system``.  User turns get origin
        ``human`` (``tool`` when they hold only tool results) and assistant
        turns ``synthetic``: a payload does not say where a turn came from.

        Raises:
            CodecError: the payload is malformed (with the JSON path).
            RuleError: a message breaks an append-time rule (with its index).
        """
        if not isinstance(payload, Mapping):
            raise CodecError(f"a payload must be an object, got {type(payload).__name__}")
        system: Any = payload.get("system")
        if system is not None and not isinstance(system, str):
            if not isinstance(system, list):
                raise CodecError("system must be a string or an array of text blocks", path="$.system")
            blocks = [block_from_json(b, f"$.system[{i}]") for i, b in enumerate(system)]
            for i, block in enumerate(blocks):
                if not isinstance(block, TextBlock):
                    raise CodecError("system blocks must be text blocks", path=f"$.system[{i}]")
            system = blocks
        conversation = cls(system, policy=policy)
        messages = payload.get("messages")
        if not isinstance(messages, list):
            raise CodecError("a payload needs a 'messages' array", path="$.messages")
        for i, message in enumerate(messages):
            path = f"$.messages[{i}]"
            if not isinstance(message, Mapping):
                raise CodecError("a message must be an object", path=path)
            role = message.get("role")
            if role not in ("user", "assistant"):
                raise CodecError(f"role must be 'user' or 'assistant', got {role!r}", path=f"{path}.role")
            extra = set(message) - {"role", "content"}
            if extra:
                raise CodecError(f"unknown message fields {sorted(extra)}", path=path)
            if "content" not in message:
                raise CodecError("a message needs 'content'", path=f"{path}.content")
            raw = message["content"]
            content: str | tuple[Block, ...] = (
                raw if isinstance(raw, str) else content_from_json(raw, f"{path}.content")
            )
            origin: Origin = "synthetic" if role == "assistant" else "human"
            if (
                role == "user"
                and not isinstance(content, str)
                and len(content) > 0
                and all(isinstance(b, ToolResultBlock) for b in content)
            ):
                origin = "tool"
            conversation = conversation.append(role, content, origin=origin)
        return conversation

    @classmethod
    def from_turns(
        cls,
        turns: Iterable[Turn],
        system: System = None,
        *,
        policy: Policy = "strict",
        validate: bool = True,
    ) -> Conversation:
        """A conversation over existing turns (e.g. loaded from a store).

        Each turn's ``parent_id`` must be the id of the turn before it.
        ``validate=False`` skips the append-time rules for trusted turns.

        Raises:
            ValueError: the turns are not a parent-linked chain.
            RuleError: a turn breaks an append-time rule.
        """
        conversation = cls(system, policy=policy)
        head: _Link | None = None
        for i, turn in enumerate(turns):
            expected = None if head is None else head.turn.id
            if turn.parent_id != expected:
                raise ValueError(
                    f"turn {i} ({turn.id}) has parent {turn.parent_id}, expected {expected}"
                )
            if validate:
                _check(None if head is None else head.turn, turn, i)
            head = _Link(turn, head)
        return conversation._derive(head)

    # -- protocol ------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Conversation):
            return NotImplemented
        return self.head_id == other.head_id and self._system_json == other._system_json

    def __hash__(self) -> int:
        return hash((self.head_id, self._system_json))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Conversation is immutable (cannot set {name!r})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.turns, self._system, self._policy))

    def __repr__(self) -> str:
        # Readable in a failing Hypothesis example, and bounded whatever the
        # history: at most REPR_TURNS turns, each clipped to a short preview.
        turns = self.turns
        n = len(turns)
        if n <= REPR_TURNS:
            shown: list[str] = [_turn_preview(t) for t in turns]
        else:
            head_part = [_turn_preview(t) for t in turns[: REPR_TURNS - 2]]
            tail_part = [_turn_preview(t) for t in turns[-2:]]
            shown = [*head_part, f"... {n - REPR_TURNS} more ...", *tail_part]
        body = f"{n} turn{'s' if n != 1 else ''}" + (": " + ", ".join(shown) if shown else "")
        head = "" if self.head_id is None else f", head={self.head_id[:15]}..."
        system = ""
        if self._system is not None:
            text = self._system if isinstance(self._system, str) else " ".join(
                b.text for b in self._system
            )
            system = f", system={_clip(text)!r}"
        return f"Conversation({body}{head}{system}, policy={self._policy!r})"


REPR_TURNS = 6
"""A Conversation's repr shows at most this many turns (the first and the last)."""
_REPR_TEXT = 24


def _clip(text: str, limit: int = _REPR_TEXT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _turn_preview(turn: Turn) -> str:
    """``user 'Hello'``, ``assistant [tool_use get_weather]``: role and short content."""
    parts: list[str] = []
    for block in turn.blocks[:3]:
        if isinstance(block, TextBlock):
            parts.append(repr(_clip(block.text)))
        else:
            name = getattr(block, "name", None)
            kind = getattr(type(block), "TYPE", None) or getattr(block, "type", None) or "block"
            parts.append(f"[{kind}{' ' + _clip(name, 16) if isinstance(name, str) else ''}]")
    if len(turn.blocks) > 3:
        parts.append(f"+{len(turn.blocks) - 3} blocks")
    return f"{turn.role} {' '.join(parts) if parts else '(empty)'}"


def _rebuild(turns: tuple[Turn, ...], system: System, policy: Policy) -> Conversation:
    return Conversation.from_turns(turns, system, policy=policy, validate=False)


_MODEL_SKIPS = frozenset({NO_EMPTY_CONTENT.name})


def _check(prev: Turn | None, turn: Turn, index: int) -> None:
    # Model turns are kept exactly as received (an empty text block beside a
    # tool call is a known API quirk): check_sendable still reports them.
    check_append(prev, turn, index, skip=_MODEL_SKIPS if turn.origin == "model" else frozenset())


def _merge(prev: Turn, new: Turn) -> Turn:
    origin = prev.origin if prev.origin == new.origin else "synthetic"
    meta = prev.meta | new.meta if new.meta else prev.meta
    return Turn.create(
        prev.role, (*prev.blocks, *new.blocks), origin=origin, meta=meta, parent_id=prev.parent_id
    )


def _join(prev: Turn, blocks: tuple[Block, ...]) -> Content:
    """The content of a prefix assistant turn continued by ``blocks``."""
    head = prev.blocks
    if (
        head
        and blocks
        and _plain_text(head[-1])
        and _plain_text(blocks[0])
    ):
        text = TextBlock(head[-1].text + blocks[0].text)  # type: ignore[union-attr]
        joined: tuple[Block, ...] = (*head[:-1], text, *blocks[1:])
    else:
        joined = (*head, *blocks)
    if prev.shorthand and len(joined) == 1 and _plain_text(joined[0]):
        return joined[0].text  # type: ignore[union-attr]
    return joined


def _plain_text(block: Block) -> bool:
    return type(block) is TextBlock and block.cache_control is None and block.citations is None


def _check_system(system: Any) -> str | tuple[TextBlock, ...] | None:
    if system is None or isinstance(system, str):
        return system
    if isinstance(system, TextBlock):
        return (system,)
    blocks = tuple(system)
    for block in blocks:
        if not isinstance(block, TextBlock):
            raise TypeError(f"system blocks must be TextBlock, got {type(block).__name__}")
    return blocks


def _system_json(system: str | tuple[TextBlock, ...] | None) -> Any:
    if system is None or isinstance(system, str):
        return system
    return content_to_json(system)


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

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, NoReturn, overload

from convo.blocks import Block, RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolResultBlock
from convo.cache import CacheMode, apply_cache_plan, plan_cache
from convo.codec import as_json, block_from_json, content_from_json, content_to_json, split_response
from convo.errors import CodecError, NotSendableError, RuleError
from convo.inputs import DOCUMENT_ENVELOPE, accepts_json, check_json, describe
from convo.models import profile_for
from convo.prefix import FINGERPRINT_KEY, fingerprint, has_thinking, stale_thinking_errors
from convo.rules import (
    EVERY_TOOL_USE_ANSWERED,
    NO_ASSISTANT_DOCUMENT,
    NO_EMPTY_CONTENT,
    PREFILL_NO_TRAILING_WHITESPACE,
    ROLES_ALTERNATE,
    TOOL_USE_ID_FORMAT,
    TOOL_USE_IDS_UNIQUE,
    catalogue_send_errors,
    check_append,
    check_send,
    content_errors,
    system_follower_errors,
    tool_use_ids,
    unanswered_errors,
    version_errors,
    version_fix,
)
from convo.turns import ROLES, Content, Origin, Role, Turn, is_sdk_object, payload_messages
from convo.usage import Ledger, PriceTable, ledger
from convo.versions import DEFAULT_API_VERSION

__all__ = ["Conversation", "Policy", "System"]

Policy = Literal["strict", "merge", "keep"]
POLICIES: tuple[Policy, ...] = ("strict", "merge", "keep")
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


_TURN_OF = operator.attrgetter("turn")


class Conversation:
    """An immutable Messages API conversation.

    Args:
        system: the system prompt (a string or a sequence of ``TextBlock``).
        policy: what appending a turn of the same role as the last one does:
            ``"strict"`` raises ``roles-alternate``; ``"merge"`` joins the
            blocks into the last turn (what the API does with consecutive
            same-role turns); ``"keep"`` keeps both turns exactly as given
            (the API accepts and combines them), checking the rules on the
            combined turn as the API sees it.  System turns are transparent
            to alternation under every policy.

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
        _check_policy(policy)
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
        """``"strict"``, ``"merge"`` or ``"keep"``."""
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

    def _payload_messages(self) -> list[Any]:
        """The messages of a payload.  A turn loaded from a store and never
        decoded gives a fresh dict decoded from its stored text (no frozen
        blocks: the cost of a load-and-send is about that of reading the
        rows).  Those dicts are the caller's, so such a list is not cached:
        a second payload decodes those turns again, where decoded turns
        share their cached, read-only ``message``.  The rest of
        ``to_payload`` (system, params, ``cache="auto"``, which copies what
        it marks) reads JSON values only, so it gives the same body either
        way."""
        if self._messages is not None:
            return list(self._messages)
        base = self._base
        if base is not None and base._messages is not None and self._head is not None:
            return list(self._message_tuple())
        messages, shared = payload_messages(tuple(map(_TURN_OF, self._chain())))
        if shared:
            object.__setattr__(self, "_messages", tuple(messages))
            object.__setattr__(self, "_base", None)
        return messages

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
        if (
            head is not None
            and head.turn.role == turn.role
            and turn.role != "system"
            and self._policy == "merge"
        ):
            merged = _merge(head.turn, turn)
            prev = head.parent
            _check_after(prev, merged, head.length - 1, self._policy)
            return self._derive(_Link(merged, prev))
        _check_after(head, turn, len(self), self._policy)
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

    def system_message(
        self,
        content: str | TextBlock | Sequence[TextBlock],
        *,
        origin: Origin = "synthetic",
        meta: Mapping[str, Any] | None = None,
    ) -> Conversation:
        """Append a ``role: "system"`` message inside ``messages``.

        Mid-conversation system messages steer the model from this point on
        (the top-level ``system`` prompt stays the conversation's).  Only
        some models take them: ``check_sendable(model=...)`` reports
        ``system-message-supported-by-model`` for the others.

        Raises:
            RuleError: ``system-message-placement`` (never first; after a
                user turn or an assistant turn ending in server tool use;
                only an assistant turn may follow) or
                ``system-message-text-only``.
        """
        return self.append("system", content, origin=origin, meta=meta)

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

    @accepts_json("response", envelope=DOCUMENT_ENVELOPE)  # the input policy (convo.inputs)
    def append_response(
        self, response: Mapping[str, Any] | Any, *, request: Mapping[str, Any] | None = None
    ) -> Conversation:
        """Append the assistant message of a Messages API response.

        ``response`` is the response JSON, or an SDK ``Message`` (any object
        with ``to_dict()`` or ``model_dump()``): the turn and its id are the
        same either way.

        The turn has origin ``model``; every response field but the content
        (``id``, ``model``, ``stop_reason``, ``stop_sequence``, ``usage``...)
        is kept in ``meta``.  When the conversation ends with an assistant
        turn (a prefill, or a turn paused with ``stop_reason: pause_turn``),
        the continuation is joined to it: the result is ONE assistant turn,
        whose ``meta["prefix"]`` keeps what was there before.

        Args:
            request: the request body the response answers.  When given,
                the turn records the prefix it was produced under in
                ``meta["prefix_fingerprint"]`` (see ``convo.prefix``), and
                ``check_sendable`` reports its thinking once that prefix
                changes (``thinking-prefix-unchanged``).

        Raises:
            CodecError: the response is not a message.
            RuleError: the response breaks an append-time rule.
        """
        blocks, meta = split_response(as_json(response))
        head = self._head
        if head is None or head.turn.role != "assistant":
            if request is not None:
                meta = meta | {
                    FINGERPRINT_KEY: _request_fingerprint(request, None if head is None else head.turn.id)
                }
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
        if request is not None:
            joined_meta = joined_meta | {
                FINGERPRINT_KEY: _request_fingerprint(request, None if parent is None else parent.turn.id)
            }
        turn = Turn.create(
            "assistant",
            joined,
            origin="model",
            meta=joined_meta,
            parent_id=None if parent is None else parent.turn.id,
        )
        _check_after(parent, turn, head.length - 1, self._policy)
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
                blocks, or a complete ``ToolResultBlock``); blocks may be SDK
                block objects (anything with ``to_dict()``/``model_dump()``).
            errors: ids whose result is an error (``is_error: true``).
        """
        failed = set(errors)
        blocks: list[Block] = []
        for tool_use_id, given in results.items():
            value = _sdk_blocks(given)
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
        _check_policy(policy)
        new = self._derive(self._head)
        object.__setattr__(new, "_policy", policy)
        return new

    # -- sending -----------------------------------------------------------

    def to_payload(
        self,
        model: str,
        max_tokens: int,
        *,
        cache: CacheMode = "none",
        cache_ttl: Literal["5m", "1h"] | None = None,
        cache_diagnostics: bool = False,
        **params: Any,
    ) -> dict[str, Any]:
        """The exact request body for ``POST /v1/messages``.

        ``params`` are passed through unchanged (``tools``, ``temperature``,
        ``stream``, ``thinking``, ``metadata``...).  The message objects are
        shared, read-only views of each turn's cached request form; a turn
        loaded from a store and not yet decoded gives a fresh plain dict
        built from its stored JSON instead (the same JSON, byte for byte,
        and it stays undecoded).

        Args:
            cache: ``"none"`` sends the breakpoints the history and params
                already hold, nothing more; ``"auto"`` adds prompt-cache
                breakpoints by the policy of ``convo.cache`` (a pure function
                of the payload: equal histories give equal payloads).
            cache_ttl: the ``ttl`` of the breakpoints ``"auto"`` adds.
            cache_diagnostics: send ``diagnostics.previous_message_id`` (the
                id of the newest model response in this chain, or ``null``),
                so the response says why the cache missed
                (``diagnostics.cache_miss_reason``, kept in the turn's meta
                and shown by the usage ledger).
        """
        for key in ("messages", "system"):
            if key in params:
                raise ValueError(f"{key!r} comes from the conversation, not from params")
        if "api_version" in params:
            # Easy to pass by analogy with check_sendable; the API would 400 on it.
            raise ValueError("'api_version' is the anthropic-version header (the transport's), not a body field")
        payload: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
        if self._system_json is not None:
            payload["system"] = self._system_json
        payload["messages"] = self._payload_messages()
        payload.update(params)
        if cache_diagnostics and "diagnostics" not in params:
            payload["diagnostics"] = {"previous_message_id": self._last_response_id()}
        if cache == "auto":
            return apply_cache_plan(payload, plan_cache(payload), ttl=cache_ttl)
        if cache != "none":
            raise ValueError(f"cache must be 'none' or 'auto', got {cache!r}")
        return payload

    def _last_response_id(self) -> str | None:
        for turn in self.reversed_turns():
            if turn.origin == "model":
                value = turn.meta.get("id")
                return value if isinstance(value, str) else None
        return None

    def check_sendable(
        self,
        model: str | None = None,
        *,
        max_tokens: int | None = None,
        allow_prefill: bool | None = None,
        api_version: str = DEFAULT_API_VERSION,
        **params: Any,
    ) -> None:
        """Raise ``NotSendableError`` listing every send-time violation.

        Args:
            model: the target model (its profile gates prefill and limits;
                an unknown model gets permissive rules).
            max_tokens: checked against the model's output limit.
            allow_prefill: override the profile's prefill capability.
            api_version: the ``anthropic-version`` the request goes out with
                (default: what the official SDK sends, ``2026-10-21``); its
                own rules are checked too (``convo.rules.version_rules``).
            params: the other request parameters, as given to
                ``to_payload`` (``tools`` cache breakpoints count;
                ``temperature``/``top_p``/``top_k`` and ``thinking`` are checked).
        """
        errors = self.send_violations(
            model, max_tokens=max_tokens, allow_prefill=allow_prefill, api_version=api_version, **params
        )
        if errors:
            raise NotSendableError(errors)

    def send_violations(
        self,
        model: str | None = None,
        *,
        max_tokens: int | None = None,
        allow_prefill: bool | None = None,
        api_version: str = DEFAULT_API_VERSION,
        **params: Any,
    ) -> list[RuleError]:
        """Every send-time violation, sorted by turn (empty when sendable):
        what ``check_sendable`` raises, without raising.  Each carries
        ``.rule`` and ``.index``; a stored thread is reported whole, every
        rule at every index."""
        turns = self.turns
        errors = check_send(
            turns,
            profile_for(model),
            max_tokens=max_tokens,
            system=self._system_json,
            allow_prefill=allow_prefill,
            extra=params,
            api_version=api_version,
        )
        # Model turns skip the empty-content rule at append time (they are
        # kept exactly as received); the API still refuses them.
        for i, turn in enumerate(turns):
            if turn.origin == "model":
                errors.extend(content_errors(turn, i))
        errors.extend(catalogue_send_errors(turns, profile_for(model)))
        # Consecutive user messages (kept from a payload) answer as one turn.
        last = _non_system(self._head)
        errors.extend(_run_answer_errors(last))
        errors.extend(_trailing_run_errors(last))
        errors.extend(
            stale_thinking_errors(
                turns, system=self._system_json, tools=params.get("tools"), thinking=params.get("thinking")
            )
        )
        errors.sort(key=lambda e: (-1 if e.index is None else e.index))
        return errors

    def sendable_fork(self, api_version: str = DEFAULT_API_VERSION) -> Conversation:
        """A fork whose turns pass ``api_version``'s own rules; this
        conversation and its turns (ids included) are not touched.

        The fork shares every turn before the first one that breaks a rule
        of the version.  From there each turn is re-created under its new
        parent (new ids): a turn that broke a rule gets the minimal change
        below, every other turn keeps its content byte for byte.  Under
        ``2026-10-21``:

        * ``no-assistant-document``: the ``document`` blocks of an assistant
          turn are removed;
        * ``no-user-citations``: the ``citations`` key is removed from the
          user-side text blocks that carry a non-empty one (directly, or
          inside a ``search_result``, also one in a ``tool_result``).

        A changed turn keeps its role, origin and meta, and records the
        change in ``meta["api_version_fix"]``: ``api_version``, ``changes``
        (one line per path) and ``removed`` (the removed blocks and
        citations), so nothing is lost.  Under ``2023-06-01`` nothing
        changes (the fork is this conversation).  Request parameters are not
        part of a conversation: drop ``temperature``/``top_p``/``top_k``
        yourself (``convo.rules.without_removed_params``).  Re-created turns
        change the prefix of every later thinking block (API_RULES D8).

        Raises:
            NotSendableError: ``no-assistant-document``, when an assistant
                turn holds nothing but documents (removing them would leave
                an empty turn mid-history; nothing is invented instead);
                ``api-version-known`` for a version convo does not know.
        """
        unknown = version_errors((), api_version, {})
        if unknown:
            raise NotSendableError(unknown)
        chain = self._chain()
        fixes = {}
        for i, link in enumerate(chain):
            fix = version_fix(link.turn, api_version)
            if fix is None:
                continue
            if not fix.content:
                raise NotSendableError(
                    [
                        NO_ASSISTANT_DOCUMENT.error(
                            "the assistant turn holds only document blocks: removing them "
                            "would leave it empty, so no fork is built",
                            i,
                        )
                    ]
                )
            fixes[i] = fix
        if not fixes:
            return self
        first = min(fixes)
        head = None if first == 0 else chain[first - 1]
        for i in range(first, len(chain)):
            turn = chain[i].turn
            parent_id = None if head is None else head.turn.id
            fix = fixes.get(i)
            if fix is None:
                turn = turn.with_parent(parent_id)
            else:
                record = {
                    "api_version": api_version,
                    "changes": list(fix.changes),
                    "removed": list(fix.removed),
                }
                turn = Turn.create(
                    turn.role,
                    content_from_json(list(fix.content)),
                    origin=turn.origin,
                    meta=turn.meta | {"api_version_fix": record},
                    parent_id=parent_id,
                )
            head = _Link(turn, head)
        return self._derive(head)

    def strip_stale_thinking(self, *, tools: Any = None, thinking: Any = None) -> Conversation:
        """A sendable fork: thinking removed where its prefix changed.

        Every turn before the first one ``check_sendable`` would report as
        ``thinking-prefix-unchanged`` (for these ``tools`` and ``thinking``
        and this system prompt) is shared as is.  From there on the turns
        are rebuilt, with the thinking blocks of the reported turns removed
        and kept otherwise; removing a block changes the prefix of every
        later block (D8), so a later thinking turn is stripped as well.
        Stripped turns keep their meta plus ``thinking_stripped: true``.
        The stored turns are never rewritten: this is a new chain.

        Returns:
            ``self`` when nothing is stale.
        """
        turns = self.turns
        stale = stale_thinking_errors(turns, system=self._system_json, tools=tools, thinking=thinking)
        if not stale:
            return self
        first = min(e.index for e in stale if e.index is not None)
        out = self.fork(first)
        for turn in turns[first:]:
            if has_thinking(turn):
                kept = [b for b in turn.blocks if not isinstance(b, (ThinkingBlock, RedactedThinkingBlock))]
                out = out._append_turn(
                    Turn.create(
                        turn.role,
                        kept,
                        origin=turn.origin,
                        meta=turn.meta | {"thinking_stripped": True},
                        parent_id=out.head_id,
                    )
                )
            else:
                out = out._append_turn(turn.with_parent(out.head_id))
        return out

    def usage(
        self, *, since: Conversation | None = None, prices: PriceTable | None = None
    ) -> Ledger:
        """The usage ledger: every model response of this chain, with its
        tokens (input, output, cache read, cache write by TTL) and cost.

        A fork shares its prefix's usage: the requests before the fork point
        count in the ledger of every conversation that holds them.  Pass
        ``since=`` the conversation this one forked from to count only the
        requests it does not share (see ``convo.usage``).

        Args:
            since: leave out the turns of this conversation's chain.
            prices: override the profiles' price tables (one ``Prices``, a
                model -> ``Prices`` mapping, or a function of the model).
        """
        skip = () if since is None else (t.id for t in since.reversed_turns())
        return ledger(self.turns, prices=prices, skip=skip)

    def is_sendable(self, model: str | None = None, **kwargs: Any) -> bool:
        """True when ``check_sendable`` would not raise."""
        try:
            self.check_sendable(model, **kwargs)
        except NotSendableError:
            return False
        return True

    # -- building from JSON ------------------------------------------------

    @classmethod
    @accepts_json("payload", envelope=DOCUMENT_ENVELOPE)  # the input policy (convo.inputs)
    def from_payload(
        cls, payload: Mapping[str, Any] | Any, *, policy: Policy | None = None
    ) -> Conversation:
        """Read a request body back into a conversation.

        ``from_payload(p).to_payload(**rest) == p`` where ``rest`` is every
        key of ``p`` but ``messages`` and ``system``: every block, field,
        key order and explicit ``null`` is kept.  User turns get origin
        ``human`` (``tool`` when they hold only tool results), assistant and
        system turns ``synthetic``: a payload does not say where a turn came
        from.  Messages may be SDK param dicts holding SDK block objects.

        Args:
            policy: how consecutive same-role messages are read, and the
                policy of the result.  By default they are kept as given
                (``"keep"``: every payload the API accepts loads and goes
                back unchanged) and the result appends under ``"strict"``.
                ``"strict"`` rejects them; ``"merge"`` joins them (the
                payload then changes); ``"keep"`` also keeps appending so.

        Raises:
            CodecError: the payload is malformed (with the JSON path).
            RuleError: a message breaks an append-time rule (with its index).
        """
        payload = as_json(payload)
        if policy is not None:
            _check_policy(policy)
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
        conversation = cls(system, policy=policy or "keep")
        messages = payload.get("messages")
        if not isinstance(messages, list):
            raise CodecError("a payload needs a 'messages' array", path="$.messages")
        for i, item in enumerate(messages):
            path = f"$.messages[{i}]"
            message = as_json(item)
            if not isinstance(message, Mapping):
                raise CodecError("a message must be an object", path=path)
            role = message.get("role")
            if role not in ROLES:
                raise CodecError(
                    f"role must be one of {', '.join(ROLES)}, got {describe(role)}", path=f"{path}.role"
                )
            extra = set(message) - {"role", "content"}
            if extra:
                raise CodecError(f"unknown message fields {sorted(extra)}", path=path)
            if "content" not in message:
                raise CodecError("a message needs 'content'", path=f"{path}.content")
            raw = message["content"]
            content: str | tuple[Block, ...] = (
                raw if isinstance(raw, str) else content_from_json(raw, f"{path}.content")
            )
            origin: Origin = "human" if role == "user" else "synthetic"
            if (
                role == "user"
                and not isinstance(content, str)
                and len(content) > 0
                and all(isinstance(b, ToolResultBlock) for b in content)
            ):
                origin = "tool"
            conversation = conversation.append(role, content, origin=origin)
        return conversation if policy is not None else conversation.with_policy("strict")

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
                _check_after(head, turn, i, policy)
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


def _request_fingerprint(request: Mapping[str, Any], parent: str | None) -> dict[str, str | None]:
    request = as_json(request)
    if not isinstance(request, Mapping):
        raise CodecError(f"a request must be an object, got {type(request).__name__}")
    return fingerprint(
        system=request.get("system"),
        tools=request.get("tools"),
        thinking=request.get("thinking"),
        parent=parent,
    )


def _rebuild(turns: tuple[Turn, ...], system: System, policy: Policy) -> Conversation:
    return Conversation.from_turns(turns, system, policy=policy, validate=False)


_MODEL_SKIPS = frozenset({NO_EMPTY_CONTENT.name, TOOL_USE_ID_FORMAT.name, TOOL_USE_IDS_UNIQUE.name})


def _sdk_blocks(value: Any) -> Any:
    """SDK block objects in a tool result value, read as convo blocks."""
    if is_sdk_object(value):
        return block_from_json(value)
    if isinstance(value, (list, tuple)) and any(is_sdk_object(v) for v in value):
        return tuple(block_from_json(v) if is_sdk_object(v) else v for v in value)
    return value


def _check_policy(policy: object) -> None:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


def _run_view(link: _Link) -> tuple[Turn, _Link | None, int]:
    """The turn the API sees ending at ``link`` (consecutive same-role turns
    combined, system turns skipped), the link before that run, and the index
    of the run's first turn."""
    role = link.turn.role
    run: list[Turn] = []
    current: _Link | None = link
    first = link
    while current is not None and current.turn.role in (role, "system"):
        if current.turn.role == role:
            run.append(current.turn)
            first = current
        current = current.parent
    if len(run) == 1:
        return run[0], current, first.length - 1
    run.reverse()
    return _merge_all(run), current, first.length - 1


def _run_answer_errors(link: _Link | None) -> list[RuleError]:
    """The calls of an assistant run that the user run ending at ``link``
    leaves unanswered (the API judges the runs combined)."""
    if link is None or link.turn.role != "user":
        return []
    answers, before, first = _run_view(link)
    if before is None or before.turn.role != "assistant":
        return []
    asked_view = _run_view(before)[0]
    return unanswered_errors(asked_view, answers, first - 1)


def _trailing_run_errors(link: _Link | None) -> list[RuleError]:
    """For a history that ends with a run of assistant messages, the calls
    in its earlier messages (the last message's are reported by the send
    rules): the API sees one final assistant turn holding them all."""
    if link is None or link.turn.role != "assistant":
        return []
    errors: list[RuleError] = []
    current = link.parent
    while current is not None and current.turn.role in ("assistant", "system"):
        calls = tool_use_ids(current.turn) if current.turn.role == "assistant" else ()
        if calls:
            errors.append(
                EVERY_TOOL_USE_ANSWERED.error(
                    "tool_use ids were found without tool_result blocks immediately after: "
                    f"{', '.join(calls)} (answer them with tool_results)",
                    current.length - 1,
                )
            )
        current = current.parent
    return errors


def _only_results(turn: Turn) -> bool:
    return not turn.shorthand and all(isinstance(b, ToolResultBlock) for b in turn.blocks)


def _non_system(link: _Link | None) -> _Link | None:
    while link is not None and link.turn.role == "system":
        link = link.parent
    return link


def _check_after(head: _Link | None, turn: Turn, index: int, policy: Policy) -> None:
    """Raise the first append-time rule ``turn`` breaks after ``head``."""
    # Model turns are kept exactly as received (an empty text block beside a
    # tool call is a known API quirk): check_sendable still reports them, as
    # it does the tool-id rules.
    skip = _MODEL_SKIPS if turn.origin == "model" else frozenset()
    if head is None or turn.role == "system":
        check_append(None if head is None else head.turn, turn, index, skip=skip)
        return
    if head.turn.role == "system":
        for error in system_follower_errors(head.turn, turn, index):
            raise error
    link = _non_system(head)
    if link is None:
        check_append(None, turn, index, skip=skip)
        return
    prev, before, _ = _run_view(link)
    if policy != "keep":
        check_append(prev, turn, index, skip=skip)
        return
    # "keep": the API combines consecutive same-role turns, so the rules
    # judge the combined turn against the run before it, and a user run may
    # answer its tool calls over several messages.
    if turn.role == "user" and _only_results(turn) and (prev.role != "user" or _only_results(prev)):
        # Results alone: a later user message may still answer the rest (once
        # anything else comes, results after it would not be first: D3).
        skip = skip | {EVERY_TOOL_USE_ANSWERED.name}
    if prev.role != turn.role:
        for error in _run_answer_errors(link):
            raise error
        check_append(prev, turn, index, skip=skip)
        return
    if turn.origin != "model":
        for error in content_errors(turn, index):
            raise error
    combined = _merge_all([prev, turn])
    check_append(
        None if before is None else _run_view(before)[0],
        combined,
        index,
        skip=skip | {ROLES_ALTERNATE.name, NO_EMPTY_CONTENT.name},
    )


def _merge_all(turns: Sequence[Turn]) -> Turn:
    blocks = tuple(b for t in turns for b in t.blocks)
    origins = {t.origin for t in turns}
    return Turn.create(
        turns[0].role,
        blocks,
        origin=origins.pop() if len(origins) == 1 else "synthetic",
        meta=turns[-1].meta,
        parent_id=turns[0].parent_id,
    )


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
        last, first = head[-1], blocks[0]
        assert isinstance(last, TextBlock) and isinstance(first, TextBlock)
        # Explicit nulls (model_dump's) are kept: they change no id.
        text = TextBlock(
            last.text + first.text, extra=last.extra | first.extra, key_order=first.key_order
        )
        joined: tuple[Block, ...] = (*head[:-1], text, *blocks[1:])
    else:
        joined = (*head, *blocks)
    if prev.shorthand and len(joined) == 1 and _plain_text(joined[0]):
        return joined[0].text  # type: ignore[union-attr]
    return joined


def _plain_text(block: Block) -> bool:
    return (
        type(block) is TextBlock
        and block.cache_control is None
        and block.citations is None
        and all(value is None for value in block.extra.values())
    )


def _check_system(system: Any) -> str | tuple[TextBlock, ...] | None:
    if system is None or isinstance(system, str):
        check_json(system, "$.system")  # the input policy (convo.inputs)
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


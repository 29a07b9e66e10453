"""State and pure logic shared by ``Chat`` and ``AsyncChat`` (no I/O)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import attrs

from convo.blocks import Block, TextBlock, ToolResultBlock, ToolUseBlock
from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, RuleError
from convo.models import profile_for
from convo.rules import is_paused
from convo.turns import Content, Origin, Turn

DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` of a ``Chat`` unless told otherwise."""

DEFAULT_CONTINUE_PROMPT = "Continue exactly where you left off."
"""The user turn ``continue_()`` sends after ``max_tokens`` on a model
that refuses prefill (origin ``synthetic``, ``meta["continue"] = True``)."""

MAX_RESUMES = 10
"""How many ``pause_turn`` continuations ``replay`` follows per step."""

ContinueMode = Literal["auto", "prefill", "user"]
TextCallback = Callable[[str], object]
"""Called with each text delta of a streamed reply."""
ToolHandler = Callable[[ToolUseBlock], str | Block | Sequence[Block] | ToolResultBlock]
"""Computes the result of one tool call (``replay(tool_handler=...)``)."""

_RESERVED = frozenset({"messages", "system", "stream"})


# -- the parts both chats share (no I/O) -------------------------------------


class _Core:
    """State and pure logic shared by ``Chat`` and ``AsyncChat``."""

    _conversation: Conversation | None
    _pending: Conversation | None
    _exists: bool
    _last_payload: dict[str, Any] | None

    def __init__(
        self,
        thread: str,
        *,
        model: str,
        max_tokens: int,
        system: System,
        params: Mapping[str, Any] | None,
        title: str | None,
        policy: Policy,
    ) -> None:
        if not thread:
            raise ValueError("thread must be a non-empty string")
        self.thread = thread
        self.model = model
        self.max_tokens = max_tokens
        self.params: dict[str, Any] = _check_params(dict(params or {}))
        self.title = title
        self._system = system
        self._policy: Policy = policy
        self._conversation = None
        self._pending = None
        self._exists = False
        self._last_payload = None

    # -- reading -------------------------------------------------------

    @property
    def conversation(self) -> Conversation:
        """The conversation as saved in the thread (immutable)."""
        if self._conversation is None:
            raise ChatStateError("the thread is not loaded yet: `await chat.load()` first")
        return self._conversation

    @property
    def pending(self) -> Conversation | None:
        """A reply that could not be saved (after a ``ConflictError`` or a
        store failure), else ``None``.  See ``save_pending``/``reload``."""
        return self._pending

    @property
    def saved(self) -> bool:
        """Whether the thread exists in the store."""
        return self._exists

    @property
    def head(self) -> Turn | None:
        """The last turn of the thread."""
        return self.conversation.head

    @property
    def stop_reason(self) -> str | None:
        """Why the last model reply stopped (``end_turn``, ``tool_use``,
        ``max_tokens``, ``pause_turn``, ...), or ``None`` when the thread does
        not end with a model reply."""
        head = self.conversation.head
        if head is None or head.role != "assistant" or head.origin != "model":
            return None
        value = head.meta.get("stop_reason")
        return value if isinstance(value, str) else None

    @property
    def tool_calls(self) -> tuple[ToolUseBlock, ...]:
        """The tool calls the last reply asks for (answer with ``tool_results``)."""
        return _calls(self.conversation)

    @property
    def last_payload(self) -> dict[str, Any] | None:
        """The last request body this chat sent (or tried to send)."""
        return self._last_payload

    def payload(self, **params: Any) -> dict[str, Any]:
        """The request body the current conversation would be sent as."""
        model, max_tokens, merged = self._request_params(params)
        return self.conversation.to_payload(model, max_tokens, **merged)

    # -- building requests -----------------------------------------------

    def _request_params(self, params: Mapping[str, Any]) -> tuple[str, int, dict[str, Any]]:
        extra = dict(params)
        model = extra.pop("model", self.model)
        max_tokens = extra.pop("max_tokens", self.max_tokens)
        return model, max_tokens, {**self.params, **_check_params(extra)}

    def _prepare(self, conversation: Conversation, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``conversation`` and build its payload (raises before any I/O)."""
        model, max_tokens, merged = self._request_params(params)
        conversation.check_sendable(model, max_tokens=max_tokens, **merged)
        payload = conversation.to_payload(model, max_tokens, **merged)
        self._last_payload = payload
        return payload

    def _user_step(
        self,
        content: Content,
        *,
        prefill: str | None,
        origin: Origin,
        meta: Mapping[str, Any] | None,
    ) -> Conversation:
        head = self.conversation.head
        if head is not None and head.role == "user" and self.conversation.policy == "strict":
            # A fork at an odd turn (or an imported payload) ends with a prompt
            # that was never answered: the way on is to send it, not to merge.
            raise RuleError(
                "roles-alternate",
                "the thread ends with a user turn that has no reply yet: call "
                "chat.respond() to send it as it is, or fork at an even turn "
                "(after a reply) to ask something else",
                index=len(self.conversation),
            )
        conversation = self.conversation.user(content, origin=origin, meta=meta)
        if prefill is not None:
            conversation = conversation.prefill(prefill)
        return conversation

    def _respond_step(self) -> Conversation:
        head = self.conversation.head
        if head is None or (head.role == "assistant" and head.origin == "model"):
            raise ChatStateError(
                "nothing to respond to: the thread is empty or ends with a model reply "
                "(send() a user turn)"
            )
        return self.conversation

    def _resume_step(self) -> Conversation:
        head = self.conversation.head
        if head is None or not is_paused(head):
            raise ChatStateError(
                f"nothing to resume: the last reply stopped with {self.stop_reason!r}, "
                "not 'pause_turn'"
            )
        return self.conversation

    def _continue_step(self, prompt: str, mode: ContinueMode, model: str) -> Conversation:
        conversation = self.conversation
        head = conversation.head
        if head is None or self.stop_reason != "max_tokens":
            raise ChatStateError(
                f"nothing to continue: the last reply stopped with {self.stop_reason!r}, "
                "not 'max_tokens'"
            )
        if any(isinstance(b, ToolUseBlock) for b in head.blocks):
            raise ChatStateError(
                "the reply was cut off inside a tool call, whose input is incomplete: fork "
                "before it (chat.fork(at=len(chat.conversation) - 1)) and send again with a "
                "larger max_tokens"
            )
        if mode == "auto":
            text_tail = bool(head.blocks) and isinstance(head.blocks[-1], TextBlock)
            mode = "prefill" if profile_for(model).prefill and text_tail else "user"
        if mode == "user":
            return conversation.user(prompt, origin="synthetic", meta={"continue": True})
        # Prefill: the partial reply is sent back as the trailing assistant
        # turn, and the continuation joins it (one turn, meta["prefix"]).
        # The API refuses trailing whitespace in it, so that is trimmed.
        blocks = head.blocks
        last = blocks[-1] if blocks else None
        if isinstance(last, TextBlock) and last.text != last.text.rstrip():
            trimmed = (*blocks[:-1], attrs.evolve(last, text=last.text.rstrip()))
            content: Content = trimmed[0].text if head.shorthand else trimmed  # type: ignore[union-attr]
            return conversation.fork(-1).append("assistant", content, origin="model", meta=head.meta)
        return conversation

    def _committable(self, conversation: Conversation) -> None:
        current = self.conversation
        if conversation.system_json != current.system_json:
            raise ChatStateError("commit: the conversation has another system prompt")
        n = len(current)
        if len(conversation) < n or (n and conversation[n - 1].id != current.head_id):
            raise ChatStateError(
                "commit: the conversation does not extend the thread (fork() to branch off)"
            )

    def _loaded(self, stored: Conversation | None) -> None:
        if stored is None:
            self._conversation = Conversation(self._system, policy=self._policy)
            self._exists = False
            return
        if self._system is not None:
            wanted = Conversation(self._system).system_json
            if wanted != stored.system_json:
                raise ChatStateError(
                    f"thread {self.thread!r} already has another system prompt; fork it "
                    "or start a new thread to change it"
                )
        self._conversation = stored.with_policy(self._policy)
        self._exists = True
        self._pending = None

    def _replaces(self, conversation: Conversation) -> str | None:
        """The head ``conversation`` replaces (a continuation joined into the
        last turn: saved with the store's compare-and-set on the head,
        ``expected_head``), or ``None`` when it extends the thread (a
        fast-forward)."""
        current = self._conversation
        if current is None or current.head_id is None or not self._exists:
            return None
        n = len(current)
        if len(conversation) >= n and conversation[n - 1].id == current.head_id:
            return None
        return current.head_id

    def _save_args(self) -> dict[str, Any]:
        if self._exists:
            return {}
        return {"title": self.title, "meta": {"model": self.model}}

    def _saved(self, conversation: Conversation) -> None:
        self._conversation = conversation
        self._pending = None
        self._exists = True

    def _like(self, thread: str, model: str | None = None) -> dict[str, Any]:
        return {
            "thread": thread,
            "model": model or self.model,
            "max_tokens": self.max_tokens,
            "params": self.params,
            "policy": self._policy,
        }

    def __repr__(self) -> str:
        size = "?" if self._conversation is None else len(self._conversation)
        return f"{type(self).__name__}(thread={self.thread!r}, model={self.model!r}, turns={size})"


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    bad = _RESERVED.intersection(params)
    if bad:
        raise ValueError(
            f"{sorted(bad)} cannot be request params: messages and system come from the "
            "conversation, and streaming is chosen with send(stream=True)"
        )
    return params


def _tap(event: Mapping[str, Any], on_text: TextCallback | None) -> object:
    if on_text is None or event.get("type") != "content_block_delta":
        return None
    delta = event.get("delta")
    if isinstance(delta, Mapping) and delta.get("type") == "text_delta":
        text = delta.get("text")
        if isinstance(text, str):
            return on_text(text)
    return None


def _with_request_id(response: Mapping[str, Any], events: object = None) -> Mapping[str, Any]:
    """The response, with the ``request-id`` header kept in the turn's meta."""
    request_id = getattr(response, "request_id", None) or getattr(events, "request_id", None)
    if isinstance(request_id, str) and "request_id" not in response:
        return {**response, "request_id": request_id}
    return response


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _thread_ids(infos: Any) -> set[str]:
    return {str(getattr(info, "id", info)) for info in infos}

def _calls(conversation: Conversation) -> tuple[ToolUseBlock, ...]:
    """The tool calls the last turn makes (if it is an assistant turn)."""
    head = conversation.head
    if head is None or head.role != "assistant":
        return ()
    return tuple(b for b in head.blocks if isinstance(b, ToolUseBlock))


@contextmanager
def opened_events(source: Any) -> Iterator[Any]:
    """The events of ``transport.stream(payload)``, closed afterwards.

    The protocol's ``stream`` returns an iterator of events; the built-in
    transports' streams are also context managers. A custom transport may
    return either an iterator (a generator) or a context manager whose
    ``__enter__`` gives the iterator (a ``@contextmanager`` function).
    """
    if hasattr(source, "__iter__"):
        try:
            yield source
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    elif hasattr(source, "__enter__"):
        with source as events:
            yield events
    else:
        raise TypeError(
            f"transport.stream() returned {type(source).__name__}: "
            "expected an iterator of events or a context manager giving one"
        )


@asynccontextmanager
async def opened_async_events(source: Any) -> AsyncIterator[Any]:
    """The async twin of :func:`opened_events` (``__aiter__`` or ``__aenter__``)."""
    if hasattr(source, "__aiter__"):
        try:
            yield source
        finally:
            close = getattr(source, "aclose", None)
            if close is not None:
                await close()
    elif hasattr(source, "__aenter__"):
        async with source as events:
            yield events
    else:
        raise TypeError(
            f"transport.stream() returned {type(source).__name__}: "
            "expected an async iterator of events or an async context manager giving one"
        )

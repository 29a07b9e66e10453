"""State and pure logic shared by ``Chat`` and ``AsyncChat`` (no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack

import attrs

from convo.blocks import Block, TextBlock, ToolResultBlock, ToolUseBlock
from convo.chat._params import RequestParams, check_request_params, check_reserved
from convo.chat._settings import ThreadSettings
from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, RuleError
from convo.inputs import check_store_args
from convo.models import profile_for
from convo.rules import is_paused
from convo.turns import Content, Origin, Turn
from convo.versions import DEFAULT_API_VERSION

if TYPE_CHECKING:
    from convo.chat._machine import Branch

DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` of a ``Chat`` unless told otherwise."""

DEFAULT_CONTINUE_PROMPT = "Continue exactly where you left off."
"""The user turn ``continue_()`` sends after ``max_tokens`` on a model
that refuses prefill (origin ``synthetic``, ``meta["continue"] = True``)."""

MAX_RESUMES = 10
"""How many ``pause_turn`` continuations ``replay`` follows per step."""

DEFAULT_MAX_REBASES = 10
"""How many times the ``rebase`` conflict policy sends a step again."""

DEFAULT_MAX_STEPS = 10
"""How many requests ``chat.run`` sends before it stops a tool loop."""

ContinueMode = Literal["auto", "prefill", "user"]
ConflictPolicy = Literal["raise", "fork", "rebase"]
"""What a step does when another writer moved the thread first:
``raise`` a ``ConflictError`` (the reply waits in ``chat.pending``);
``fork``: keep the reply on a new thread (``chat.branches``) and reload;
``rebase``: keep it on a branch too, then send the user's message again on
the new head (another paid request) and save that."""
TextCallback = Callable[[str], object]
"""Called with each text delta of a streamed reply."""
ToolHandler = Callable[[ToolUseBlock], str | Block | Sequence[Block] | ToolResultBlock]
"""Computes the result of one tool call (``replay(tool_handler=...)``)."""


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
        max_tokens: int | None,
        system: System,
        params: Mapping[str, Any] | None,
        title: str | None,
        policy: Policy,
        conflict: ConflictPolicy = "raise",
        betas: Sequence[str] | None = None,
        api_version: str | None = None,
        max_rebases: int = DEFAULT_MAX_REBASES,
    ) -> None:
        if not thread:
            raise ValueError("thread must be a non-empty string")
        check_store_args(thread_id=thread, title=title, model=model)  # convo.inputs: saveable
        if conflict not in ("raise", "fork", "rebase"):
            raise ValueError(f"conflict must be 'raise', 'fork' or 'rebase', got {conflict!r}")
        self.thread = thread
        self.model = model
        self.max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        self.params: dict[str, Any] = _check_params(dict(params or {}))
        self.betas: tuple[str, ...] = tuple(betas or ())
        self.api_version = api_version
        # What the caller did not set is taken from the thread's saved settings.
        self._given = {
            "max_tokens": max_tokens is not None,
            "params": params is not None,
            "betas": betas is not None,
            "api_version": api_version is not None,
        }
        self.title = title
        self.conflict: ConflictPolicy = conflict
        self.max_rebases = max_rebases
        self._system = system
        self._policy: Policy = policy
        self._conversation = None
        self._pending = None
        self._exists = False
        self._last_payload = None
        self._meta: dict[str, Any] = {}
        self._branches: list[Branch] = []

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
    def settings(self) -> ThreadSettings:
        """The request settings this chat sends with (saved with the thread
        on its first step; change them with ``configure``)."""
        return ThreadSettings(self.model, self.max_tokens, self.params, self.betas, self.api_version)

    @property
    def branches(self) -> tuple[Branch, ...]:
        """Replies the conflict policy kept on other threads (``Branch``:
        ``thread``, ``turn``, ``reason``), oldest first."""
        return tuple(self._branches)

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

    def payload(
        self, *, extra: Mapping[str, Any] | None = None, **params: Unpack[RequestParams]
    ) -> dict[str, Any]:
        """The request body the current conversation would be sent as
        (``params`` and ``extra`` as a step takes them)."""
        model, max_tokens, merged = self._request_params(params, extra, "payload")
        return self.conversation.to_payload(model, max_tokens, **merged)

    # -- building requests -----------------------------------------------

    def _request_params(
        self, params: Mapping[str, Any], extra: Mapping[str, Any] | None, where: str
    ) -> tuple[str, int, dict[str, Any]]:
        given = dict(params)
        check_request_params(given, where=where)
        fields = {**_check_params(dict(extra or {})), **given}
        model = fields.pop("model", self.model)
        max_tokens = fields.pop("max_tokens", self.max_tokens)
        return model, max_tokens, {**self.params, **fields}

    def _prepare(
        self,
        conversation: Conversation,
        params: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        where: str = "send",
    ) -> dict[str, Any]:
        """Check ``conversation`` and build its payload (raises before any I/O)."""
        self._check_transport()
        model, max_tokens, merged = self._request_params(params, extra, where)
        conversation.check_sendable(
            model, max_tokens=max_tokens, api_version=self._api_version(), **merged
        )
        payload = conversation.to_payload(model, max_tokens, **merged)
        self._last_payload = payload
        return payload

    def _check_transport(self) -> None:
        """The transport sends the betas and API version the thread is set to.

        A transport says what it sends (``betas``, ``api_version``: the HTTP
        and SDK transports do); one built without a beta the thread needs
        would change what the requests mean without an error (a beta turns
        features on), so it is refused before anything is sent.  A
        transport that does not say (scripted, cassette, a user's own) is
        taken at its word.
        """
        transport = getattr(self, "transport", None)
        sent = getattr(transport, "betas", None)
        name = type(transport).__name__
        if isinstance(sent, tuple):
            missing = [beta for beta in self.betas if beta not in sent]
            if missing:
                raise ChatStateError(
                    f"thread {self.thread!r} is set to send the betas {missing!r}, which this "
                    f"{name} does not send: build it with betas={list(self.betas)!r} "
                    "(chat.settings.betas), or change the thread's setting with "
                    "chat.configure(betas=[...])"
                )
        version = getattr(transport, "api_version", None)
        if isinstance(version, str) and self.api_version is not None and version != self.api_version:
            raise ChatStateError(
                f"thread {self.thread!r} is set to API version {self.api_version!r}, but this "
                f"{name} sends {version!r}: build it with api_version={self.api_version!r}, "
                f"or change the thread's setting with chat.configure(api_version={version!r})"
            )

    def _api_version(self) -> str:
        """The ``anthropic-version`` the transport sends, whose rules the
        request is checked by (the SDK's default when it does not say)."""
        version = getattr(getattr(self, "transport", None), "api_version", None)
        if isinstance(version, str):
            return version
        # A transport that does not say (scripted, cassette): the thread's setting.
        return self.api_version if isinstance(self.api_version, str) else DEFAULT_API_VERSION

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

    def _adopt(self, settings: ThreadSettings) -> None:
        self.model = settings.model
        self.max_tokens = settings.max_tokens
        self.params = _check_params(dict(settings.params))
        self.betas = settings.betas
        self.api_version = settings.api_version

    def _loaded(self, stored: Conversation | None, meta: Mapping[str, Any] | None = None) -> None:
        self._meta = dict(meta or {})
        if stored is None:
            self._conversation = Conversation(self._system, policy=self._policy)
            self._exists = False
            return
        saved = ThreadSettings.from_meta(self._meta)
        if saved is not None:
            self.max_tokens = self.max_tokens if self._given["max_tokens"] else saved.max_tokens
            if not self._given["params"]:
                self.params = _check_params(dict(saved.params))
            self.betas = self.betas if self._given["betas"] else saved.betas
            self.api_version = self.api_version if self._given["api_version"] else saved.api_version
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
        return {"title": self.title, "meta": self.settings.merged_meta(self._meta)}

    def _saved(self, conversation: Conversation) -> None:
        if not self._exists:
            self._meta = self.settings.merged_meta(self._meta)
        self._conversation = conversation
        self._pending = None
        self._exists = True

    def _like(self, thread: str, model: str | None = None) -> dict[str, Any]:
        return {
            "thread": thread,
            "model": model or self.model,
            "max_tokens": self.max_tokens,
            "params": self.params,
            "betas": self.betas,
            "api_version": self.api_version,
            "policy": self._policy,
            "conflict": self.conflict,
        }

    def _fork_meta(self, model: str | None = None) -> dict[str, Any]:
        """A fork's meta: this thread's, with this chat's settings (and
        ``model``, for a replay on another model)."""
        settings = self.settings if model is None else self.settings.evolve(model=model)
        return settings.merged_meta(self._meta)

    def _run_params(
        self, tools: Mapping[str, Callable[..., Any]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The step params of ``run``: the tool definitions are derived from
        the functions unless the request or the thread already has some."""
        from convo.chat._tools import tool_schema

        given = dict(params)
        check_request_params(given, where="run")
        if "tools" not in given and "tools" not in self.params and tools:
            given["tools"] = [tool_schema(fn, name=name) for name, fn in tools.items()]
        return given

    def _run_first(self, content: Content | None, meta: Mapping[str, Any] | None) -> Conversation | None:
        if content is not None:
            return self.conversation.user(content, meta=meta)
        head = self.conversation.head
        if head is not None and head.role != "assistant":
            return self._respond_step()
        return None

    def _reapply(
        self,
        content: Content,
        *,
        prefill: str | None = None,
        origin: Origin = "human",
        meta: Mapping[str, Any] | None = None,
    ) -> Callable[[Conversation], Conversation]:
        """The user step again, on whatever the thread's head is now (rebase)."""

        def again(conversation: Conversation) -> Conversation:
            step = conversation.user(content, origin=origin, meta=meta)
            return step.prefill(prefill) if prefill is not None else step

        return again

    def __repr__(self) -> str:
        size = "?" if self._conversation is None else len(self._conversation)
        return f"{type(self).__name__}(thread={self.thread!r}, model={self.model!r}, turns={size})"


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    check_reserved(params)
    return params


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


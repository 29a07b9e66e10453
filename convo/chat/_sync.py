"""``Chat``: one synchronous step at a time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from convo._frozen import thaw
from convo.chat import _machine
from convo.chat._events import ChatEvent, TextDelta
from convo.chat._machine import (
    CallTool,
    Emit,
    Fork,
    Load,
    NextEvent,
    Request,
    Save,
    StreamEnd,
    stream_fold,
)
from convo.chat._stream import ChatStream
from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, ThreadNotFoundError

if TYPE_CHECKING:  # type-only: chat sits above store and transport, which never import it
    from convo.store import Store
    from convo.transport import Transport
from convo.chat._core import (
    DEFAULT_CONTINUE_PROMPT,
    DEFAULT_MAX_REBASES,
    DEFAULT_MAX_STEPS,
    ConflictPolicy,
    ContinueMode,
    TextCallback,
    ToolHandler,
    _Core,
    _thread_ids,
    _unique,
)
from convo.chat._params import RequestParams, RunParams, check_request_params
from convo.chat._replay import (
    _replay_plan,
    _replay_start,
)
from convo.chat._settings import ThreadSettings
from convo.turns import Content, Origin, Turn

T = TypeVar("T")


# -- the shell: performs the operations the core yields ------------------------


class _IO:
    """Performs one chat's operations synchronously; holds its open stream."""

    __slots__ = ("chat", "events", "exit", "iterator")

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.events: Any = None
        self.iterator: Iterator[Any] | None = None
        self.exit: Any = None

    def perform(self, op: Any) -> Any:
        chat = self.chat
        if isinstance(op, NextEvent):
            assert self.iterator is not None
            try:
                return next(self.iterator)
            except StopIteration:
                request_id = getattr(self.events, "request_id", None)
                self.close()
                return StreamEnd(request_id if isinstance(request_id, str) else None)
        if isinstance(op, Request):
            if not op.stream:
                return chat.transport.send(op.payload)
            self.close()
            source: Any = chat.transport.stream(op.payload)
            if not hasattr(source, "__iter__") and hasattr(source, "__enter__"):
                # A custom transport's stream may be a context manager giving the events.
                self.exit = source.__exit__
                source = source.__enter__()
            if not hasattr(source, "__iter__"):
                raise TypeError(
                    f"transport.stream() returned {type(source).__name__}: expected an "
                    "iterator of events or a context manager giving one"
                )
            self.events = source
            self.iterator = iter(source)
            return stream_fold(chat.transport)
        if isinstance(op, Save):
            return chat.store.save(op.thread, op.conversation, **op.options)
        if isinstance(op, Load):
            try:
                return chat.store.load(op.thread), chat.store.info(op.thread).meta
            except ThreadNotFoundError:
                return None, {}
        if isinstance(op, Fork):
            return chat.store.fork(op.thread, at=op.at, new_id=op.new_id, meta=op.meta)
        if isinstance(op, CallTool):
            result = op.fn(op.call) if op.whole_call else op.fn(**thaw(op.call.input))
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                raise ChatStateError(f"tool {op.call.name!r} is async: run it with AsyncChat")
            return result
        raise AssertionError(f"unreachable: {op!r}")

    def close(self) -> None:
        events, self.events, self.iterator = self.events, None, None
        exit_, self.exit = self.exit, None
        if exit_ is not None:
            exit_(None, None, None)
            return
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _drive(chat: Chat, machine: _machine.Machine[T]) -> Generator[ChatEvent, None, T]:
    """Run a core verb: perform what it asks, yield what it emits."""
    io = _IO(chat)
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                op = machine.send(value) if error is None else machine.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(op, Emit):
                yield op.event
                continue
            try:
                value = io.perform(op)
            except Exception as exc:
                error = exc
    finally:
        io.close()
        machine.close()


def _complete(gen: Generator[ChatEvent, None, T], on_text: TextCallback | None = None) -> T:
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_text is not None and isinstance(event, TextDelta):
            on_text(event.text)


# -- Chat ---------------------------------------------------------------------


class Chat(_Core):
    """A thread of a store, continued through a transport.

    Args:
        store: a ``convo.store.Store``.
        transport: a ``convo.transport`` transport (``send``, ``stream``).
        thread: the thread id.  An existing thread is loaded (with its
            system prompt); a new one is saved on the first successful step.
        model: the model every request names (``send(model=...)`` overrides).
        max_tokens: the request's ``max_tokens`` (default: the thread's
            saved setting, else ``DEFAULT_MAX_TOKENS``).
        system: the system prompt of a new thread.  For an existing thread
            it must be ``None`` or equal to the stored one.
        params: extra request fields sent every time (``tools``,
            ``thinking``, ``temperature``...; default: the thread's).
        title: the title of a new thread.
        policy: the conversation's append policy (``"strict"``/``"merge"``).
        conflict: what a step does when another writer saved first
            (``ConflictPolicy``: ``"raise"``, ``"fork"``, ``"rebase"``).
        betas: beta names the thread's requests need (saved with it; the
            transport sends the header).
        api_version: the API version the thread is built for (saved with it).
        max_rebases: how often ``rebase`` sends a step again.

    The settings (``chat.settings``) are saved in the thread's meta on its
    first step; ``Chat.reopen`` builds a chat from them, and fields not
    given here are taken from them.  ``configure`` changes them.

    Raises:
        ChatStateError: ``system`` differs from the stored thread's.
    """

    def __init__(
        self,
        store: Store,
        transport: Transport,
        thread: str,
        *,
        model: str,
        max_tokens: int | None = None,
        system: System = None,
        params: Mapping[str, Any] | None = None,
        title: str | None = None,
        policy: Policy = "strict",
        conflict: ConflictPolicy = "raise",
        betas: Sequence[str] | None = None,
        api_version: str | None = None,
        max_rebases: int = DEFAULT_MAX_REBASES,
    ) -> None:
        super().__init__(
            thread,
            model=model,
            max_tokens=max_tokens,
            system=system,
            params=params,
            title=title,
            policy=policy,
            conflict=conflict,
            betas=betas,
            api_version=api_version,
            max_rebases=max_rebases,
        )
        self.store = store
        self.transport = transport
        self.reload()

    @classmethod
    def open(
        cls,
        store: Store,
        transport: Transport,
        thread: str,
        *,
        model: str,
        max_tokens: int | None = None,
        system: System = None,
        params: Mapping[str, Any] | None = None,
        title: str | None = None,
        policy: Policy = "strict",
        conflict: ConflictPolicy = "raise",
        betas: Sequence[str] | None = None,
        api_version: str | None = None,
        max_rebases: int = DEFAULT_MAX_REBASES,
    ) -> Chat:
        """Build a chat on ``thread`` and load it: the constructor, named as
        ``AsyncChat.open`` is (same keywords)."""
        return cls(
            store,
            transport,
            thread,
            model=model,
            max_tokens=max_tokens,
            system=system,
            params=params,
            title=title,
            policy=policy,
            conflict=conflict,
            betas=betas,
            api_version=api_version,
            max_rebases=max_rebases,
        )

    @classmethod
    def reopen(
        cls,
        store: Store,
        transport: Transport,
        thread: str,
        *,
        policy: Policy = "strict",
        conflict: ConflictPolicy = "raise",
    ) -> Chat:
        """A chat on an existing thread, with the settings it was saved with.

        Raises:
            ThreadNotFoundError: no such thread.
            ChatStateError: the thread has no saved settings (saved before
                convo kept them): open it with ``Chat(..., model=...)``.
        """
        settings = _settings_of(store.info(thread).meta, thread)
        return cls(store, transport, thread, model=settings.model, policy=policy, conflict=conflict)

    def reload(self) -> Conversation:
        """Load the thread from the store again (dropping ``pending``)."""
        stored, meta = _IO(self).perform(Load(self.thread))
        self._pending = None
        self._loaded(stored, meta)
        return self.conversation

    def configure(self, **changes: Any) -> None:
        """Change the thread's settings (``model``, ``max_tokens``,
        ``params``, ``betas``, ``api_version``) and save them with it.

        Raises:
            ConflictError: another writer moved the thread (reload first).
        """
        _complete(_drive(self, _machine.configure(self, changes)))

    # -- steps ---------------------------------------------------------

    def send(
        self,
        content: Content,
        *,
        prefill: str | None = None,
        stream: bool = False,
        on_text: TextCallback | None = None,
        origin: Origin = "human",
        meta: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """Append a user turn, send, append the reply, save; return the reply.

        All or nothing: a rule error (raised before anything is sent), a
        transport error or an unreadable response leaves ``conversation``
        and the stored thread unchanged.

        Args:
            content: the user turn (a string, a block or blocks).
            prefill: start the reply with this text (models that accept it).
            stream: use ``transport.stream`` and call ``on_text`` with each
                text delta as it arrives.
            on_text: the streaming callback.
            origin: the user turn's origin (``human``; ``synthetic`` for
                text the program wrote).
            meta: the user turn's meta.
            extra: request fields convo does not know yet, sent unchecked.
            params: request fields for this call only (``RequestParams``:
                ``tools``, ``thinking``, ``temperature``...); ``model`` and
                ``max_tokens`` override the chat's.

        Returns:
            The assistant turn (``turn.meta["stop_reason"]``; see
            ``stop_reason``, ``tool_results``, ``resume``, ``continue_``).

        Raises:
            RequestParamError: a keyword is not a known request field
                (nothing was sent).
            RuleError: the user turn breaks an append rule, or
                ``NotSendableError`` for a send rule (nothing was sent).
            TransportError: the request failed (nothing was saved).
            ConflictError: another writer moved the thread; see ``pending``.
        """
        check_request_params(params, where="send")
        step = self._user_step(content, prefill=prefill, origin=origin, meta=meta)
        again = self._reapply(content, prefill=prefill, origin=origin, meta=meta)
        return self._exchange(step, stream, on_text, params, extra, "send", again)

    def stream(
        self,
        content: Content | None = None,
        *,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        prefill: str | None = None,
        meta: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RunParams],
    ) -> ChatStream:
        """Send ``content`` and stream the reply as typed events.

        ``for event in chat.stream("hi")`` yields ``TextDelta``,
        ``ThinkingDelta``, ``ToolCallStart``, ``ToolInputDelta`` as they
        arrive, ``TurnEnd`` once the reply is saved, and ``Finished`` last.
        With ``tools`` it runs the tool loop of ``run`` (``ToolRan`` for
        each call; a ``TurnEnd`` between the replies).  Nothing runs until
        the first event is asked for.  If the stream breaks (or is closed
        early), the step is not saved and the conversation is unchanged.
        """
        check_request_params(params, where="stream")
        if tools is not None:
            return ChatStream(_drive(self, self._run_machine(content, tools, max_steps, True, params, extra, meta)))
        step = self._user_step(content, prefill=prefill, origin="human", meta=meta) if content is not None else self._respond_step()
        again = self._reapply(content, prefill=prefill, meta=meta) if content is not None else None
        machine = _machine.exchange(self, step, params, extra, "stream", stream=True, reapply=again)
        return ChatStream(_drive(self, _machine.finish(machine, stream=True)))

    def run(
        self,
        content: Content | None,
        *,
        tools: Mapping[str, Callable[..., Any]],
        max_steps: int = DEFAULT_MAX_STEPS,
        meta: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RunParams],
    ) -> Turn:
        """Send ``content`` and run the tool loop until the model stops
        asking for tools; return the final reply.

        Each tool call runs ``tools[name](**input)``; what it returns is the
        tool result (text and blocks as they are, anything else as JSON),
        and an exception becomes an ``is_error`` result the model sees.
        ``pause_turn`` replies are continued.  Each request with its reply
        is a step, saved all or nothing before the next.  The tool
        definitions are derived from the functions (``tool_schema``) unless
        the request or the thread has ``tools``.  ``content=None`` goes on
        from the thread's head (e.g. after ``ToolLoopError``).

        Raises:
            ToolLoopError: ``max_steps`` requests were sent and the model
                still asks for tools (everything up to then is saved; the
                calls of the last reply have not run).
            ChatStateError: a coroutine function among ``tools`` (use
                ``AsyncChat``).
        """
        check_request_params(params, where="run")
        machine = self._run_machine(content, tools, max_steps, False, params, extra, meta)
        return _complete(_drive(self, machine))

    def _run_machine(
        self,
        content: Content | None,
        tools: Mapping[str, Callable[..., Any]],
        max_steps: int,
        stream: bool,
        params: Mapping[str, Any],
        extra: Mapping[str, Any] | None,
        meta: Mapping[str, Any] | None,
    ) -> _machine.Machine[Turn]:
        for name, fn in tools.items():
            if inspect.iscoroutinefunction(fn):
                raise ChatStateError(f"tool {name!r} is a coroutine function: run it with AsyncChat")
        first = self._run_first(content, meta)
        again = self._reapply(content, meta=meta) if content is not None else None
        machine = _machine.run(
            self, first, tools, self._run_params(tools, params), extra,
            max_steps=max_steps, stream=stream, reapply=again,
        )
        return _machine.finish(machine, stream=stream)

    def tool_results(
        self,
        results: Mapping[str, Any],
        *,
        errors: Sequence[str] = (),
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """Answer the last reply's tool calls and send; return the next reply.

        ``results`` maps each ``tool_use`` id to its result (a string, a
        block or blocks, or a ``ToolResultBlock``); ids in ``errors`` are
        sent with ``is_error: true``.
        """
        check_request_params(params, where="tool_results")
        step = self.conversation.tool_results(results, errors=errors)
        return self._exchange(step, stream, on_text, params, extra, "tool_results")

    def respond(
        self,
        *,
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """Send the thread as it stands and save the reply: for a thread that
        ends with a user turn (an imported payload) or a prefill.

        Raises:
            ChatStateError: the thread is empty or ends with a model reply.
        """
        check_request_params(params, where="respond")
        return self._exchange(self._respond_step(), stream, on_text, params, extra, "respond")

    def resume(
        self,
        *,
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """Continue a reply the API paused (``stop_reason == "pause_turn"``).

        The paused turn is sent back as it is; the continuation is joined
        to it into one turn (``meta["prefix"]`` keeps the paused content),
        which replaces the paused turn as the thread's head.

        Raises:
            ChatStateError: the last reply was not paused.
        """
        check_request_params(params, where="resume")
        return self._exchange(self._resume_step(), stream, on_text, params, extra, "resume")

    def continue_(
        self,
        *,
        prompt: str = DEFAULT_CONTINUE_PROMPT,
        mode: ContinueMode = "auto",
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """Continue a reply cut off by ``max_tokens``.

        ``mode="prefill"`` sends the partial reply back as a prefill (its
        trailing whitespace trimmed) and joins the continuation into it, so
        the thread keeps ONE assistant turn; it needs a model that accepts
        prefill.  ``mode="user"`` keeps the partial reply and appends a
        synthetic user turn ``prompt`` (``meta["continue"] = True``); the
        continuation is a new assistant turn.  ``"auto"`` (the default)
        picks prefill when the model's profile accepts it.

        Raises:
            ChatStateError: the last reply did not stop at ``max_tokens``,
                or was cut off inside a tool call.
        """
        check_request_params(params, where="continue_")
        model = params.get("model", self.model)
        step = self._continue_step(prompt, mode, model)
        return self._exchange(step, stream, on_text, params, extra, "continue_")

    def commit(self, conversation: Conversation) -> None:
        """Save turns written by the program without sending anything
        (few-shot examples, a synthetic assistant turn).

        ``conversation`` must extend ``chat.conversation``.
        """
        self._committable(conversation)
        self._save(conversation)

    def _exchange(
        self,
        step: Conversation,
        stream: bool,
        on_text: TextCallback | None,
        params: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        where: str = "send",
        reapply: Callable[[Conversation], Conversation] | None = None,
    ) -> Turn:
        machine = _machine.exchange(self, step, params, extra, where, stream=stream, reapply=reapply)
        return _complete(_drive(self, machine), on_text)

    def _save(self, conversation: Conversation) -> None:
        _complete(_drive(self, _machine.save(self, conversation)))

    def save_pending(self, new_thread: str | None = None) -> Chat:
        """Save the reply that could not be saved.

        With ``new_thread`` (the way out of a ``ConflictError``), the thread
        is forked where this chat last saw it and the pending conversation
        is saved there; returns a chat on the new thread.  Without it, the
        save on this thread is retried (after a transient store error) and
        this chat is returned.

        Raises:
            ChatStateError: nothing is pending.
        """
        pending = self._pending
        if pending is None:
            raise ChatStateError("nothing is pending: the last step was saved")
        if new_thread is None:
            self._save(pending)
            return self
        base = len(self.conversation)
        if base:
            self.store.fork(self.thread, at=base, new_id=new_thread, meta=self._fork_meta())
        other = Chat(self.store, self.transport, **self._like(new_thread))
        other.title = self.title
        other._save(pending)
        self._pending = None
        return other

    # -- branching ---------------------------------------------------------

    def fork(self, at: int, new_thread: str | None = None) -> Chat:
        """Continue from the first ``at`` turns on a new thread (negative
        ``at`` counts from the end); returns a chat on it.

        The default id is ``"<thread>-fork"`` (``-2``, ``-3``... when taken).
        """
        if at < 0:
            at += len(self.conversation)
        new_id = new_thread or _unique(f"{self.thread}-fork", _thread_ids(self.store.threads()))
        self.store.fork(self.thread, at=at, new_id=new_id, meta=self._fork_meta())
        return Chat(self.store, self.transport, **self._like(new_id))

    def replay(
        self,
        other_model: str | None = None,
        *,
        new_thread: str | None = None,
        tool_handler: ToolHandler | None = None,
        keep_prefill: bool | None = None,
    ) -> Chat:
        """Send each prompt of this thread again, building a new fork.

        The new thread forks this one at its first prompt (so the tree
        shows where it came from).  Each user turn is appended again and,
        where the recorded thread has a model reply, sent to the transport
        (with ``other_model``, default this chat's model); turns the program
        wrote (few-shot assistant turns, continue prompts) are copied.
        Tool calls of the new replies are answered with the recorded results
        (matched by position and tool name), or by ``tool_handler``.
        Prefills are sent again when the model accepts them
        (``keep_prefill`` forces either way).  Each step is saved as it
        completes: if one fails, the new thread holds the steps before it.

        Returns:
            A chat on the new thread (default id ``"<thread>-replay"``).

        Raises:
            ChatStateError: nothing to replay, or the new replies call other
                tools than the recorded ones (without ``tool_handler``).
        """
        turns = self.conversation.turns
        start = _replay_start(turns)
        model = other_model or self.model
        new_id = new_thread or _unique(f"{self.thread}-replay", _thread_ids(self.store.threads()))
        self.store.fork(self.thread, at=start + 1, new_id=new_id, meta=self._fork_meta(model))
        chat = Chat(self.store, self.transport, **self._like(new_id, model))
        plan = _replay_plan(
            turns,
            start,
            chat.conversation,
            model=model,
            keep_prefill=keep_prefill,
            run_tools=tool_handler is not None,
        )
        _complete(_drive(chat, _machine.replay(chat, plan, tool_handler)))
        return chat


def _settings_of(meta: Mapping[str, Any], thread: str) -> ThreadSettings:
    settings = ThreadSettings.from_meta(meta)
    if settings is None:
        raise ChatStateError(
            f"thread {thread!r} has no saved settings (saved before convo kept them): "
            "open it with Chat(store, transport, thread, model=...)"
        )
    return settings

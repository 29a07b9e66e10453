"""``Chat``: one synchronous step at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, ThreadNotFoundError

if TYPE_CHECKING:  # type-only: chat sits above store and transport, which never import it
    from convo.store import Store
    from convo.transport import Transport
from convo.chat._core import (
    DEFAULT_CONTINUE_PROMPT,
    DEFAULT_MAX_TOKENS,
    MAX_RESUMES,
    ContinueMode,
    TextCallback,
    ToolHandler,
    _Core,
    _tap,
    _thread_ids,
    _unique,
    _with_request_id,
    opened_events,
)
from convo.chat._replay import (
    _pump,
    _replay_plan,
    _replay_start,
)
from convo.turns import Content, Origin, Turn

# -- Chat ---------------------------------------------------------------------


class Chat(_Core):
    """A thread of a store, continued through a transport.

    Args:
        store: a ``convo.store.Store``.
        transport: a ``convo.transport`` transport (``send``, ``stream``).
        thread: the thread id.  An existing thread is loaded (with its
            system prompt); a new one is saved on the first successful step.
        model: the model every request names (``send(model=...)`` overrides).
        max_tokens: the request's ``max_tokens``.
        system: the system prompt of a new thread.  For an existing thread
            it must be ``None`` or equal to the stored one.
        params: extra request fields sent every time (``tools``,
            ``thinking``, ``temperature``...).
        title: the title of a new thread.
        policy: the conversation's append policy (``"strict"``/``"merge"``).

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
        max_tokens: int = DEFAULT_MAX_TOKENS,
        system: System = None,
        params: Mapping[str, Any] | None = None,
        title: str | None = None,
        policy: Policy = "strict",
    ) -> None:
        super().__init__(
            thread,
            model=model,
            max_tokens=max_tokens,
            system=system,
            params=params,
            title=title,
            policy=policy,
        )
        self.store = store
        self.transport = transport
        self.reload()

    def reload(self) -> Conversation:
        """Load the thread from the store again (dropping ``pending``)."""
        try:
            stored: Conversation | None = self.store.load(self.thread)
        except ThreadNotFoundError:
            stored = None
        self._pending = None
        self._loaded(stored)
        return self.conversation

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
        **params: Any,
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
            params: request fields for this call only; ``model`` and
                ``max_tokens`` override the chat's.

        Returns:
            The assistant turn (``turn.meta["stop_reason"]``; see
            ``stop_reason``, ``tool_results``, ``resume``, ``continue_``).

        Raises:
            RuleError: the user turn breaks an append rule, or
                ``NotSendableError`` for a send rule (nothing was sent).
            TransportError: the request failed (nothing was saved).
            ConflictError: another writer moved the thread; see ``pending``.
        """
        step = self._user_step(content, prefill=prefill, origin=origin, meta=meta)
        return self._exchange(step, stream, on_text, params)

    def tool_results(
        self,
        results: Mapping[str, Any],
        *,
        errors: Sequence[str] = (),
        stream: bool = False,
        on_text: TextCallback | None = None,
        **params: Any,
    ) -> Turn:
        """Answer the last reply's tool calls and send; return the next reply.

        ``results`` maps each ``tool_use`` id to its result (a string, a
        block or blocks, or a ``ToolResultBlock``); ids in ``errors`` are
        sent with ``is_error: true``.
        """
        step = self.conversation.tool_results(results, errors=errors)
        return self._exchange(step, stream, on_text, params)

    def respond(
        self, *, stream: bool = False, on_text: TextCallback | None = None, **params: Any
    ) -> Turn:
        """Send the thread as it stands and save the reply: for a thread that
        ends with a user turn (an imported payload) or a prefill.

        Raises:
            ChatStateError: the thread is empty or ends with a model reply.
        """
        return self._exchange(self._respond_step(), stream, on_text, params)

    def resume(
        self, *, stream: bool = False, on_text: TextCallback | None = None, **params: Any
    ) -> Turn:
        """Continue a reply the API paused (``stop_reason == "pause_turn"``).

        The paused turn is sent back as it is; the continuation is joined
        to it into one turn (``meta["prefix"]`` keeps the paused content),
        which replaces the paused turn as the thread's head.

        Raises:
            ChatStateError: the last reply was not paused.
        """
        return self._exchange(self._resume_step(), stream, on_text, params)

    def continue_(
        self,
        *,
        prompt: str = DEFAULT_CONTINUE_PROMPT,
        mode: ContinueMode = "auto",
        stream: bool = False,
        on_text: TextCallback | None = None,
        **params: Any,
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
        model = params.get("model", self.model)
        step = self._continue_step(prompt, mode, model)
        return self._exchange(step, stream, on_text, params)

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
    ) -> Turn:
        payload = self._prepare(step, params)
        response = self._stream(payload, on_text) if stream else self._send(payload)
        replied = step.append_response(response)
        self._save(replied)
        head = replied.head
        assert head is not None
        return head

    def _send(self, payload: dict[str, Any]) -> Mapping[str, Any]:
        return _with_request_id(self.transport.send(payload))

    def _stream(self, payload: dict[str, Any], on_text: TextCallback | None) -> Mapping[str, Any]:
        from convo.transport import Accumulator

        acc = Accumulator()
        with opened_events(self.transport.stream(payload)) as events:
            for event in events:
                acc.add(event)
                _tap(event, on_text)
        return _with_request_id(acc.message(), events)

    def _save(self, conversation: Conversation) -> None:
        replaces = self._replaces(conversation)
        try:
            if replaces is None:
                self.store.save(self.thread, conversation, **self._save_args())
            else:
                self.store.save(self.thread, conversation, expected_head=replaces)
        except Exception:
            self._pending = conversation
            raise
        self._saved(conversation)

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
            self.store.fork(self.thread, at=base, new_id=new_thread)
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
        self.store.fork(self.thread, at=at, new_id=new_id)
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
        self.store.fork(self.thread, at=start + 1, new_id=new_id)
        chat = Chat(self.store, self.transport, **self._like(new_id, model))
        plan = _replay_plan(
            turns,
            start,
            chat.conversation,
            model=model,
            keep_prefill=keep_prefill,
            run_tools=tool_handler is not None,
        )
        for action, value in _pump(plan, chat):
            if action == "send":
                chat._replay_send(value)
            elif action == "answer":
                assert tool_handler is not None
                chat._replay_answer({call.id: tool_handler(call) for call in value})
            elif len(value) > len(chat.conversation):
                chat.commit(value)
        return chat

    def _replay_send(self, step: Conversation) -> None:
        self._exchange(step, False, None, {})
        for _ in range(MAX_RESUMES):
            if self.stop_reason != "pause_turn":
                break
            self.resume()

    def _replay_answer(self, results: Mapping[str, Any]) -> None:
        self._replay_send(self.conversation.tool_results(results))

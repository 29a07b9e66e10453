"""``AsyncChat``: the asyncio twin of ``Chat``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from convo.blocks import ToolUseBlock
from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, ThreadNotFoundError

if TYPE_CHECKING:  # type-only: chat sits above store and transport, which never import it
    from convo.store import AsyncStore
    from convo.transport import AsyncTransport
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
    opened_async_events,
)
from convo.chat._replay import (
    _pump,
    _replay_plan,
    _replay_start,
)
from convo.turns import Content, Origin, Turn

# -- AsyncChat ----------------------------------------------------------------


class AsyncChat(_Core):
    """The asyncio twin of ``Chat`` (``AsyncStore`` + ``AsyncTransport``).

    Build it with ``chat = await AsyncChat.open(store, transport, "t1",
    model=...)``, or construct it and ``await chat.load()``; every step
    loads the thread first if needed.  The methods are ``Chat``'s, awaited;
    ``on_text`` may be a coroutine function.
    """

    def __init__(
        self,
        store: AsyncStore,
        transport: AsyncTransport,
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

    @classmethod
    async def open(
        cls,
        store: AsyncStore,
        transport: AsyncTransport,
        thread: str,
        **options: Any,
    ) -> AsyncChat:
        """Build a chat and load its thread (``Chat``'s keyword options)."""
        chat = cls(store, transport, thread, **options)
        await chat.load()
        return chat

    async def load(self) -> Conversation:
        """Load the thread (again), dropping ``pending``."""
        try:
            stored: Conversation | None = await self.store.load(self.thread)
        except ThreadNotFoundError:
            stored = None
        self._pending = None
        self._loaded(stored)
        return self.conversation

    reload = load

    async def _ready(self) -> None:
        if self._conversation is None:
            await self.load()

    async def send(
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
        """See ``Chat.send``."""
        await self._ready()
        step = self._user_step(content, prefill=prefill, origin=origin, meta=meta)
        return await self._exchange(step, stream, on_text, params)

    async def tool_results(
        self,
        results: Mapping[str, Any],
        *,
        errors: Sequence[str] = (),
        stream: bool = False,
        on_text: TextCallback | None = None,
        **params: Any,
    ) -> Turn:
        """See ``Chat.tool_results``."""
        await self._ready()
        step = self.conversation.tool_results(results, errors=errors)
        return await self._exchange(step, stream, on_text, params)

    async def respond(
        self, *, stream: bool = False, on_text: TextCallback | None = None, **params: Any
    ) -> Turn:
        """See ``Chat.respond``."""
        await self._ready()
        return await self._exchange(self._respond_step(), stream, on_text, params)

    async def resume(
        self, *, stream: bool = False, on_text: TextCallback | None = None, **params: Any
    ) -> Turn:
        """See ``Chat.resume``."""
        await self._ready()
        return await self._exchange(self._resume_step(), stream, on_text, params)

    async def continue_(
        self,
        *,
        prompt: str = DEFAULT_CONTINUE_PROMPT,
        mode: ContinueMode = "auto",
        stream: bool = False,
        on_text: TextCallback | None = None,
        **params: Any,
    ) -> Turn:
        """See ``Chat.continue_``."""
        await self._ready()
        step = self._continue_step(prompt, mode, params.get("model", self.model))
        return await self._exchange(step, stream, on_text, params)

    async def commit(self, conversation: Conversation) -> None:
        """See ``Chat.commit``."""
        await self._ready()
        self._committable(conversation)
        await self._save(conversation)

    async def _exchange(
        self,
        step: Conversation,
        stream: bool,
        on_text: TextCallback | None,
        params: Mapping[str, Any],
    ) -> Turn:
        payload = self._prepare(step, params)
        if stream:
            response = await self._stream(payload, on_text)
        else:
            response = _with_request_id(await self.transport.send(payload))
        replied = step.append_response(response)
        await self._save(replied)
        head = replied.head
        assert head is not None
        return head

    async def _stream(
        self, payload: dict[str, Any], on_text: TextCallback | None
    ) -> Mapping[str, Any]:
        from convo.transport import Accumulator

        acc = Accumulator()
        async with opened_async_events(self.transport.stream(payload)) as events:
            async for event in events:
                acc.add(event)
                result = _tap(event, on_text)
                if inspect.isawaitable(result):
                    await result
        return _with_request_id(acc.message(), events)

    async def _save(self, conversation: Conversation) -> None:
        replaces = self._replaces(conversation)
        try:
            if replaces is None:
                await self.store.save(self.thread, conversation, **self._save_args())
            else:
                await self.store.save(self.thread, conversation, expected_head=replaces)
        except Exception:
            self._pending = conversation
            raise
        self._saved(conversation)

    async def save_pending(self, new_thread: str | None = None) -> AsyncChat:
        """See ``Chat.save_pending``."""
        pending = self._pending
        if pending is None:
            raise ChatStateError("nothing is pending: the last step was saved")
        if new_thread is None:
            await self._save(pending)
            return self
        base = len(self.conversation)
        if base:
            await self.store.fork(self.thread, at=base, new_id=new_thread)
        other = await AsyncChat.open(self.store, self.transport, **self._like(new_thread))
        other.title = self.title
        await other._save(pending)
        self._pending = None
        return other

    async def fork(self, at: int, new_thread: str | None = None) -> AsyncChat:
        """See ``Chat.fork``."""
        await self._ready()
        if at < 0:
            at += len(self.conversation)
        taken = _thread_ids(await self.store.threads())
        new_id = new_thread or _unique(f"{self.thread}-fork", taken)
        await self.store.fork(self.thread, at=at, new_id=new_id)
        return await AsyncChat.open(self.store, self.transport, **self._like(new_id))

    async def replay(
        self,
        other_model: str | None = None,
        *,
        new_thread: str | None = None,
        tool_handler: ToolHandler | Callable[[ToolUseBlock], Awaitable[Any]] | None = None,
        keep_prefill: bool | None = None,
    ) -> AsyncChat:
        """See ``Chat.replay``; ``tool_handler`` may be a coroutine function."""
        await self._ready()
        turns = self.conversation.turns
        start = _replay_start(turns)
        model = other_model or self.model
        taken = _thread_ids(await self.store.threads())
        new_id = new_thread or _unique(f"{self.thread}-replay", taken)
        await self.store.fork(self.thread, at=start + 1, new_id=new_id)
        chat = await AsyncChat.open(self.store, self.transport, **self._like(new_id, model))
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
                await chat._replay_send(value)
            elif action == "answer":
                assert tool_handler is not None
                results = {}
                for call in value:
                    result = tool_handler(call)
                    results[call.id] = await result if inspect.isawaitable(result) else result
                await chat._replay_send(chat.conversation.tool_results(results))
            elif len(value) > len(chat.conversation):
                await chat.commit(value)
        return chat

    async def _replay_send(self, step: Conversation) -> None:
        await self._exchange(step, False, None, {})
        for _ in range(MAX_RESUMES):
            if self.stop_reason != "pause_turn":
                break
            await self.resume()

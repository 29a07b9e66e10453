"""``AsyncChat``: the asyncio twin of ``Chat``."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from convo._frozen import thaw
from convo.blocks import ToolUseBlock
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
from convo.chat._settings import ThreadSettings
from convo.chat._stream import AsyncChatStream
from convo.conversation import Conversation, Policy, System
from convo.errors import ChatStateError, ThreadNotFoundError

if TYPE_CHECKING:  # type-only: chat sits above store and transport, which never import it
    from convo.store import AsyncStore
    from convo.transport import AsyncTransport
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
from convo.turns import Content, Origin, Turn

# -- the shell: performs the operations the core yields ------------------------


class _AsyncIO:
    """Performs one chat's operations with ``await``; holds its open stream."""

    __slots__ = ("chat", "events", "exit", "iterator")

    def __init__(self, chat: AsyncChat) -> None:
        self.chat = chat
        self.events: Any = None
        self.iterator: AsyncIterator[Any] | None = None
        self.exit: Any = None

    async def perform(self, op: Any) -> Any:
        chat = self.chat
        if isinstance(op, NextEvent):
            assert self.iterator is not None
            try:
                return await anext(self.iterator)
            except StopAsyncIteration:
                request_id = getattr(self.events, "request_id", None)
                await self.aclose()
                return StreamEnd(request_id if isinstance(request_id, str) else None)
        if isinstance(op, Request):
            if not op.stream:
                return await chat.transport.send(op.payload)
            await self.aclose()
            source: Any = chat.transport.stream(op.payload)
            if not hasattr(source, "__aiter__") and hasattr(source, "__aenter__"):
                # A custom transport's stream may be a context manager giving the events.
                self.exit = source.__aexit__
                source = await source.__aenter__()
            if not hasattr(source, "__aiter__"):
                raise TypeError(
                    f"transport.stream() returned {type(source).__name__}: expected an "
                    "async iterator of events or an async context manager giving one"
                )
            self.events = source
            self.iterator = aiter(source)
            return stream_fold(chat.transport)
        if isinstance(op, Save):
            return await chat.store.save(op.thread, op.conversation, **op.options)
        if isinstance(op, Load):
            try:
                stored = await chat.store.load(op.thread)
                return stored, (await chat.store.info(op.thread)).meta
            except ThreadNotFoundError:
                return None, {}
        if isinstance(op, Fork):
            return await chat.store.fork(op.thread, at=op.at, new_id=op.new_id, meta=op.meta)
        if isinstance(op, CallTool):
            result = op.fn(op.call) if op.whole_call else op.fn(**thaw(op.call.input))
            return await result if inspect.isawaitable(result) else result
        raise AssertionError(f"unreachable: {op!r}")

    async def aclose(self) -> None:
        events, self.events, self.iterator = self.events, None, None
        exit_, self.exit = self.exit, None
        if exit_ is not None:
            await exit_(None, None, None)
            return
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


class _Result:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


async def _drive(
    chat: AsyncChat, machine: _machine.Machine[Any], out: _Result
) -> AsyncGenerator[ChatEvent, None]:
    """Run a core verb: perform what it asks, yield what it emits; the
    verb's result goes to ``out`` (an async generator returns nothing)."""
    io = _AsyncIO(chat)
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                op = machine.send(value) if error is None else machine.throw(error)
            except StopIteration as stop:
                out.value = stop.value
                return
            value, error = None, None
            if isinstance(op, Emit):
                yield op.event
                continue
            try:
                value = await io.perform(op)
            except Exception as exc:
                error = exc
    finally:
        await io.aclose()
        machine.close()


async def _complete(chat: AsyncChat, machine: _machine.Machine[Any], on_text: TextCallback | None = None) -> Any:
    out = _Result()
    async for event in _drive(chat, machine, out):
        if on_text is not None and isinstance(event, TextDelta):
            result = on_text(event.text)
            if inspect.isawaitable(result):
                await result
    return out.value


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

    @classmethod
    async def open(
        cls,
        store: AsyncStore,
        transport: AsyncTransport,
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
    ) -> AsyncChat:
        """Build a chat and load its thread (``Chat``'s keywords)."""
        chat = cls(
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
        await chat.load()
        return chat

    @classmethod
    async def reopen(
        cls,
        store: AsyncStore,
        transport: AsyncTransport,
        thread: str,
        *,
        policy: Policy = "strict",
        conflict: ConflictPolicy = "raise",
    ) -> AsyncChat:
        """See ``Chat.reopen``."""
        settings = ThreadSettings.from_meta((await store.info(thread)).meta)
        if settings is None:
            raise ChatStateError(
                f"thread {thread!r} has no saved settings (saved before convo kept them): "
                "open it with AsyncChat.open(store, transport, thread, model=...)"
            )
        return await cls.open(store, transport, thread, model=settings.model, policy=policy, conflict=conflict)

    async def load(self) -> Conversation:
        """Load the thread (again), dropping ``pending``."""
        stored, meta = await _AsyncIO(self).perform(Load(self.thread))
        self._pending = None
        self._loaded(stored, meta)
        return self.conversation

    async def configure(self, **changes: Any) -> None:
        """See ``Chat.configure``."""
        await self._ready()
        await _complete(self, _machine.configure(self, changes))

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
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """See ``Chat.send``."""
        check_request_params(params, where="send")
        await self._ready()
        step = self._user_step(content, prefill=prefill, origin=origin, meta=meta)
        again = self._reapply(content, prefill=prefill, origin=origin, meta=meta)
        return await self._exchange(step, stream, on_text, params, extra, "send", again)

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
    ) -> AsyncChatStream:
        """See ``Chat.stream``: ``async for event in achat.stream("hi")``."""
        check_request_params(params, where="stream")

        async def events() -> AsyncGenerator[ChatEvent, None]:
            await self._ready()
            if tools is not None:
                machine = self._run_machine(content, tools, max_steps, True, params, extra, meta)
            else:
                step = (
                    self._user_step(content, prefill=prefill, origin="human", meta=meta)
                    if content is not None
                    else self._respond_step()
                )
                again = self._reapply(content, prefill=prefill, meta=meta) if content is not None else None
                exchange = _machine.exchange(self, step, params, extra, "stream", stream=True, reapply=again)
                machine = _machine.finish(exchange, stream=True)
            gen = _drive(self, machine, _Result())
            try:
                async for event in gen:
                    yield event
            finally:
                await gen.aclose()

        return AsyncChatStream(events())

    async def run(
        self,
        content: Content | None,
        *,
        tools: Mapping[str, Callable[..., Any]],
        max_steps: int = DEFAULT_MAX_STEPS,
        meta: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RunParams],
    ) -> Turn:
        """See ``Chat.run``; coroutine functions among ``tools`` are awaited."""
        check_request_params(params, where="run")
        await self._ready()
        machine = self._run_machine(content, tools, max_steps, False, params, extra, meta)
        turn: Turn = await _complete(self, machine)
        return turn

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
        first = self._run_first(content, meta)
        again = self._reapply(content, meta=meta) if content is not None else None
        machine = _machine.run(
            self, first, tools, self._run_params(tools, params), extra,
            max_steps=max_steps, stream=stream, reapply=again,
        )
        return _machine.finish(machine, stream=stream)

    async def tool_results(
        self,
        results: Mapping[str, Any],
        *,
        errors: Sequence[str] = (),
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """See ``Chat.tool_results``."""
        check_request_params(params, where="tool_results")
        await self._ready()
        step = self.conversation.tool_results(results, errors=errors)
        return await self._exchange(step, stream, on_text, params, extra, "tool_results")

    async def respond(
        self,
        *,
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """See ``Chat.respond``."""
        check_request_params(params, where="respond")
        await self._ready()
        return await self._exchange(self._respond_step(), stream, on_text, params, extra, "respond")

    async def resume(
        self,
        *,
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """See ``Chat.resume``."""
        check_request_params(params, where="resume")
        await self._ready()
        return await self._exchange(self._resume_step(), stream, on_text, params, extra, "resume")

    async def continue_(
        self,
        *,
        prompt: str = DEFAULT_CONTINUE_PROMPT,
        mode: ContinueMode = "auto",
        stream: bool = False,
        on_text: TextCallback | None = None,
        extra: Mapping[str, Any] | None = None,
        **params: Unpack[RequestParams],
    ) -> Turn:
        """See ``Chat.continue_``."""
        check_request_params(params, where="continue_")
        await self._ready()
        step = self._continue_step(prompt, mode, params.get("model", self.model))
        return await self._exchange(step, stream, on_text, params, extra, "continue_")

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
        extra: Mapping[str, Any] | None = None,
        where: str = "send",
        reapply: Callable[[Conversation], Conversation] | None = None,
    ) -> Turn:
        machine = _machine.exchange(self, step, params, extra, where, stream=stream, reapply=reapply)
        turn: Turn = await _complete(self, machine, on_text)
        return turn

    async def _save(self, conversation: Conversation) -> None:
        await _complete(self, _machine.save(self, conversation))

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
            await self.store.fork(self.thread, at=base, new_id=new_thread, meta=self._fork_meta())
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
        await self.store.fork(self.thread, at=at, new_id=new_id, meta=self._fork_meta())
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
        await self.store.fork(self.thread, at=start + 1, new_id=new_id, meta=self._fork_meta(model))
        chat = await AsyncChat.open(self.store, self.transport, **self._like(new_id, model))
        plan = _replay_plan(
            turns,
            start,
            chat.conversation,
            model=model,
            keep_prefill=keep_prefill,
            run_tools=tool_handler is not None,
        )
        await _complete(chat, _machine.replay(chat, plan, tool_handler))
        return chat

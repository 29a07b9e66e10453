"""The chat verbs, written once, without I/O (the sans-IO core).

Each verb is a generator that *yields* the I/O it needs as a small frozen
operation and *receives* its result, as h11 and httpcore do: ``Request``
(send a payload; returns the response, or opens a stream), ``NextEvent``
(the next raw stream event, or ``StreamEnd``), ``Save``/``Load``/``Fork``
(the store), ``CallTool`` (run a local tool) and ``Emit`` (hand an event to
the caller of ``stream``).  A failed operation is thrown back into the
generator at the ``yield``, so the verb decides what a failure means (a
tool's exception becomes an ``is_error`` result, a lost compare-and-set
goes to the conflict policy) in one place.

``Chat`` and ``AsyncChat`` are thin shells that perform the operations
(``_sync.py``/``_async.py``: one small ``perform`` each), so the tool
runner, streaming, the conflict policy and every step exist once.  Chosen
over generating the sync twin with ``unasync``: the verbs hold the rules
(what to save when, what a conflict does), and keeping them free of I/O
makes them testable and readable as one text, with no build step and no
generated file to keep in sync; the shells are ~60 lines each.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import frozen

from convo.blocks import ToolUseBlock
from convo.chat._events import Branched, ChatEvent, Finished, ToolRan, TurnEnd, events_of
from convo.chat._tools import tool_output
from convo.conversation import Conversation
from convo.errors import ChatStateError, ConflictError, ThreadExistsError, ToolLoopError
from convo.turns import Turn

if TYPE_CHECKING:
    from convo.chat._core import _Core
    from convo.transport.stream import Accumulator

__all__ = [
    "Branch",
    "CallTool",
    "Emit",
    "Fork",
    "Load",
    "NextEvent",
    "Request",
    "Save",
    "StreamEnd",
    "stream_fold",
]

T = TypeVar("T")


# -- the operations a verb yields ----------------------------------------------


@frozen
class Request:
    """Send ``payload`` (``stream``: open the event stream and return the fold
    for it, ``stream_fold(transport)``)."""

    payload: dict[str, Any]
    stream: bool


@frozen
class NextEvent:
    """The next raw event of the open stream, or a ``StreamEnd``."""


@frozen
class StreamEnd:
    """The stream is over (its ``request-id`` header, if known)."""

    request_id: str | None


@frozen
class Save:
    """``store.save(thread, conversation, **options)``; returns its ``ThreadInfo``."""

    thread: str
    conversation: Conversation
    options: dict[str, Any]


@frozen
class Load:
    """Load ``thread``: returns ``(conversation, meta)``, ``(None, {})`` if absent."""

    thread: str


@frozen
class Fork:
    """``store.fork(thread, at=at, new_id=new_id, meta=meta)``; returns its ``ThreadInfo``."""

    thread: str
    at: int
    new_id: str
    meta: dict[str, Any] | None


@frozen
class CallTool:
    """Call ``fn(**call.input)``, or ``fn(call)`` with ``whole_call``
    (awaiting a coroutine function, async)."""

    fn: Callable[..., Any]
    call: ToolUseBlock
    whole_call: bool = False


@frozen
class Emit:
    """Hand ``event`` to whoever iterates the chat's stream."""

    event: ChatEvent


Op = Request | NextEvent | Save | Load | Fork | CallTool | Emit
Machine = Generator[Op, Any, T]


@frozen
class Branch:
    """A reply the conflict policy saved on another thread."""

    thread: str
    turn: Turn
    reason: str


# -- one request ---------------------------------------------------------------


def request(payload: dict[str, Any], *, stream: bool, step: int) -> Machine[Mapping[str, Any]]:
    """Send ``payload`` and return the response (folded, when streamed)."""
    if not stream:
        response = yield Request(payload, stream=False)
        request_id = getattr(response, "request_id", None)
        if isinstance(request_id, str) and "request_id" not in response:
            return {**response, "request_id": request_id}
        return response  # type: ignore[no-any-return]
    acc: Accumulator = yield Request(payload, stream=True)
    while True:
        raw = yield NextEvent()
        if isinstance(raw, StreamEnd):
            break
        acc.add(raw)
        event = events_of(raw, step)
        if event is not None:
            yield Emit(event)
    message = acc.message()
    if raw.request_id is not None and "request_id" not in message:
        return {**message, "request_id": raw.request_id}
    return message


def stream_fold(transport: object) -> Accumulator:
    """The fold for ``transport``'s streams: its own ``accumulator()`` when it
    has one (an HTTP or SDK transport sending the fine-grained tool streaming
    beta keeps unfinished tool strings, as the SDK does), else the plain one
    (a user's own transport)."""
    from convo.transport.stream import Accumulator

    make = getattr(transport, "accumulator", None)
    fold = make() if callable(make) else None
    return fold if isinstance(fold, Accumulator) else Accumulator()


# -- saving, under the conflict policy -------------------------------------------


def save(chat: _Core, conversation: Conversation, *, step: int = 1, stream: bool = False) -> Machine[Branch | None]:
    """Save ``conversation`` on the chat's thread; on a lost race, apply the
    chat's conflict policy.  Returns the branch the reply went to, or
    ``None`` when it is on the thread."""
    replaces = chat._replaces(conversation)
    options = chat._save_args() if replaces is None else {"expected_head": replaces}
    try:
        yield Save(chat.thread, conversation, options)
    except ConflictError:
        chat._pending = conversation
        if chat.conflict == "raise":
            raise
        branch = yield from keep_as_branch(chat, conversation, reason=chat.conflict)
        if stream:
            yield Emit(Branched(branch.thread, branch.turn, step))
        stored, meta = yield Load(chat.thread)
        chat._loaded(stored, meta)
        return branch
    except Exception:
        chat._pending = conversation
        raise
    chat._saved(conversation)
    return None


def keep_as_branch(chat: _Core, conversation: Conversation, *, reason: str) -> Machine[Branch]:
    """Save ``conversation`` (which lost the race) on a new thread forked
    where the chat last saw its thread; the branch is named after the reply."""
    head = conversation.head
    assert head is not None
    digest = head.id.rsplit(":", 1)[-1][:12]
    base = len(chat.conversation)
    meta = chat.settings.merged_meta(chat._meta)
    for n in range(1, 100):
        new_id = f"{chat.thread[:200]}~{digest}" + (f"-{n}" if n > 1 else "")
        try:
            if chat.saved and base:
                info = yield Fork(chat.thread, base, new_id, meta)
                yield Save(new_id, conversation, {"expected_head": info.head_id})
            else:
                yield Save(new_id, conversation, {"title": chat.title, "meta": meta})
        except (ThreadExistsError, ConflictError):
            continue
        break
    else:  # pragma: no cover (a hundred threads named after one reply)
        raise ConflictError(thread_id=chat.thread, stored_head=None, attempted_head=head.id)
    chat._pending = None
    branch = Branch(new_id, head, reason)
    chat._branches.append(branch)
    return branch


# -- the verbs -------------------------------------------------------------------


def exchange(
    chat: _Core,
    step: Conversation,
    params: Mapping[str, Any],
    extra: Mapping[str, Any] | None,
    where: str,
    *,
    stream: bool,
    number: int = 1,
    reapply: Callable[[Conversation], Conversation] | None = None,
) -> Machine[Turn]:
    """Send ``step``, append the reply, save: one step, all or nothing.

    Under the ``rebase`` policy a lost race keeps the reply on a branch and
    sends ``reapply(new head)`` again (up to ``chat.max_rebases`` times).
    """
    rebases = 0
    while True:
        payload = chat._prepare(step, params, extra, where)
        response = yield from request(payload, stream=stream, step=number)
        replied = step.append_response(response, request=payload)
        branch = yield from save(chat, replied, step=number, stream=stream)
        head = replied.head
        assert head is not None
        if branch is None:
            if stream:
                yield Emit(TurnEnd(head, chat.thread, number))
            return head
        if chat.conflict != "rebase" or reapply is None or rebases >= chat.max_rebases:
            return head
        rebases += 1
        step = reapply(chat.conversation)


def finish(machine: Machine[Turn], *, stream: bool) -> Machine[Turn]:
    """Run ``machine`` and, streaming, end with ``Finished``."""
    turn = yield from machine
    if stream:
        yield Emit(Finished(turn))
    return turn


def run(
    chat: _Core,
    first: Conversation | None,
    tools: Mapping[str, Callable[..., Any]],
    params: Mapping[str, Any],
    extra: Mapping[str, Any] | None,
    *,
    max_steps: int,
    stream: bool,
    reapply: Callable[[Conversation], Conversation] | None,
) -> Machine[Turn]:
    """The tool loop: send, run the tools the reply calls, send their
    results, continue paused replies, until the model stops asking.

    ``first`` is the user step (``None``: go on from the thread's head:
    answer its tool calls, or resume it).  Each request and its reply is
    one step, saved before the next begins.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")
    steps = 0
    step = first
    turn = chat.conversation.head
    while True:
        if step is not None:
            if steps >= max_steps:
                raise ToolLoopError(
                    f"chat.run stopped after max_steps={max_steps} requests: the model "
                    f"still asks for {_wanted(chat)}; every step so far is saved on "
                    f"{chat.thread!r} (chat.run(None, tools=...) goes on)",
                    steps=steps,
                    thread_id=chat.thread,
                )
            steps += 1
            before = len(chat._branches)
            turn = yield from exchange(
                chat, step, params, extra, "run", stream=stream, number=steps,
                reapply=reapply if steps == 1 else None,
            )
            if len(chat._branches) > before:
                return turn  # the step went to a branch: the thread is someone else's now
        if turn is None:
            raise ChatStateError("chat.run(None): the thread is empty; give it a message")
        stop = chat.stop_reason
        if stop == "pause_turn":
            step = chat._resume_step()
            continue
        calls = chat.tool_calls if stop == "tool_use" else ()
        if not calls:
            return turn
        if steps >= max_steps:
            step = chat.conversation  # trips the guard above before any tool runs
            continue
        results: dict[str, Any] = {}
        errors: list[str] = []
        for call in calls:
            fn = tools.get(call.name)
            failed = False
            if fn is None:
                results[call.id] = f"unknown tool {call.name!r} (this program has {sorted(tools)})"
                failed = True
            else:
                try:
                    value = yield CallTool(fn, call)
                except Exception as exc:
                    results[call.id] = f"{type(exc).__name__}: {exc}"
                    failed = True
                else:
                    results[call.id] = tool_output(value)
            if failed:
                errors.append(call.id)
            if stream:
                yield Emit(ToolRan(call, failed, steps))
        step = chat.conversation.tool_results(results, errors=errors)


def _wanted(chat: _Core) -> str:
    names = [c.name for c in chat.tool_calls]
    return f"tools {names}" if names else f"more (stop_reason {chat.stop_reason!r})"


def configure(chat: _Core, changes: Mapping[str, Any]) -> Machine[None]:
    """Change the thread's settings and save them (creating the thread,
    empty, if it is not saved yet)."""
    settings = chat.settings.evolve(**changes)
    if not chat.saved:
        chat._adopt(settings)
        yield from save(chat, chat.conversation)
        return
    meta = settings.merged_meta(chat._meta)
    info = yield Save(chat.thread, chat.conversation, {"meta": meta})
    chat._meta = dict(getattr(info, "meta", meta))
    chat._adopt(settings)


def replay(
    chat: _Core,
    plan: Generator[Any, Conversation, None],
    tool_handler: Callable[[ToolUseBlock], Any] | None,
) -> Machine[None]:
    """Perform a replay plan (``_replay._replay_plan``) on ``chat``, the
    chat of the new thread: each step saved as it completes."""
    from convo.chat._core import MAX_RESUMES
    from convo.chat._replay import _pump

    for action, value in _pump(plan, chat):
        if action == "commit":
            if len(value) > len(chat.conversation):
                chat._committable(value)
                yield from save(chat, value)
            continue
        step = value
        if action == "answer":
            assert tool_handler is not None
            results = {}
            for call in value:
                results[call.id] = yield CallTool(tool_handler, call, whole_call=True)
            step = chat.conversation.tool_results(results)
        yield from exchange(chat, step, {}, None, "send", stream=False)
        for _ in range(MAX_RESUMES):
            if chat.stop_reason != "pause_turn":
                break
            yield from exchange(chat, chat._resume_step(), {}, None, "resume", stream=False)

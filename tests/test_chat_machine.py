"""The sans-IO core driven by hand: the operations it yields, no I/O at all."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from convo.chat import _machine
from convo.chat._core import _Core
from convo.chat._machine import CallTool, Fork, Load, Request, Save
from convo.errors import ConflictError, ToolLoopError

MODEL = "claude-opus-4-6"


def core(conflict: Any = "raise") -> _Core:
    chat = _Core("t1", model=MODEL, max_tokens=64, system=None, params=None, title=None,
                 policy="strict", conflict=conflict)
    chat._loaded(None)
    return chat


def message(content: list[dict[str, Any]], stop: str = "end_turn") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL,
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}


class Info:
    head_id = "sha256:forked"
    meta: ClassVar[dict[str, Any]] = {}


def test_exchange_yields_request_then_save() -> None:
    """One step: Request(payload) -> Save(thread, conversation) -> the reply."""
    chat = core()
    step = chat.conversation.user("hi")
    machine = _machine.exchange(chat, step, {}, None, "send", stream=False)
    op = next(machine)
    assert isinstance(op, Request)
    assert op.payload == {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    op = machine.send(message([{"type": "text", "text": "hello"}]))
    assert isinstance(op, Save)
    assert op.thread == "t1"
    assert op.options["meta"]["request"] == {"model": MODEL, "max_tokens": 64}
    with pytest.raises(StopIteration) as done:
        machine.send(Info())
    assert done.value.value.text == "hello"
    assert chat.conversation == op.conversation


def test_a_lost_save_under_fork_yields_fork_save_load() -> None:
    """fork policy: ConflictError at Save -> Fork + Save on the branch -> Load the thread."""
    chat = core("fork")
    chat._exists = True
    first = chat.conversation.user("one").append("assistant", "ok", origin="model")
    chat._saved(first)
    machine = _machine.exchange(chat, chat.conversation.user("two"), {}, None, "send", stream=False)
    next(machine)
    save = machine.send(message([{"type": "text", "text": "mine"}]))
    assert isinstance(save, Save)
    fork = machine.throw(ConflictError(thread_id="t1", stored_head="x", attempted_head="y"))
    assert isinstance(fork, Fork)
    assert (fork.thread, fork.at) == ("t1", 2)
    branch_save = machine.send(Info())
    assert isinstance(branch_save, Save)
    assert branch_save.thread == fork.new_id
    assert branch_save.options == {"expected_head": "sha256:forked"}
    load = machine.send(Info())
    assert isinstance(load, Load)
    with pytest.raises(StopIteration) as done:
        machine.send((first, {}))
    assert chat.branches[0].thread == fork.new_id
    assert chat.branches[0].turn == done.value.value
    assert chat.conversation == first


def test_the_raise_policy_rethrows_and_keeps_pending() -> None:
    """raise: the ConflictError comes out; the reply waits in pending."""
    chat = core()
    machine = _machine.exchange(chat, chat.conversation.user("hi"), {}, None, "send", stream=False)
    next(machine)
    save = machine.send(message([{"type": "text", "text": "x"}]))
    with pytest.raises(ConflictError):
        machine.throw(ConflictError(thread_id="t1", stored_head="a", attempted_head="b"))
    assert chat.pending == save.conversation
    assert len(chat.conversation) == 0


def test_run_asks_for_tool_calls_and_turns_exceptions_into_results() -> None:
    """run: a CallTool per call; an exception thrown back becomes is_error."""
    chat = core()

    def tool(city: str) -> str:
        return city

    machine = _machine.run(chat, chat.conversation.user("go"), {"tool": tool}, {}, None,
                           max_steps=2, stream=False, reapply=None)
    next(machine)
    call = {"type": "tool_use", "id": "toolu_1", "name": "tool", "input": {"city": "Rome"}}
    machine.send(message([call], "tool_use"))
    op = machine.send(Info())
    assert isinstance(op, CallTool)
    assert op.fn is tool
    request = machine.throw(RuntimeError("no network"))
    assert isinstance(request, Request)
    result = request.payload["messages"][-1]["content"][0]
    assert result == {"type": "tool_result", "tool_use_id": "toolu_1",
                      "content": "RuntimeError: no network", "is_error": True}
    machine.send(message([dict(call, id="toolu_2")], "tool_use"))
    with pytest.raises(ToolLoopError):
        machine.send(Info())  # max_steps=2 reached: the second call does not run


def test_run_refuses_max_steps_below_one() -> None:
    """max_steps=0 is a ValueError, before anything is asked for."""
    chat = core()
    machine = _machine.run(chat, chat.conversation.user("go"), {}, {}, None,
                           max_steps=0, stream=False, reapply=None)
    with pytest.raises(ValueError, match="max_steps"):
        next(machine)


def test_a_transport_whose_stream_is_a_context_manager() -> None:
    """stream() may return a context manager giving the events; it is exited after."""
    from collections.abc import AsyncIterator, Iterator
    from contextlib import asynccontextmanager, contextmanager

    from convo.chat import AsyncChat, Chat
    from convo.store import Store
    from convo.transport import message_events

    exited: list[str] = []
    reply = message([{"type": "text", "text": "from a context manager"}])

    class Transport:
        @contextmanager
        def stream(self, payload: Any) -> Iterator[Any]:
            yield iter(message_events(reply))
            exited.append("sync")

        def close(self) -> None:
            pass

    class AsyncTransport:
        @asynccontextmanager
        async def stream(self, payload: Any) -> AsyncIterator[Any]:
            async def events() -> AsyncIterator[Any]:
                for event in message_events(reply):
                    yield event

            yield events()
            exited.append("async")

    with Store(":memory:") as store:
        chat = Chat(store, Transport(), "t1", model=MODEL)  # type: ignore[arg-type]
        assert chat.stream("hi").until_done().text == "from a context manager"

    async def go() -> str:
        from convo.store import AsyncStore

        async with AsyncStore("sqlite://") as astore:
            achat = await AsyncChat.open(astore, AsyncTransport(), "t1", model=MODEL)  # type: ignore[arg-type]
            return (await achat.stream("hi").until_done()).text

    import asyncio

    assert asyncio.run(go()) == "from a context manager"
    assert exited == ["sync", "async"]

"""Chat and AsyncChat over a real temporary SQLite store and scripted transports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, TextBlock, ToolUseBlock
from convo.chat import DEFAULT_CONTINUE_PROMPT, AsyncChat, Chat, ChatStateError
from convo.errors import (
    APIConnectionError,
    CodecError,
    ConflictError,
    NotSendableError,
    OverloadedError,
    RuleError,
    StreamError,
)
from convo.store import AsyncStore, Store
from convo.transport import APIResponse, AsyncScriptedTransport, ScriptedTransport

MODEL = "claude-opus-4-6"  # refuses prefill
PREFILL_MODEL = "claude-opus-4-5"  # accepts it


def message(
    content: str | list[dict[str, Any]],
    stop: str = "end_turn",
    *,
    model: str = MODEL,
    number: int = 1,
) -> dict[str, Any]:
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    return {
        "id": f"msg_{number:03d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def tool_call(tool_id: str = "toolu_1", name: str = "get_weather") -> dict[str, Any]:
    return message(
        [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": "Paris"}},
        ],
        "tool_use",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "chat.db") as s:
        yield s


@pytest.fixture
async def astore(tmp_path: Path) -> AsyncIterator[AsyncStore]:
    async with AsyncStore(tmp_path / "achat.db") as s:
        yield s


def new_chat(store: Store, script: Any, thread: str = "t1", **options: Any) -> Chat:
    options.setdefault("model", MODEL)
    transport = script if isinstance(script, ScriptedTransport) else ScriptedTransport(script)
    return Chat(store, transport, thread, **options)


def sent(chat: Chat) -> list[dict[str, Any]]:
    transport = chat.transport
    assert isinstance(transport, ScriptedTransport)
    return transport.requests


# -- sending -----------------------------------------------------------------


def test_send_appends_reply_and_saves(store: Store) -> None:
    """send appends the user turn and the reply, and the store has both."""
    chat = new_chat(store, ["Hello!"], system="Be brief.", title="greeting")
    turn = chat.send("Hello, Claude")
    assert (turn.role, turn.origin, turn.text) == ("assistant", "model", "Hello!")
    assert turn.meta["stop_reason"] == "end_turn" and chat.stop_reason == "end_turn"
    assert store.load("t1") == chat.conversation
    assert [t.origin for t in chat.conversation] == ["human", "model"]
    assert sent(chat) == [
        {
            "model": MODEL,
            "max_tokens": 1024,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello, Claude"}],
        }
    ]
    info = store.info("t1")
    assert info.title == "greeting" and info.meta["model"] == MODEL


def test_existing_thread_is_loaded_with_its_system(store: Store) -> None:
    """A Chat on an existing thread continues it under the stored system prompt."""
    new_chat(store, ["Hi"], system="Be brief.").send("Hello")
    again = new_chat(store, ["Fine"])
    assert len(again.conversation) == 2 and again.conversation.system == "Be brief."
    again.send("How are you?")
    assert sent(again)[0]["system"] == "Be brief."
    assert len(store.load("t1")) == 4


def test_other_system_for_existing_thread_is_refused(store: Store) -> None:
    """Passing another system prompt for a stored thread raises instead of ignoring it."""
    new_chat(store, ["Hi"], system="Be brief.").send("Hello")
    with pytest.raises(ChatStateError, match="another system prompt"):
        new_chat(store, [], system="Be verbose.")


def test_new_thread_is_not_saved_before_first_step(store: Store) -> None:
    """Building a Chat has no side effect on the store."""
    chat = new_chat(store, [])
    assert not chat.saved and store.threads() == []


@pytest.mark.parametrize(
    "failure", [APIConnectionError("down"), OverloadedError("529 overloaded", status_code=529)]
)
def test_failing_transport_changes_nothing(store: Store, failure: Exception) -> None:
    """A transport error leaves chat.conversation and the stored thread unchanged."""
    chat = new_chat(store, ["Hi", failure])
    chat.send("Hello")
    before = chat.conversation
    with pytest.raises(type(failure)):
        chat.send("Again?")
    assert chat.conversation is before and chat.pending is None
    assert store.load("t1") == before
    assert len(sent(chat)) == 2


@given(st.lists(st.booleans(), max_size=6))
def test_every_step_is_all_or_nothing(outcomes: list[bool]) -> None:
    """Whatever succeeds or fails, the stored thread is exactly chat.conversation."""
    script: list[Any] = ["ok" if good else APIConnectionError("down") for good in outcomes]
    with Store("sqlite://") as store:
        chat = new_chat(store, script)
        for n, good in enumerate(outcomes):
            before = len(chat.conversation)
            try:
                chat.send(f"message {n}")
            except APIConnectionError:
                assert not good
            assert len(chat.conversation) == before + (2 if good else 0)
            if chat.saved:
                assert store.load("t1") == chat.conversation
            else:
                assert store.threads() == []


def test_unreadable_response_changes_nothing(store: Store) -> None:
    """A response that is not a message raises CodecError and saves nothing."""
    chat = new_chat(store, [{"type": "message", "role": "assistant"}])
    with pytest.raises(CodecError):
        chat.send("Hello")
    assert len(chat.conversation) == 0 and store.threads() == []


def test_send_rule_error_sends_nothing(store: Store) -> None:
    """A send-time rule error is raised before the request goes out."""
    chat = new_chat(store, ["Hi"])
    with pytest.raises(NotSendableError) as caught:
        chat.send("What is latin for Ant?", prefill="The answer is (")
    assert caught.value.rule == "prefill-supported-by-model" and caught.value.index == 1
    assert sent(chat) == [] and store.threads() == []
    assert chat.last_payload is None


def test_append_rule_error_sends_nothing(store: Store) -> None:
    """An append-time rule error (a tool result nobody asked for) sends nothing."""
    chat = new_chat(store, ["Hi"])
    chat.send("Hello")
    with pytest.raises(RuleError) as caught:
        chat.tool_results({"toolu_x": "42"})
    assert caught.value.rule == "tool-result-follows-tool-use"
    assert len(sent(chat)) == 1 and len(store.load("t1")) == 2


def test_max_tokens_over_model_limit_is_caught_before_sending(store: Store) -> None:
    """check_sendable runs with the chat's max_tokens."""
    chat = new_chat(store, ["Hi"], max_tokens=10**6)
    with pytest.raises(NotSendableError, match="max-tokens-limit"):
        chat.send("Hello")
    assert sent(chat) == []


class _Version2023Transport(ScriptedTransport):
    """A scripted transport that says it sends anthropic-version 2023-06-01."""

    api_version = "2023-06-01"


def test_sampling_params_follow_the_transports_api_version(store: Store) -> None:
    """Under the default 2026-10-21, temperature is refused before sending;
    a transport that sends 2023-06-01 takes it."""
    chat = new_chat(store, ["a"], params={"temperature": 0.5})
    with pytest.raises(NotSendableError, match="no-sampling-parameters"):
        chat.send("one")
    assert sent(chat) == []
    old = new_chat(store, _Version2023Transport(["a"]), thread="t2", params={"temperature": 0.5})
    old.send("one")
    assert sent(old)[0]["temperature"] == 0.5


def test_params_are_sent_and_per_call_params_override(store: Store) -> None:
    """Chat params go in every request; send(**params) adds or overrides for one call."""
    chat = new_chat(store, _Version2023Transport(["a", "b"]), params={"temperature": 0.5, "top_k": 3})
    chat.send("one")
    chat.send("two", temperature=0.0, model=PREFILL_MODEL, max_tokens=50)
    first, second = sent(chat)
    assert (first["temperature"], first["top_k"], first["model"]) == (0.5, 3, MODEL)
    assert (second["temperature"], second["top_k"]) == (0.0, 3)
    assert (second["model"], second["max_tokens"]) == (PREFILL_MODEL, 50)
    assert chat.payload()["temperature"] == 0.5


@pytest.mark.parametrize("key", ["messages", "system", "stream", "api_version"])
def test_reserved_params_are_refused(store: Store, key: str) -> None:
    """messages/system come from the conversation and stream from send(stream=True)."""
    with pytest.raises(ValueError, match=key):
        new_chat(store, [], params={key: 1})
    if key != "stream":  # send(stream=...) is the streaming switch itself
        chat = new_chat(store, ["x"])
        extra: dict[str, Any] = {key: 1}
        with pytest.raises(ValueError, match=key):
            chat.send("Hello", **extra)
        assert sent(chat) == []


def test_stream_calls_on_text_and_saves_the_same_reply(store: Store) -> None:
    """stream=True folds the events into the same turn send() would give."""
    text = "A long reply that arrives in many small pieces."
    transport = ScriptedTransport([text], chunk_size=5)
    chat = new_chat(store, transport)
    deltas: list[str] = []
    turn = chat.send("Hello", stream=True, on_text=deltas.append)
    assert "".join(deltas) == text == turn.text and len(deltas) == 10
    assert transport.requests[0]["stream"] is True
    assert store.load("t1").head == turn


def test_broken_stream_changes_nothing(store: Store) -> None:
    """A stream that ends before message_stop saves nothing."""
    events = [{"type": "message_start", "message": message("")}]
    chat = new_chat(store, [events])
    with pytest.raises(StreamError, match="message_stop"):
        chat.send("Hello", stream=True, on_text=lambda _: None)
    assert store.threads() == [] and len(chat.conversation) == 0


def test_request_id_header_is_kept_in_meta(store: Store) -> None:
    """The response's request-id (from the HTTP header) is saved with the turn."""

    class WithHeader(ScriptedTransport):
        def send(self, payload: Any) -> APIResponse:
            return APIResponse(super().send(payload), request_id="req_0123")

    chat = new_chat(store, WithHeader(["Hi"]))
    assert chat.send("Hello").meta["request_id"] == "req_0123"


def test_commit_saves_synthetic_turns_without_sending(store: Store) -> None:
    """commit saves few-shot turns; a conversation that does not extend the thread is refused."""
    chat = new_chat(store, ["Sure."])
    chat.commit(chat.conversation.user("Hello, Claude").assistant("Hello!"))
    assert sent(chat) == [] and [t.origin for t in store.load("t1")] == ["human", "synthetic"]
    chat.send("Can you describe LLMs to me?")
    assert len(sent(chat)[0]["messages"]) == 3
    with pytest.raises(ChatStateError, match="does not extend"):
        chat.commit(Conversation().user("Other"))


def test_respond_sends_a_thread_that_ends_with_a_user_turn(store: Store) -> None:
    """respond() sends the stored thread as it is (an imported payload ending with a user turn)."""
    store.save("t1", Conversation().user("Hello, Claude"))
    chat = new_chat(store, ["Hello!"])
    assert chat.respond().text == "Hello!"
    assert sent(chat)[0]["messages"] == [{"role": "user", "content": "Hello, Claude"}]
    with pytest.raises(ChatStateError, match="nothing to respond to"):
        chat.respond()
    assert len(store.load("t1")) == 2


# -- conflicts ------------------------------------------------------------------


def test_conflict_keeps_the_reply(store: Store) -> None:
    """Losing the race raises ConflictError; the reply is stored and kept as pending."""
    first = new_chat(store, ["Hi"])
    first.send("Hello")
    stale = new_chat(store, ["Mine"])
    first.transport = ScriptedTransport(["Theirs"])
    first.send("From first")
    before = stale.conversation
    with pytest.raises(ConflictError) as caught:
        stale.send("From stale")
    assert stale.conversation is before
    pending = stale.pending
    assert pending is not None and pending.head is not None and pending.head.text == "Mine"
    assert caught.value.attempted_head == pending.head.id
    assert store.gc() == 2  # the stale user turn and its reply were stored (unreachable now)
    assert store.load("t1") == first.conversation  # the winner's thread is intact

    mine = stale.save_pending("t1-mine")
    assert mine.thread == "t1-mine" and mine.conversation == pending
    assert store.info("t1-mine").forked_from == "t1" and stale.pending is None


def test_reload_after_conflict_continues_the_winner(store: Store) -> None:
    """reload() drops the pending reply and continues the stored thread."""
    first = new_chat(store, ["Hi", "Theirs"])
    first.send("Hello")
    stale = new_chat(store, ["Mine", "After reload"])
    first.send("From first")
    with pytest.raises(ConflictError):
        stale.send("From stale")
    stale.reload()
    assert stale.pending is None and stale.conversation == first.conversation
    stale.send("Again")
    assert len(store.load("t1")) == 6


def test_save_pending_retries_on_the_same_thread(store: Store) -> None:
    """save_pending() without a thread retries the save (after a transient failure)."""
    chat = new_chat(store, ["Hi"])
    with pytest.raises(ChatStateError, match="nothing is pending"):
        chat.save_pending()
    chat.send("Hello")
    chat._pending = chat.conversation.user("More").assistant("Sure")
    assert chat.save_pending() is chat and len(store.load("t1")) == 4


# -- tools and stop reasons ------------------------------------------------------


def test_tool_loop(store: Store) -> None:
    """A tool_use reply is surfaced; tool_results sends the results and returns the next reply."""
    tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    chat = new_chat(store, [tool_call(), "It is sunny."], params={"tools": tools})
    turn = chat.send("Weather in Paris?")
    assert chat.stop_reason == "tool_use" == turn.meta["stop_reason"]
    assert [c.name for c in chat.tool_calls] == ["get_weather"]
    final = chat.tool_results({"toolu_1": "18 °C, sunny"})
    assert final.text == "It is sunny." and chat.stop_reason == "end_turn"
    assert chat.tool_calls == ()
    last = sent(chat)[1]
    assert last["tools"] == tools
    assert last["messages"][-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 °C, sunny"}],
    }
    assert [t.origin for t in store.load("t1")] == ["human", "model", "tool", "model"]


def test_unanswered_tool_call_blocks_the_next_prompt(store: Store) -> None:
    """Sending a new prompt while tools are pending is a rule error, nothing sent."""
    chat = new_chat(store, [tool_call()])
    chat.send("Weather?")
    with pytest.raises(RuleError):
        chat.send("Never mind")
    assert len(sent(chat)) == 1


def paused() -> dict[str, Any]:
    return message(
        [
            {"type": "text", "text": "Searching."},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
             "input": {"query": "ants"}},
        ],
        "pause_turn",
    )


def test_pause_turn_resume_resends_the_paused_turn(store: Store) -> None:
    """resume() sends the paused turn as is and joins the continuation into it."""
    chat = new_chat(store, [paused(), message(" Found it.", number=2)])
    chat.send("Look up ants")
    assert chat.stop_reason == "pause_turn"
    paused_turn = chat.conversation.head
    assert paused_turn is not None
    turn = chat.resume()
    request = sent(chat)[1]
    assert request["messages"][-1] == {"role": "assistant", "content": paused_turn.content}
    assert len(chat.conversation) == 2 and chat.stop_reason == "end_turn"
    assert turn.meta["prefix"] == paused_turn.content and turn.text == "Searching. Found it."
    assert store.load("t1") == chat.conversation
    with pytest.raises(ChatStateError, match="nothing to resume"):
        chat.resume()


def test_resume_keeps_the_thread_and_its_fork_links(store: Store) -> None:
    """The joined continuation moves the head by compare-and-set: same thread, links kept."""
    chat = new_chat(store, ["Hi", paused(), message(" Done.", number=2)])
    chat.send("Hello")
    branch = chat.fork(at=2, new_thread="t1b")
    branch.send("Look up ants")
    info = store.info("t1b")
    branch.resume()
    after = store.info("t1b")
    assert (after.forked_from, after.forked_at, after.created_at) == ("t1", 2, info.created_at)
    assert store.load("t1b") == branch.conversation and len(branch.conversation) == 4


def test_replaced_head_that_moved_is_a_conflict(store: Store) -> None:
    """If another writer moved the thread, resume() raises ConflictError and keeps the reply."""
    chat = new_chat(store, [paused(), message(" Done.", number=2)])
    chat.send("Look up ants")
    other = new_chat(store, [], thread="t1")
    other.commit(other.conversation.user("Meanwhile"))
    with pytest.raises(ConflictError):
        chat.resume()
    assert chat.pending is not None and len(store.load("t1")) == 3


def test_max_tokens_continue_with_prefill(store: Store) -> None:
    """On a prefill model, continue_() resends the partial reply (trimmed) and joins."""
    chat = new_chat(store, [message("The answer is ", "max_tokens"), message(" (C)", number=2)],
                    model=PREFILL_MODEL)
    chat.send("What is latin for Ant?")
    assert chat.stop_reason == "max_tokens"
    turn = chat.continue_()
    assert sent(chat)[1]["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The answer is"}],
    }
    assert turn.text == "The answer is (C)" and len(chat.conversation) == 2
    assert store.load("t1") == chat.conversation


def test_max_tokens_continue_with_a_user_turn(store: Store) -> None:
    """On a model without prefill, continue_() keeps the partial reply and asks to continue."""
    chat = new_chat(store, [message("Part one", "max_tokens"), message("part two", number=2)])
    chat.send("Write a long story")
    turn = chat.continue_()
    user = chat.conversation[2]
    assert (user.text, user.origin, user.meta["continue"]) == (
        DEFAULT_CONTINUE_PROMPT, "synthetic", True,
    )
    assert turn.text == "part two" and len(store.load("t1")) == 4
    with pytest.raises(ChatStateError, match="nothing to continue"):
        chat.continue_()


def test_continue_refuses_a_reply_cut_inside_a_tool_call(store: Store) -> None:
    """A reply cut off inside tool_use has incomplete input: continue_ says to resend."""
    cut = tool_call()
    cut["stop_reason"] = "max_tokens"
    chat = new_chat(store, [cut])
    chat.send("Weather?")
    with pytest.raises(ChatStateError, match="inside a tool call"):
        chat.continue_()


# -- fork and replay --------------------------------------------------------------


def test_fork_continues_from_an_earlier_turn(store: Store) -> None:
    """fork(at) returns a chat on a new thread sharing the first turns."""
    chat = new_chat(store, ["One", "Two", "Other"])
    chat.send("1")
    chat.send("2")
    branch = chat.fork(at=2, new_thread="t1b")
    assert branch.thread == "t1b" and branch.conversation == chat.conversation[:2]
    branch.send("2'")
    assert len(store.load("t1")) == 4 and len(store.load("t1b")) == 4
    assert store.load("t1b")[1] is not None and store.load("t1b")[1] == chat.conversation[1]
    tree = store.history("t1")
    assert tree.ids == ("t1", "t1b")
    auto = chat.fork(at=-2)
    assert auto.thread == "t1-fork" and len(auto.conversation) == 2


def recorded_thread(store: Store) -> Chat:
    """A thread with few-shot turns, a prompt, a prefill and a tool loop."""
    script = [
        "LLMs predict tokens.",
        message("C", "max_tokens", model=PREFILL_MODEL),
        tool_call("toolu_old"),
        "Sunny in Paris.",
    ]
    chat = new_chat(store, script, params={"tools": [{"name": "get_weather"}]})
    chat.commit(chat.conversation.user("Hello, Claude").assistant("Hello!"))
    chat.send("Describe LLMs")
    chat.send("Latin for ant?", prefill="The answer is (", model=PREFILL_MODEL, max_tokens=1)
    chat.send("Weather?")
    chat.tool_results({"toolu_old": "18 °C"})
    return chat


def replayer(payload: dict[str, Any]) -> dict[str, Any]:
    last = payload["messages"][-1]
    content = last["content"]
    if isinstance(content, list) and content[0]["type"] == "tool_result":
        return message(f"replayed after {content[0]['tool_use_id']}", model=payload["model"])
    if "Weather" in str(content):
        reply = tool_call("toolu_new")
        reply["model"] = payload["model"]
        return reply
    return message(f"replayed: {content}", model=payload["model"])


def test_replay_builds_a_fork_with_other_model(store: Store) -> None:
    """replay re-sends each prompt with the other model, maps tool results, copies few-shot turns."""
    chat = recorded_thread(store)
    transport = ScriptedTransport(replayer)
    chat.transport = transport
    other = chat.replay(other_model="claude-sonnet-4-5")
    assert other.thread == "t1-replay" and other.model == "claude-sonnet-4-5"
    assert {r["model"] for r in transport.requests} == {"claude-sonnet-4-5"}
    assert len(transport.requests) == 4  # one per model reply of the recorded thread
    turns = other.conversation.turns
    original = chat.conversation.turns
    assert [t.role for t in turns] == [t.role for t in original]
    assert [t.origin for t in turns] == [t.origin for t in original]
    assert turns[:3] == original[:3]  # few-shot and first prompt: shared turns
    assert turns[4].text == "Latin for ant?"
    assert turns[5].text.startswith("replayed")  # sonnet-4-5 refuses prefill: dropped
    assert turns[8].blocks[0].tool_use_id == "toolu_new"  # type: ignore[union-attr]
    assert turns[8].blocks[0].content == "18 °C"  # type: ignore[union-attr]
    assert turns[9].text == "replayed after toolu_new"
    info = store.info("t1-replay")
    assert (info.forked_from, info.forked_at) == ("t1", 3)
    assert store.load("t1") == chat.conversation  # the original is untouched


def test_replay_keeps_prefill_on_a_model_that_accepts_it(store: Store) -> None:
    """With a prefill model the recorded prefill is sent again."""
    chat = recorded_thread(store)
    transport = ScriptedTransport(replayer)
    chat.transport = transport
    chat.replay(PREFILL_MODEL, new_thread="r")
    assert transport.requests[1]["messages"][-1] == {"role": "assistant", "content": "The answer is ("}


def test_replay_diverging_tool_calls(store: Store) -> None:
    """If the new reply calls other tools, replay stops (the fork keeps what was done)."""
    chat = recorded_thread(store)

    def other_tool(payload: dict[str, Any]) -> dict[str, Any]:
        if "Weather" in str(payload["messages"][-1]["content"]):
            return tool_call("toolu_x", name="get_forecast")
        return message("ok")

    chat.transport = ScriptedTransport(other_tool)
    with pytest.raises(ChatStateError, match=r"replay diverged at messages\.8"):
        chat.replay(new_thread="r")
    assert len(store.load("r")) == 8

    chat.transport = ScriptedTransport(other_tool)
    calls: list[ToolUseBlock] = []

    def run_tool(call: ToolUseBlock) -> str:
        calls.append(call)
        return "computed"

    result = chat.replay(new_thread="r2", tool_handler=run_tool)
    assert [c.name for c in calls] == ["get_forecast"] and len(result.conversation) == 10


def test_replay_when_new_replies_call_tools_or_stop_calling_them(store: Store) -> None:
    """New tool calls need a tool_handler (an extra exchange); missing ones stop the replay."""
    chat = new_chat(store, ["Hi", "Bye"])
    chat.send("Hello")
    chat.send("Goodbye")

    def tools_first(payload: dict[str, Any]) -> dict[str, Any]:
        content = payload["messages"][-1]["content"]
        if content == "Hello":
            return tool_call("toolu_a")
        return message(f"after {content if isinstance(content, str) else 'tools'}")

    chat.transport = ScriptedTransport(tools_first)
    with pytest.raises(ChatStateError, match=r"messages\.2: the new reply calls \['get_weather'\]"):
        chat.replay(new_thread="r1")
    chat.transport = ScriptedTransport(tools_first)
    done = chat.replay(new_thread="r2", tool_handler=lambda call: f"ran {call.id}")
    assert [t.origin for t in done.conversation] == ["human", "model", "tool", "model", "human",
                                                     "model"]
    assert done.conversation[2].blocks[0].content == "ran toolu_a"  # type: ignore[union-attr]

    tools = recorded_thread(store)
    tools.transport = ScriptedTransport(lambda payload: message("no tools today"))
    with pytest.raises(ChatStateError, match=r"calls \[\], the recorded one called"):
        tools.replay(new_thread="r3", tool_handler=lambda call: "unused")


async def test_async_replay_with_an_async_tool_handler(astore: AsyncStore) -> None:
    """AsyncChat.replay awaits a coroutine tool_handler."""
    chat = AsyncChat(astore, AsyncScriptedTransport([tool_call("toolu_old"), "Sunny."]), "a4",
                     model=MODEL)
    await chat.send("Weather?")
    await chat.tool_results({"toolu_old": "18 °C"})
    seen: list[str] = []

    async def run_tool(call: ToolUseBlock) -> str:
        seen.append(call.id)
        return "19 °C"

    chat.transport = AsyncScriptedTransport(replayer)
    other = await chat.replay(new_thread="a4r", tool_handler=run_tool)
    assert seen == ["toolu_new"] and other.conversation[2].blocks[0].content == "19 °C"  # type: ignore[union-attr]


def test_replay_needs_model_replies(store: Store) -> None:
    """A thread without model replies has nothing to replay."""
    chat = new_chat(store, [])
    chat.commit(chat.conversation.user("Hello").assistant("Hi"))
    with pytest.raises(ChatStateError, match="nothing to replay"):
        chat.replay()


# -- the async twin -----------------------------------------------------------------


async def test_async_chat_mirrors_chat(astore: AsyncStore) -> None:
    """AsyncChat: send, stream with an async callback, tools, fork, replay, failure."""
    transport = AsyncScriptedTransport(
        ["Hello!", tool_call(), "Sunny.", "Branch.", APIConnectionError("down")], chunk_size=2
    )
    chat = await AsyncChat.open(astore, transport, "a1", model=MODEL, system="Brief.")
    assert len(chat.conversation) == 0
    seen: list[str] = []

    async def on_text(delta: str) -> None:
        seen.append(delta)

    turn = await chat.send("Hello", stream=True, on_text=on_text)
    assert "".join(seen) == "Hello!" == turn.text
    await chat.send("Weather?")
    assert chat.stop_reason == "tool_use"
    await chat.tool_results({"toolu_1": "18 °C"})
    assert (await astore.load("a1")) == chat.conversation and len(chat.conversation) == 6

    branch = await chat.fork(at=2, new_thread="a1b")
    await branch.send("Other question")
    assert len(await astore.load("a1b")) == 4

    before = chat.conversation
    with pytest.raises(APIConnectionError):
        await chat.send("Again")
    assert chat.conversation is before and (await astore.load("a1")) == before

    chat.transport = AsyncScriptedTransport(replayer)
    other = await chat.replay("claude-sonnet-4-5", new_thread="a1r")
    assert len(other.conversation) == 6 and (await astore.info("a1r")).forked_from == "a1"


async def test_async_chat_conflict_and_continuations(astore: AsyncStore) -> None:
    """AsyncChat keeps the reply on conflict, resumes pause_turn and continues max_tokens."""
    first = AsyncChat(astore, AsyncScriptedTransport(["Hi", "Theirs"]), "a2", model=MODEL)
    await first.send("Hello")
    stale = await AsyncChat.open(astore, AsyncScriptedTransport(["Mine"]), "a2", model=MODEL)
    await first.send("From first")
    with pytest.raises(ConflictError):
        await stale.send("From stale")
    assert stale.pending is not None and len(stale.conversation) == 2
    mine = await stale.save_pending("a2-mine")
    assert (await astore.load("a2-mine")).head_id == mine.conversation.head_id

    script: list[Any] = [paused(), message(" Done.", number=2), message("Part", "max_tokens"), "rest"]
    chat = AsyncChat(astore, AsyncScriptedTransport(script), "a3", model=MODEL)
    await chat.send("Search")
    turn = await chat.resume()
    assert turn.text == "Searching. Done." and len(chat.conversation) == 2
    await chat.send("Long story")
    await chat.continue_()
    assert chat.conversation[4].meta["continue"] is True
    assert (await astore.load("a3")) == chat.conversation
    with pytest.raises(ChatStateError):
        await chat.resume()
    with pytest.raises(ChatStateError, match="nothing to respond to"):
        await chat.respond()
    await astore.save("a5", Conversation().user("Hi"))
    fresh = AsyncChat(astore, AsyncScriptedTransport(["Hello"]), "a5", model=MODEL)
    assert (await fresh.respond()).text == "Hello"


def test_conversation_before_load_is_an_error(astore: AsyncStore) -> None:
    """An AsyncChat that was never loaded says so instead of pretending to be empty."""
    chat = AsyncChat(astore, AsyncScriptedTransport([]), "x", model=MODEL)
    with pytest.raises(ChatStateError, match="load"):
        _ = chat.conversation
    assert "turns=?" in repr(chat)


def test_text_block_content_is_accepted(store: Store) -> None:
    """send accepts blocks as well as strings."""
    chat = new_chat(store, ["Seen."])
    chat.send([TextBlock("Look:"), TextBlock("twice")])
    assert sent(chat)[0]["messages"][0]["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "text", "text": "twice"},
    ]


# -- the first hour: a fork at an odd turn, custom streams ---------------------


def test_send_after_a_fork_at_an_odd_turn_says_to_respond(store: Store) -> None:
    """A thread ending with an unanswered prompt refuses send() with a hint
    naming respond(), and respond() then sends it."""
    chat = new_chat(store, ["One", "Two", "Other"])
    chat.send("1")
    chat.send("2")
    branch = chat.fork(at=3, new_thread="odd")
    with pytest.raises(RuleError) as caught:
        branch.send("another way")
    assert caught.value.rule == "roles-alternate" and caught.value.index == 3
    assert "chat.respond()" in str(caught.value) and "merge" not in str(caught.value)
    assert len(store.load("odd")) == 3
    assert branch.respond().text == "Other"
    assert len(store.load("odd")) == 4


def test_stream_may_be_a_generator_or_a_context_manager(store: Store) -> None:
    """Chat streams from a transport whose stream() is a plain generator and
    from one whose stream() is a @contextmanager, and closes both."""
    from contextlib import contextmanager

    from convo.transport import message_events

    closed: list[str] = []

    class Generating(ScriptedTransport):
        def stream(self, payload):  # type: ignore[override]
            def events():
                try:
                    yield from message_events(message("from a generator"))
                finally:
                    closed.append("generator")

            return events()

    class Managing(ScriptedTransport):
        @contextmanager
        def stream(self, payload):  # type: ignore[override]
            try:
                yield iter(message_events(message("from a context manager")))
            finally:
                closed.append("context manager")

    first = Chat(store, Generating([]), "g", model=MODEL).send("hi", stream=True)
    second = Chat(store, Managing([]), "m", model=MODEL).send("hi", stream=True)
    assert (first.text, second.text) == ("from a generator", "from a context manager")
    assert closed == ["generator", "context manager"]


async def test_async_stream_may_be_an_async_context_manager(astore: AsyncStore) -> None:
    """AsyncChat accepts an async iterator or an async context manager from stream()."""
    from contextlib import asynccontextmanager

    from convo.transport import message_events

    class Managing(AsyncScriptedTransport):
        @asynccontextmanager
        async def stream(self, payload):  # type: ignore[override]
            async def events():
                for event in message_events(message("async managed")):
                    yield event

            yield events()

    chat = await AsyncChat.open(astore, Managing([]), "am", model=MODEL)
    assert (await chat.send("hi", stream=True)).text == "async managed"

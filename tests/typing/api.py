"""Public-API usage checked by mypy (``mypy tests/typing``), never run.

If a change to convo's signatures breaks a user's typed code, mypy fails
here first.
"""

from __future__ import annotations

from typing import Any, assert_type

import anthropic

from convo import (
    DEFAULT_API_VERSION,
    AnthropicTransport,
    ApiVersion,
    AsyncAnthropicTransport,
    AsyncChat,
    AsyncChatStream,
    AsyncStore,
    AsyncTransport,
    Chat,
    ChatEvent,
    ChatStream,
    Conversation,
    Finished,
    FrozenDict,
    ImageBlock,
    NotSendableError,
    Policy,
    RequestParams,
    ResponseInfo,
    RuleError,
    ServerToolUseBlock,
    Store,
    TextBlock,
    TextDelta,
    ThreadSettings,
    ToolUseBlock,
    Transport,
    Turn,
    Usage,
    profile_for,
    response_info,
    tool_schema,
    version_rules,
    without_removed_params,
)
from convo.transport import APIResponse


def build() -> Conversation:
    c = Conversation(system="You are terse.")
    c = c.user("Hello").assistant("Hi").user([ImageBlock.from_url("https://x/y.png"), TextBlock("?")])
    c = c.assistant([ToolUseBlock("toolu_1", "calc", {"q": 1})]).tool_results({"toolu_1": "2"})
    assert_type(c[0], Turn)
    assert_type(c[:1], Conversation)
    assert_type(c.head_id, str | None)
    payload = c.to_payload(model="claude-opus-4-6", max_tokens=1024, temperature=0.1)
    assert_type(payload, dict[str, Any])
    try:
        c.check_sendable(model="claude-opus-4-6", max_tokens=1024)
    except NotSendableError as err:
        for violation in err.violations:
            assert_type(violation, RuleError)
            assert_type(violation.rule, str)
            assert_type(violation.index, int | None)
    assert_type(profile_for("claude-opus-4-6").prefill, bool)
    assert_type(profile_for("claude-opus-4-8").thinking_types, tuple[str, ...] | None)
    version: ApiVersion = DEFAULT_API_VERSION
    c.check_sendable("claude-opus-4-8", api_version="2023-06-01", temperature=0.5)
    assert_type(c.send_violations("claude-opus-4-8", api_version=version), list[RuleError])
    assert_type(c.sendable_fork(version), Conversation)
    assert_type([r.name for r in version_rules(version)], list[str])
    assert_type(without_removed_params({"temperature": 1.0}, version), dict[str, Any])
    return Conversation.from_payload(payload)


def catalogue(response: object) -> Conversation:
    c = Conversation(policy="keep").user("Find it").append_response(response)
    c = c.user("and now").system_message("Answer in French.")
    block = ServerToolUseBlock("srvtoolu_1", "web_search", {"query": "q"})
    assert_type(block.extra, FrozenDict)
    assert_type(Conversation.from_payload({"messages": []}, policy=None).policy, Policy)
    return c.append("assistant", [block], origin="model")


# -- typed construction (issue 14): mistakes mypy must catch ------------------------
# Each `# type: ignore[code]` below is an expectation: strict mode's
# warn_unused_ignores fails the run if the line stops being an error.


def typed_chat(store: Store, transport: Transport) -> None:
    chat = Chat(store, transport, "t1", model="claude-opus-4-6", max_tokens=64)
    same = Chat.open(store, transport, "t1", model="claude-opus-4-6", title="T")
    assert_type(same, Chat)
    turn = chat.send("hi", max_tokens=5, temperature=0.2, tools=[], extra={"new_field": 1})
    chat.send("hi", max_token=5)  # type: ignore[call-arg]
    chat.send("hi", max_tokens="5")  # type: ignore[arg-type]
    chat.send("hi", service_tier="fastest")  # type: ignore[arg-type]
    chat.respond(tool=[])  # type: ignore[call-arg]
    chat.payload(temprature=0.1)  # type: ignore[call-arg]
    Chat(store, transport, "t1")  # type: ignore[call-arg]
    Chat(store, transport, "t1", model="m", max_token=5)  # type: ignore[call-arg]
    info = turn.info
    assert_type(info, ResponseInfo)
    assert_type(info.stop_reason, str | None)
    assert_type(info.model, str | None)
    assert_type(info.id, str | None)
    assert_type(info.request_id, str | None)
    assert_type(info.usage, Usage | None)
    if info.usage is not None:
        assert_type(info.usage.input_tokens, int | None)
        assert_type(info.usage.total_input_tokens, int | None)
    assert_type(response_info(turn), ResponseInfo)
    fields: RequestParams = {"max_tokens": 5, "thinking": {"type": "adaptive"}}
    chat.send("hi", **fields)
    bad: RequestParams = {"max_token": 5}  # type: ignore[typeddict-unknown-key]
    del bad


async def typed_async_chat(store: AsyncStore, transport: AsyncTransport) -> None:
    chat = await AsyncChat.open(store, transport, "t1", model="claude-opus-4-6")
    assert_type(chat, AsyncChat)
    await AsyncChat.open(store, transport, "t1")  # type: ignore[call-arg]
    await AsyncChat.open(store, transport, "t1", model="m", max_token=5)  # type: ignore[call-arg]
    turn = await chat.send("hi", max_tokens=5)
    assert_type(turn.info.usage, Usage | None)
    await chat.send("hi", max_token=5)  # type: ignore[call-arg]


def sdk_transports(client: anthropic.Anthropic, aclient: anthropic.AsyncAnthropic) -> None:
    sync: Transport = AnthropicTransport(client, betas=["b1"])
    asynchronous: AsyncTransport = AsyncAnthropicTransport(aclient)
    assert_type(AnthropicTransport(client).send({}), APIResponse)
    AnthropicTransport(aclient)  # type: ignore[arg-type]
    del sync, asynchronous


def input_policy(payload: dict[str, Any]) -> None:
    from convo import CodecError, inputs

    depth: int = inputs.MAX_DEPTH + inputs.DOCUMENT_ENVELOPE
    digits: int = inputs.MAX_INTEGER_DIGITS
    size: int = inputs.MAX_DOCUMENT_BYTES
    try:
        inputs.check_json(payload, "$", max_depth=depth)
        c = Conversation.from_payload(payload)  # decorated: the signature is kept
        assert_type(c, Conversation)
        assert_type(c.append_response({"content": []}), Conversation)
        text: str = inputs.decode_document(b"{}", source="f")
        inputs.check_store_args(thread_id="t", title=None, meta={"k": 1})
        assert_type(inputs.describe(payload), str)
        assert_type(inputs.load_json(text), Any)
    except CodecError as exc:
        assert_type(exc.path, str)
    del digits, size


def prefix_as_a_value(c: Conversation, response: object) -> Conversation:
    from convo import CachePlan, Ledger, Prices, TokenCounts, compact, plan_cache

    payload = c.to_payload("claude-opus-4-5", 1024, cache="auto", cache_ttl="1h")
    assert_type(plan_cache(payload), CachePlan)
    c = c.append_response(response, request=payload)
    ledger = c.usage(prices=Prices.standard(5.0, 25.0))
    assert_type(ledger, Ledger)
    assert_type(ledger.total, TokenCounts)
    assert_type(ledger.total.cost, float | None)
    assert_type(ledger.total.hit_ratio, float)
    fixed = c.strip_stale_thinking(tools=None, thinking=None)
    return compact(fixed, "summary", keep_tail=2)


def stored_usage(store: Store) -> None:
    from convo import Ledger, Prices

    assert_type(store.usage("t", since="main", prices=Prices.standard(5.0, 25.0)), Ledger)


async def stored_usage_async(store: AsyncStore) -> None:
    assert_type(await store.index_search(), int)
    from convo import Ledger

    assert_type(await store.usage("t", since="main"), Ledger)



# -- issue 14: the tool runner, streaming events, settings, conflict policy -----------


def weather(city: str) -> str:
    return city


async def aweather(city: str) -> str:
    return city


def typed_runner(store: Store, transport: Transport) -> None:
    chat = Chat(store, transport, "t1", model="m", conflict="rebase", betas=["b"])
    Chat(store, transport, "t1", model="m", conflict="merge")  # type: ignore[arg-type]
    assert_type(chat.run("hi", tools={"weather": weather}, max_steps=3), Turn)
    chat.run("hi", tools={"weather": weather}, max_step=3)  # type: ignore[call-arg]
    assert_type(chat.stream("hi"), ChatStream)
    for event in chat.stream("hi", tools={"weather": weather}):
        assert_type(event, ChatEvent)
        if isinstance(event, TextDelta):
            assert_type(event.text, str)
        elif isinstance(event, Finished):
            assert_type(event.turn, Turn)
    assert_type(Chat.reopen(store, transport, "t1"), Chat)
    assert_type(chat.settings, ThreadSettings)
    assert_type(tool_schema(weather), dict[str, Any])
    chat.configure(max_tokens=10)


async def typed_async_runner(store: AsyncStore, transport: AsyncTransport) -> None:
    chat = await AsyncChat.reopen(store, transport, "t1", conflict="fork")
    assert_type(await chat.run("hi", tools={"weather": aweather}), Turn)
    stream = chat.stream("hi")
    assert_type(stream, AsyncChatStream)
    async for event in stream:
        assert_type(event, ChatEvent)
    async for text in chat.stream("hi").text():
        assert_type(text, str)


def first_hour(c: Conversation) -> None:
    from convo import ForkPointError, ThreadTree, export_jsonl, import_jsonl
    from convo.store import SearchHit, Store, ThreadPage
    from convo.testing import memory_store

    with Store("sqlite:///x.db", read_only=True) as reader:
        page = reader.threads(limit=10, meta={"user": "u1"}, order="created")
        assert_type(page, ThreadPage)
        assert_type(page.next_cursor, str | None)
        assert_type(reader.threads(after=page.next_cursor)[0].to_dict(), dict[str, Any])
        assert_type(reader.history("t"), ThreadTree)
        assert_type(reader.search("hello", limit=5), list[SearchHit])
    with memory_store() as store:
        assert_type(store.index_search(), int)
        try:
            store.fork("t", at=99, new_id="f")
        except ForkPointError as err:
            assert_type(err.length, int)
    text = "".join(export_jsonl("t", c, title="x"))
    assert_type(import_jsonl(text).conversation, Conversation)
    assert_type(c[0].to_dict(), dict[str, Any])

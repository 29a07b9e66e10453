"""Chaos: convo's HTTP transports against llmock, a third-party fault-injecting
Anthropic mock from PyPI (``llmock`` 0.2.2, in the ``dev`` extra).

The test starts llmock's own server (``llmock.testing.LLMockServer``, uvicorn
in a thread) on 127.0.0.1 and drives every fault mode llmock has, sync and
async: HTTP errors of every status (once, and permanent), 429 with
Retry-After, outage, prompt too long, real quotas (rpm), whole-response
delay, slow first token, dropped connection, truncated stream, corrupted
chunk, stalled stream, chunk pacing, scripted replies and tool calls, both
broken tool calls, and the server-wide random error and stream-fault rates.
Each outcome is asserted: a typed convo error (with its attempts), or the
correct result after retries.  llmock makes no outbound call (read in its
source: only its CLI's ``report`` command talks HTTP, to the server it is
given); the test also refuses any socket connection off loopback while it runs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from convo.errors import (
    APIConflictError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConvoError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    StreamError,
    UnprocessableEntityError,
)
from convo.transport import AsyncHTTPTransport, HTTPTransport

llmock_testing = pytest.importorskip("llmock.testing")
llmock_plugin = pytest.importorskip("llmock.pytest_plugin")
llmock_chaos = pytest.importorskip("llmock.chaos")

KEY = "sk-ant-chaos-0123456789abcdef"
PAYLOAD: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
}
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]
WITH_TOOLS = {**PAYLOAD, "tools": TOOLS}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with llmock_testing.LLMockServer(host="127.0.0.1") as running:
        assert running.url.startswith("http://127.0.0.1:")
        yield running


@pytest.fixture
def mock(server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """llmock's own driver, reset around each test; loopback-only sockets meanwhile."""
    original = socket.socket.connect

    def loopback_only(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            assert ipaddress.ip_address(address[0]).is_loopback, address
        return original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    driver = llmock_plugin.LLMock(server)
    driver.reset()
    yield driver
    driver.reset()
    driver.limits()
    driver.pace(0)
    driver.tool_mode("auto")
    server.state.chaos = llmock_chaos.ChaosSettings()
    server.state.stream_chaos = llmock_chaos.StreamChaos()


@dataclass
class Case:
    """One fault: how to arrange it, what to call, and what must come out."""

    arrange: Callable[[Any], Any]
    stream: bool = False
    payload: dict[str, Any] = field(default_factory=lambda: PAYLOAD)
    raises: type[ConvoError] | None = None
    attempts: int = 1  # requests the server saw
    match: str = ""
    check: Callable[[dict[str, Any]], bool] = lambda message: bool(message["content"])
    timeout: httpx.Timeout | None = None


def text_of(message: dict[str, Any]) -> str:
    return "".join(b.get("text", "") for b in message["content"] if b["type"] == "text")


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        calls = [b for b in message["content"] if b["type"] == "tool_use"]
        return (
            message["stop_reason"] == "tool_use"
            and len(calls) == 1
            and calls[0]["name"] == name
            and (arguments is None or calls[0]["input"] == arguments)
        )

    return check


SHORT_READ = httpx.Timeout(5.0, read=0.6)  # past it: the 1.5 s faults below

CASES: dict[str, Case] = {
    # HTTP errors, once: retried ones succeed on the next attempt, others raise at once.
    **{
        f"fail-{status}": Case(lambda m, s=status: m.fail(s), raises=cls)
        for status, cls in [
            (400, BadRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, NotFoundError),
            (413, RequestTooLargeError),
            (422, UnprocessableEntityError),
        ]
    },
    **{
        f"fail-{status}-once": Case(lambda m, s=status: m.fail(s), attempts=2)
        for status in (408, 409, 429, 500, 502, 503, 504, 529)
    },
    # ... and permanent: the typed error after three attempts.
    **{
        f"fail-{status}-always": Case(lambda m, s=status: m.fail(s, times=None), raises=cls, attempts=3)
        for status, cls in [
            (408, RequestTimeoutError),
            (409, APIConflictError),
            (500, InternalServerError),
            (504, GatewayTimeoutError),
            (529, OverloadedError),
        ]
    },
    "rate-limit-retry-after": Case(lambda m: m.rate_limit(retry_after=0.25), attempts=2),
    "outage": Case(lambda m: m.outage(), raises=ServiceUnavailableError, attempts=3),
    "context-overflow": Case(lambda m: m.context_overflow(), raises=BadRequestError, match="context length"),
    "context-window": Case(
        lambda m: m.limits(context_window=2), raises=BadRequestError, match="prompt is too long"
    ),
    "delay-once": Case(lambda m: m.delay(1.5), attempts=2, timeout=SHORT_READ),
    "delay-always": Case(
        lambda m: m.delay(1.5, times=None), raises=APITimeoutError, attempts=3, timeout=SHORT_READ
    ),
    # Streams: retried only until the status arrives, so a break after it is a StreamError.
    "stream-ok": Case(lambda m: None, stream=True, check=lambda msg: msg["stop_reason"] == "end_turn" and bool(text_of(msg))),
    "slow-first-token": Case(lambda m: m.slow_first_token(0.05), stream=True),
    "slow-first-token-timeout": Case(
        lambda m: m.slow_first_token(1.5), stream=True, raises=StreamError, match="ReadTimeout", timeout=SHORT_READ
    ),
    "disconnect": Case(lambda m: m.disconnect(after_chunks=2), stream=True, raises=StreamError, match="stream broke"),
    "disconnect-at-once": Case(lambda m: m.disconnect(after_chunks=0), stream=True, raises=StreamError),
    "truncate": Case(lambda m: m.truncate(after_chunks=3), stream=True, raises=StreamError, match="before message_stop"),
    "corrupt": Case(lambda m: m.corrupt(after_chunks=2), stream=True, raises=StreamError, match="invalid JSON"),
    "stall-short": Case(lambda m: m.stall(after_chunks=2, seconds=0.05), stream=True),
    "stall-past-timeout": Case(
        lambda m: m.stall(after_chunks=2, seconds=1.5), stream=True, raises=StreamError, match="ReadTimeout", timeout=SHORT_READ
    ),
    "pace": Case(lambda m: m.pace(2), stream=True),
    "stream-fail-once": Case(lambda m: m.fail(529), stream=True, attempts=2),
    "stream-fail-always": Case(lambda m: m.fail(503, times=None), stream=True, raises=ServiceUnavailableError, attempts=3),
    # What the model says.
    "reply": Case(lambda m: m.reply("Bonjour."), check=lambda msg: text_of(msg) == "Bonjour."),
    "reply-streamed": Case(lambda m: m.reply("Bonjour à tous."), stream=True, check=lambda msg: text_of(msg) == "Bonjour à tous."),
    "call-tool": Case(lambda m: m.call_tool("get_weather", {"city": "Paris"}), payload=WITH_TOOLS, check=tool_call("get_weather", {"city": "Paris"})),
    "call-tool-streamed": Case(
        lambda m: m.call_tool("get_weather", {"city": "Paris"}), stream=True, payload=WITH_TOOLS, check=tool_call("get_weather", {"city": "Paris"})
    ),
    "auto-tool-call": Case(lambda m: m.tool_mode("auto"), payload=WITH_TOOLS, check=tool_call("get_weather")),
    "tool-mode-off": Case(lambda m: m.tool_mode("off"), payload=WITH_TOOLS, check=lambda msg: msg["stop_reason"] == "end_turn"),
    # llmock sends ``input: {}`` for unparseable arguments when not streaming ...
    "malformed-arguments": Case(lambda m: m.break_tool_call("malformed_arguments"), payload=WITH_TOOLS, check=tool_call("get_weather", {})),
    # ... and the cut JSON itself when streaming: the block stops on invalid JSON.
    "malformed-arguments-streamed": Case(
        lambda m: m.break_tool_call("malformed_arguments"), stream=True, payload=WITH_TOOLS, raises=StreamError, match="is not JSON"
    ),
    "unknown-tool": Case(lambda m: m.break_tool_call("unknown_tool"), payload=WITH_TOOLS, check=tool_call("llmock_unknown_tool")),
    "unknown-tool-streamed": Case(
        lambda m: m.break_tool_call("unknown_tool"), stream=True, payload=WITH_TOOLS, check=tool_call("llmock_unknown_tool")
    ),
    # Server-wide chaos settings: random error and stream-fault rates (here certain).
    "random-errors": Case(
        lambda m: setattr(m._server.state, "chaos", llmock_chaos.ChaosSettings(error_rates={500: 1.0})),
        raises=InternalServerError,
        attempts=3,
    ),
    "random-latency": Case(lambda m: setattr(m._server.state, "chaos", llmock_chaos.ChaosSettings(latency_ms=20))),
    "random-stream-faults": Case(
        lambda m: setattr(
            m._server.state, "stream_chaos", llmock_chaos.StreamChaos(fault_rates=(("truncate", 1.0),))
        ),
        stream=True,
        raises=StreamError,
        match="before message_stop",
    ),
}


def judge(case: Case, outcome: Any, mock: Any, waits: list[float]) -> None:
    requests = len(mock.requests)
    assert requests == case.attempts, (requests, outcome)
    assert len(waits) == case.attempts - 1
    if case.raises is None:
        assert isinstance(outcome, dict), outcome
        assert case.check(outcome), outcome
    else:
        assert type(outcome) is case.raises, outcome
        assert case.match in str(outcome)
        if hasattr(outcome, "attempts"):
            assert outcome.attempts == case.attempts
    assert KEY not in repr(outcome)


@pytest.mark.parametrize("name", sorted(CASES))
def test_sync(name: str, server: Any, mock: Any) -> None:
    case = CASES[name]
    case.arrange(mock)
    waits: list[float] = []
    kwargs: dict[str, Any] = {} if case.timeout is None else {"timeout": case.timeout}
    with HTTPTransport(api_key=KEY, base_url=server.base_url("anthropic"), sleep=waits.append, **kwargs) as api:
        try:
            outcome: Any = api.send_streaming(case.payload) if case.stream else api.send(case.payload)
        except ConvoError as exc:
            outcome = exc
    judge(case, outcome, mock, waits)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_async(name: str, server: Any, mock: Any) -> None:
    case = CASES[name]
    case.arrange(mock)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    kwargs: dict[str, Any] = {} if case.timeout is None else {"timeout": case.timeout}
    async with AsyncHTTPTransport(api_key=KEY, base_url=server.base_url("anthropic"), sleep=sleep, **kwargs) as api:
        try:
            outcome: Any = await (api.send_streaming(case.payload) if case.stream else api.send(case.payload))
        except ConvoError as exc:
            outcome = exc
    await asyncio.sleep(0)
    judge(case, outcome, mock, waits)


def test_retry_after_is_obeyed(server: Any, mock: Any) -> None:
    """A 429's Retry-After is the wait before the retry (llmock sends it)."""
    mock.rate_limit(retry_after=0.25)
    waits: list[float] = []
    with HTTPTransport(api_key=KEY, base_url=server.base_url("anthropic"), sleep=waits.append) as api:
        api.send(PAYLOAD)
    assert waits == [0.25]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_real_quota(server: Any, mock: Any, asynchronous: bool) -> None:
    """rpm=1: the first request passes; the next is a RateLimitError after three
    attempts, each retry waiting the Retry-After the quota gives (the true wait)."""
    mock.limits(rpm=1)
    waits: list[float] = []
    if asynchronous:

        async def run() -> Any:
            async def sleep(seconds: float) -> None:
                waits.append(seconds)

            async with AsyncHTTPTransport(api_key=KEY, base_url=server.base_url("anthropic"), sleep=sleep) as api:
                await api.send(PAYLOAD)
                with pytest.raises(RateLimitError) as info:
                    await api.send(PAYLOAD)
                return info.value

        error = asyncio.run(run())
    else:
        with HTTPTransport(api_key=KEY, base_url=server.base_url("anthropic"), sleep=waits.append) as api:
            api.send(PAYLOAD)
            with pytest.raises(RateLimitError) as info:
                api.send(PAYLOAD)
            error = info.value
    assert error.attempts == 3
    assert error.retry_after is not None and 50 < error.retry_after <= 60
    assert len(waits) == 2 and all(50 < w <= 60 for w in waits)
    assert len(mock.requests) == 4

"""One contract, every transport: the same exchange gives the same result.

Each test scripts what the Messages API answers (a neutral reply list) and
runs it against every rig: ``HTTPTransport`` over ``httpx.MockTransport``
and over a real server on 127.0.0.1; ``AnthropicTransport`` (the official
SDK) over an ``httpx2.MockTransport`` ``http_client`` (the SDK's HTTP
client is httpx2) and over the same real server; the scripted transport;
and the cassette transport, whose every answer is replayed from the file
it has just recorded.  Sync and async.

The contract: the same request reaches the server as the same JSON body;
the same response gives the same dict and request id; streaming folds to
what the non-streamed call returns; an error status gives the class
``error_class(status)`` chooses (so status classes added to ``_status``
apply to every transport), with status, error type, request id and
attempts (each attempt counted once: the SDK's retries are the only ones
behind ``AnthropicTransport``).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from convo.errors import (
    APIConnectionError,
    APIStatusError,
    OverloadedError,
    StreamError,
    TransportError,
)
from convo.transport import (
    AnthropicTransport,
    AsyncAnthropicTransport,
    AsyncCassetteTransport,
    AsyncHTTPTransport,
    AsyncScriptedTransport,
    CassetteTransport,
    HTTPTransport,
    ScriptedTransport,
    accumulate,
    message_events,
)
from convo.transport._status import error_class, status_error
from convo.transport.retry import should_retry
from tests.transport._support import API_KEY, MESSAGES, PAYLOAD, error_body
from tests.transport._wire import Wire, live_server, mock_response, reply_json, reply_sse

# A payload with fields the SDK's signature does not have (sampling, an
# unknown field) or would move to a header (workspace_id): all stay in the body.
RICH_PAYLOAD: dict[str, Any] = {
    **PAYLOAD,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "temperature": 0.25,
    "metadata": {"user_id": "u-1"},
    "workspace_id": "wrkspc_1",
    "future_field": {"nested": [1, None, "x"]},
}

# The sample payloads name models that some SDK versions warn about.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

MAX_RETRIES = 2
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK really sleeps: keep it to a millisecond


@pytest.fixture
def live() -> Iterator[tuple[Wire, str]]:
    """A real HTTP server on 127.0.0.1 answering from a ``Wire``."""
    with live_server() as served:
        yield served


# -- the rigs ---------------------------------------------------------------------


async def _nap(seconds: float) -> None:
    return None


@dataclass
class Rig:
    """Builds a transport answering from a reply list."""

    name: str
    make: Callable[[list[tuple[Any, ...]]], Any]
    wire: Wire | None  # what the server received (None: no server)
    counts_attempts: bool = True  # cassettes do not record attempts
    closers: list[Callable[[], Any]] = field(default_factory=list)


def _scripted_reply(reply: tuple[Any, ...]) -> Any:
    if reply[0] == "json":
        _, status, body, headers = reply
        if status >= 400:
            return status_error(status, body, request_id=headers["request-id"])
        return copy.deepcopy(body)
    return copy.deepcopy(reply[1])


class _ReplayFirst:
    """A cassette answering only from its file: every call is first recorded
    (``auto`` mode over an HTTP transport), then answered by a fresh
    replay-mode cassette reading that file."""

    def __init__(self, directory: Path, inner: Any, asynchronous: bool) -> None:
        self.directory, self.inner, self.asynchronous = directory, inner, asynchronous
        self.calls = 0

    def _recorder(self) -> Any:
        # A file per call: a second identical request must reach the server again.
        self.calls += 1
        self.path = self.directory / f"cassette-{self.calls}.json"
        cls: Any = AsyncCassetteTransport if self.asynchronous else CassetteTransport
        return cls(self.path, "auto", inner=self.inner)

    def _replayer(self) -> Any:
        cls: Any = AsyncCassetteTransport if self.asynchronous else CassetteTransport
        return cls(self.path, "replay")

    async def call(self, method: str, payload: Any) -> Any:
        recorder = self._recorder()
        try:
            if method == "events":
                await collect(recorder, payload)
            else:
                await call(recorder, method, payload)
        except APIStatusError:
            pass  # recorded: the replay raises it again
        replayer = self._replayer()
        if method == "events":
            return await collect(replayer, payload)
        return await call(replayer, method, payload)


RIG_NAMES = ["http-mock", "http-live", "sdk-mock", "sdk-live", "scripted", "cassette"]
WIRE_NAMES = ["http-mock", "http-live", "sdk-mock", "sdk-live"]  # a server, retries, sockets


def rigs(names: list[str]) -> Any:
    """Run a test on these rigs only (a scenario the others cannot express)."""
    return pytest.mark.parametrize(
        "rig", [(n, m) for n in names for m in ("sync", "async")], indirect=True, ids=str
    )


@pytest.fixture(params=[(n, m) for n in RIG_NAMES for m in ("sync", "async")], ids=str)
async def rig(
    request: pytest.FixtureRequest, live: tuple[Wire, str], tmp_path: Path
) -> AsyncIterator[Rig]:
    name, mode = request.param
    asynchronous = mode == "async"
    live_wire, url = live
    mock_wire = Wire([])
    made = Rig(f"{name}-{mode}", lambda replies: None, None)

    def http(wire: Wire, replies: list[tuple[Any, ...]], base_url: str | None) -> Any:
        wire.replies[:] = replies
        options: dict[str, Any] = {"api_key": API_KEY, "random": lambda: 0.0}
        if base_url is not None:
            options["base_url"] = base_url
        else:
            handler = lambda r: mock_response(httpx, wire, r)  # noqa: E731
            if asynchronous:

                async def ahandler(r: httpx.Request) -> httpx.Response:
                    return handler(r)  # type: ignore[no-any-return]

                options["client"] = httpx.AsyncClient(transport=httpx.MockTransport(ahandler))
            else:
                options["client"] = httpx.Client(transport=httpx.MockTransport(handler))
        if asynchronous:
            transport: Any = AsyncHTTPTransport(sleep=_nap, **options)
            made.closers.append(transport.aclose)
            if "client" in options:
                made.closers.append(options["client"].aclose)
        else:
            transport = HTTPTransport(sleep=lambda _: None, **options)
            made.closers.append(transport.close)
            if "client" in options:
                made.closers.append(options["client"].close)
        return transport

    def sdk(wire: Wire, replies: list[tuple[Any, ...]], base_url: str | None) -> Any:
        wire.replies[:] = replies
        options: dict[str, Any] = {"api_key": API_KEY, "max_retries": MAX_RETRIES}
        if base_url is not None:
            options["base_url"] = base_url
        else:
            handler = lambda r: mock_response(httpx2, wire, r)  # noqa: E731
            if asynchronous:

                async def ahandler(r: httpx2.Request) -> httpx2.Response:
                    return handler(r)  # type: ignore[no-any-return]

                options["http_client"] = httpx2.AsyncClient(
                    transport=httpx2.MockTransport(ahandler)
                )
            else:
                options["http_client"] = httpx2.Client(transport=httpx2.MockTransport(handler))
        if asynchronous:
            client: Any = anthropic.AsyncAnthropic(**options)
            made.closers.append(client.close)
            return AsyncAnthropicTransport(client)
        client = anthropic.Anthropic(**options)
        made.closers.append(client.close)
        return AnthropicTransport(client)

    if name == "http-mock":
        made.wire, made.make = mock_wire, lambda replies: http(mock_wire, replies, None)
    elif name == "http-live":
        made.wire, made.make = live_wire, lambda replies: http(live_wire, replies, url)
    elif name == "sdk-mock":
        made.wire, made.make = mock_wire, lambda replies: sdk(mock_wire, replies, None)
    elif name == "sdk-live":
        made.wire, made.make = live_wire, lambda replies: sdk(live_wire, replies, url)
    elif name == "scripted":
        cls: Any = AsyncScriptedTransport if asynchronous else ScriptedTransport

        def scripted(replies: list[tuple[Any, ...]]) -> Any:
            # A retried status repeats in the script; the scripted transport answers once.
            distinct = [r for i, r in enumerate(replies) if i == 0 or r != replies[i - 1]]
            return cls([_scripted_reply(r) for r in distinct], count_tokens=42)

        made.make = scripted
    else:
        made.wire, made.counts_attempts = mock_wire, False
        made.make = lambda replies: _ReplayFirst(
            tmp_path, http(mock_wire, replies, None), asynchronous
        )
    yield made
    for close in made.closers:
        result = close()
        if inspect.isawaitable(result):
            await result


async def call(transport: Any, method: str, payload: Any) -> Any:
    """``transport.method(payload)``, awaited when the transport is async."""
    if isinstance(transport, _ReplayFirst):
        return await transport.call(method, payload)
    result = getattr(transport, method)(payload)
    if inspect.isawaitable(result):
        result = await result
    return result


async def collect(transport: Any, payload: Any) -> list[dict[str, Any]]:
    """Every event of ``transport.stream(payload)``."""
    if isinstance(transport, _ReplayFirst):
        return await transport.call("events", payload)  # type: ignore[no-any-return]
    stream = transport.stream(payload)
    if hasattr(stream, "__aiter__"):
        return [event async for event in stream]
    return list(stream)


def _bodies(rig: Rig) -> list[Any]:
    assert rig.wire is not None
    return [body for _, _, body in rig.wire.received]


# -- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MESSAGES))
async def test_same_request_same_response(rig: Rig, kind: str) -> None:
    """send returns the API's dict and request id; the server got the payload as written."""
    message = MESSAGES[kind]
    transport = rig.make([reply_json(200, message, "req_same")])
    reply = await call(transport, "send", RICH_PAYLOAD)
    assert reply == message
    assert dict(reply) == message
    if rig.wire is not None:
        assert reply.request_id == "req_same"
        assert _bodies(rig) == [RICH_PAYLOAD]
        path, headers, _ = rig.wire.received[0]
        assert path == "/v1/messages"
        assert API_KEY in (headers.get("x-api-key"), headers.get("authorization", "")[7:])


@pytest.mark.parametrize("kind", sorted(MESSAGES))
async def test_streaming_equals_not_streaming(rig: Rig, kind: str) -> None:
    """The streamed events fold to what send returns; send_streaming agrees."""
    message = MESSAGES[kind]
    events = message_events(message, chunk_size=5)
    transport = rig.make(
        [reply_json(200, message, "req_a"), reply_sse(events), reply_sse(events, "req_b")]
    )
    sent = await call(transport, "send", RICH_PAYLOAD)
    streamed = await collect(transport, RICH_PAYLOAD)
    assert accumulate(streamed) == sent == message
    assert [e["type"] for e in streamed] == [e["type"] for e in events]
    folded = await call(transport, "send_streaming", RICH_PAYLOAD)
    assert folded == message
    if rig.wire is not None:
        assert folded.request_id == "req_b"
        assert _bodies(rig)[1:] == [{**RICH_PAYLOAD, "stream": True}] * 2


async def test_unknown_events_and_fields_survive(rig: Rig) -> None:
    """A new event type and unknown fields on known ones reach the caller as sent."""
    message = {
        **MESSAGES["text"],
        "future_top": {"a": [1]},
        "content": [{"type": "text", "text": "hi", "extra": 1}, {"type": "brand_new", "z": None}],
    }
    events = message_events(message)
    events.insert(1, {"type": "future_event", "payload": {"k": "v"}})
    transport = rig.make([reply_json(200, message, "req_u"), reply_sse(events)])
    assert await call(transport, "send", PAYLOAD) == message
    streamed = await collect(transport, PAYLOAD)
    assert streamed[1] == {"type": "future_event", "payload": {"k": "v"}}
    assert accumulate(streamed) == message


async def test_count_tokens(rig: Rig) -> None:
    """count_tokens sends only the fields the endpoint takes and returns input_tokens."""
    transport = rig.make([reply_json(200, {"input_tokens": 42}, "req_count")])
    assert await call(transport, "count_tokens", RICH_PAYLOAD) == 42
    if rig.wire is not None:
        path, _, body = rig.wire.received[0]
        assert path == "/v1/messages/count_tokens"
        assert body == {k: RICH_PAYLOAD[k] for k in ("model", "messages", "system")}


STATUSES = [
    (400, "invalid_request_error"),
    (401, "authentication_error"),
    (402, "billing_error"),
    (403, "permission_error"),
    (404, "not_found_error"),
    (413, "request_too_large"),
    (429, "rate_limit_error"),
    (500, "api_error"),
    (504, "timeout_error"),
    (529, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "kind"), STATUSES)
async def test_error_status_maps_to_the_same_class(rig: Rig, status: int, kind: str) -> None:
    """Each status gives error_class(status), with type, request id and attempts."""
    retried = should_retry(status, {})
    tries = MAX_RETRIES + 1 if retried else 1
    body = error_body(kind, f"status {status}", request_id="req_in_body")
    replies = [reply_json(status, body, f"req_{status}", **FAST_RETRY)] * tries
    transport = rig.make(replies)
    with pytest.raises(APIStatusError) as info:
        await call(transport, "send", PAYLOAD)
    error = info.value
    assert type(error) is error_class(status)
    assert (error.status_code, error.error_type, error.request_id) == (
        status,
        kind,
        f"req_{status}",
    )
    assert error.body == body
    assert f"status {status}" in str(error)
    if rig.counts_attempts:
        assert error.attempts == (tries if rig.wire is not None else 1)
    if rig.wire is not None:
        assert len(rig.wire.received) == tries
        assert error.retry_after == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "invalid_request_error"), (529, "overloaded_error")]
)
async def test_a_refused_stream_maps_like_send(rig: Rig, status: int, kind: str) -> None:
    """An error status on a streamed request: the same class, before any event."""
    tries = MAX_RETRIES + 1 if should_retry(status, {}) else 1
    body = error_body(kind, "refused")
    transport = rig.make([reply_json(status, body, "req_refused", **FAST_RETRY)] * tries)
    with pytest.raises(APIStatusError) as info:
        await collect(transport, PAYLOAD)
    assert type(info.value) is error_class(status)
    assert (info.value.status_code, info.value.error_type) == (status, kind)
    assert info.value.request_id == "req_refused"
    if rig.counts_attempts and rig.wire is not None:
        assert info.value.attempts == tries
        assert len(rig.wire.received) == tries


@rigs(WIRE_NAMES)
async def test_retries_then_success_counts_each_attempt_once(rig: Rig) -> None:
    """Two 529s then a reply: three requests on the wire (no retry on top of retries)."""
    overloaded = reply_json(529, error_body("overloaded_error", "busy"), "req_529", **FAST_RETRY)
    transport = rig.make([overloaded, overloaded, reply_json(200, MESSAGES["text"], "req_ok")])
    assert await call(transport, "send", PAYLOAD) == MESSAGES["text"]
    assert rig.wire is not None
    assert len(rig.wire.received) == 3


@rigs([n for n in RIG_NAMES if n != "cassette"])  # a cassette records complete streams only
async def test_error_event_in_a_stream(rig: Rig) -> None:
    """An error event after a 200 raises the class its type has without streaming."""
    events = message_events(MESSAGES["text"])[:3]
    events.append({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    transport = rig.make([reply_sse(events, "req_err_event")])
    seen: list[dict[str, Any]] = []

    async def read() -> None:
        stream = transport.stream(PAYLOAD)
        if hasattr(stream, "__aiter__"):
            async for event in stream:
                seen.append(event)
        else:
            for event in stream:
                seen.append(event)

    with pytest.raises(OverloadedError) as info:
        await read()
    assert info.value.status_code == 529
    assert info.value.error_type == "overloaded_error"
    assert seen == events[:3]
    if rig.wire is not None:
        assert info.value.request_id == "req_err_event"


@rigs([n for n in RIG_NAMES if n != "cassette"])
async def test_stream_without_message_stop(rig: Rig) -> None:
    """A stream that just ends is a StreamError, never a short message."""
    events = message_events(MESSAGES["tool"])[:-1]
    transport = rig.make([reply_sse(events)])
    with pytest.raises(StreamError):
        await call(transport, "send_streaming", PAYLOAD)


@rigs(WIRE_NAMES)
async def test_broken_stream(rig: Rig) -> None:
    """The connection dying mid-stream is a StreamError (not retried)."""
    transport = rig.make([reply_sse(message_events(MESSAGES["thinking"]), break_after=3)])
    with pytest.raises(StreamError):
        await call(transport, "send_streaming", PAYLOAD)
    assert rig.wire is not None
    assert len(rig.wire.received) == 1


@rigs(WIRE_NAMES)
async def test_connection_failure_is_retried_then_raised(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No response: APIConnectionError after every attempt, attempts counted."""
    # The SDK really sleeps its backoff (0.5 s, 1 s): shrink it, not the count.
    monkeypatch.setattr("anthropic._base_client.INITIAL_RETRY_DELAY", 0.001)
    transport = rig.make([("connect-error",)] * (MAX_RETRIES + 1))
    with pytest.raises(APIConnectionError) as info:
        await call(transport, "send", PAYLOAD)
    assert info.value.attempts == MAX_RETRIES + 1
    assert isinstance(info.value, TransportError)

"""What only the SDK transport does: optional import, headers, secrets, the SDK's own fold.

The transport contract it shares with the others is in ``test_contract.py``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings

from convo import Conversation
from convo.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CodecError,
    OverloadedError,
    StreamError,
    TransportError,
)
from convo.testing.strategies import responses
from convo.transport import (
    AnthropicTransport,
    AsyncAnthropicTransport,
    CassetteTransport,
    accumulate,
    message_events,
)
from convo.transport._sse import encode_event
from tests.transport._support import API_KEY, MESSAGES, PAYLOAD, TEXT_MESSAGE, error_body

# The sample payloads name models that some SDK versions warn about.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    """An httpx2 mock API: answers with ``reply(request)``; keeps each request."""

    def __init__(self, reply: Handler) -> None:
        self.reply = reply
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.reply(request)

    async def handle_async(self, request: httpx2.Request) -> httpx2.Response:
        return self(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]


def _message(request: httpx2.Request) -> httpx2.Response:
    body = json.loads(request.content)
    if request.url.path.endswith("/count_tokens"):
        return httpx2.Response(200, json={"input_tokens": 7}, headers={"request-id": "req_c"})
    if body.get("stream"):
        content = b"".join(encode_event(e) for e in message_events(TEXT_MESSAGE))
        return httpx2.Response(
            200, content=content, headers={"content-type": "text/event-stream", "request-id": "r"}
        )
    return httpx2.Response(200, json=TEXT_MESSAGE, headers={"request-id": "req_1"})


@pytest.fixture
def sdk() -> Iterator[Callable[..., tuple[AnthropicTransport, Recorder]]]:
    """``sdk(reply, **client_options)`` -> an AnthropicTransport over a recorder."""
    clients: list[anthropic.Anthropic] = []

    def make(
        reply: Handler = _message,
        *,
        transport_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[AnthropicTransport, Recorder]:
        recorder = Recorder(reply)
        options.setdefault("api_key", API_KEY)
        options.setdefault("max_retries", 0)
        client = anthropic.Anthropic(
            http_client=httpx2.Client(transport=httpx2.MockTransport(recorder)), **options
        )
        clients.append(client)
        return AnthropicTransport(client, **(transport_options or {})), recorder

    yield make
    for client in clients:
        client.close()


def test_importing_convo_does_not_import_the_sdk() -> None:
    """`import convo` and `import convo.transport` leave anthropic unloaded; the name loads it."""
    code = (
        "import sys, convo, convo.transport; print('anthropic' in sys.modules);"
        "convo.transport.AnthropicTransport; print('anthropic' in sys.modules);"
        "import convo as c; print(c.AsyncAnthropicTransport.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "convo.transport.anthropic"]


def test_only_the_sdk_module_imports_the_sdk() -> None:
    """No other module of convo mentions the anthropic package in an import."""
    root = Path(__file__).resolve().parents[2] / "convo"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "anthropic.py"
        and any(
            line.strip().startswith(("import anthropic", "from anthropic"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_betas_and_version_headers(sdk: Any) -> None:
    """Betas join the client's own in one anthropic-beta header; api_version overrides."""
    transport, api = sdk(
        transport_options={"betas": ["b-two", "b-one"], "api_version": "2023-06-01"},
        default_headers={"anthropic-beta": "b-one"},
    )
    transport.send(PAYLOAD)
    transport.send_streaming(PAYLOAD)
    assert transport.count_tokens(PAYLOAD) == 7
    paths = [r.url.path for r in api.requests]
    assert paths == ["/v1/messages", "/v1/messages", "/v1/messages/count_tokens"]
    for request in api.requests:
        assert request.headers["anthropic-beta"] == "b-one,b-two"
        assert request.headers["anthropic-version"] == "2023-06-01"


def test_without_betas_the_client_decides(sdk: Any) -> None:
    """No betas: no anthropic-beta header; the SDK's own API version."""
    transport, api = sdk()
    transport.send(PAYLOAD)
    assert "anthropic-beta" not in api.requests[0].headers
    assert (
        api.requests[0].headers["anthropic-version"] == anthropic._constants.ANTHROPIC_API_VERSION
    )  # type: ignore[attr-defined]


def test_a_conversation_payload_goes_through_unchanged(sdk: Any) -> None:
    """The read-only views of a real payload are sent as the JSON HTTPTransport sends."""
    conversation = Conversation("Be brief.").user("Hi").assistant("Hello").user("Again")
    payload = conversation.to_payload("claude-sonnet-4-5", 64, temperature=0.5, top_k=3)
    transport, api = sdk()
    reply = transport.send(payload)
    assert api.bodies() == [json.loads(json.dumps(payload))]
    assert conversation.append_response(reply).head is not None


def test_a_payload_without_model_is_a_codec_error(sdk: Any) -> None:
    """The SDK requires model/max_tokens/messages: say which is missing, send nothing."""
    transport, api = sdk()
    with pytest.raises(CodecError, match="'model'"):
        transport.send({"max_tokens": 5, "messages": []})
    with pytest.raises(CodecError, match="'messages'"):
        transport.count_tokens({"model": "m"})
    assert api.requests == []


def test_a_request_the_sdk_refuses_is_a_transport_error(sdk: Any) -> None:
    """The SDK's own refusal (streaming required for a long request) becomes a convo error."""
    transport, api = sdk()
    with pytest.raises(TransportError, match="Streaming is required"):
        transport.send({**PAYLOAD, "model": "claude-opus-4-5", "max_tokens": 200_000})
    assert api.requests == []


def test_no_retries_on_top_of_the_sdks(sdk: Any) -> None:
    """max_retries=0 on the client: one attempt, whatever the status says."""
    overloaded = httpx2.Response(
        529,
        json=error_body("overloaded_error", "busy"),
        headers={"request-id": "req_529", "retry-after-ms": "1"},
    )
    transport, api = sdk(lambda _: overloaded)
    with pytest.raises(OverloadedError) as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == 1
    assert len(api.requests) == 1
    api.requests.clear()
    transport2 = AnthropicTransport(transport.client.with_options(max_retries=1))
    with pytest.raises(OverloadedError) as info:
        transport2.send(PAYLOAD)
    assert info.value.attempts == 2
    assert [r.headers["x-stainless-retry-count"] for r in api.requests] == ["0", "1"]


def _echo_key(request: httpx2.Request) -> httpx2.Response:
    """A hostile server: the credential comes back in the body and a header."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    body = error_body("authentication_error", f"bad key {key}", request_id=f"req {key}")
    return httpx2.Response(401, json=body, headers={"request-id": "req_401", "x-echo": key})


def _all_text(records: list[logging.LogRecord]) -> str:
    parts = []
    for record in records:
        parts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
    return "\n".join(parts)


def test_the_key_never_reaches_an_error_a_repr_a_log_or_a_cassette(
    sdk: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Even when the server echoes it, the key is scrubbed from everything convo writes."""
    caplog.set_level(logging.DEBUG)
    transport, _ = sdk(_echo_key)
    assert API_KEY not in repr(transport)
    with pytest.raises(AuthenticationError) as info:
        transport.send(PAYLOAD)
    error = info.value
    assert error.status_code == 401
    assert error.request_id == "req_401"
    printed = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), json.dumps(error.body), printed, repr(error.__dict__)):
        assert API_KEY not in text
    assert "[redacted]" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    cassette = CassetteTransport(tmp_path / "c.json", "record", inner=transport)
    with pytest.raises(AuthenticationError):
        cassette.send(PAYLOAD)
    assert API_KEY not in (tmp_path / "c.json").read_text()
    assert "[redacted]" in (tmp_path / "c.json").read_text()
    assert API_KEY not in _all_text([r for r in caplog.records if r.name.startswith("convo")])
    assert transport.redact(f"x{API_KEY}y") == "x[redacted]y"


def test_no_log_record_holds_the_key(sdk: Any, caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, neither convo's nor the SDK's nor httpx2's records carry the key
    (an honest server; one that echoes the key is above: convo's records stay clean)."""
    caplog.set_level(logging.DEBUG)

    def flaky(request: httpx2.Request) -> httpx2.Response:
        if len(api.requests) == 1:
            return httpx2.Response(
                529, json=error_body("overloaded_error", "busy"), headers={"retry-after-ms": "1"}
            )
        return _message(request)

    transport, api = sdk(flaky, max_retries=2)
    transport.send(PAYLOAD)
    transport.send_streaming(PAYLOAD)
    transport.count_tokens(PAYLOAD)
    assert len(api.requests) == 4
    assert caplog.records
    assert API_KEY not in _all_text(caplog.records)


def test_a_connection_error_names_its_cause_without_the_key(sdk: Any) -> None:
    """An unreachable server: APIConnectionError naming the httpx2 failure."""

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"refused {API_KEY}", request=request)

    transport, _ = sdk(refuse)
    with pytest.raises(APIConnectionError, match="ConnectError") as info:
        transport.send(PAYLOAD)
    assert API_KEY not in str(info.value)
    assert info.value.attempts == 1


def test_an_unreadable_stream_event_is_a_stream_error(sdk: Any) -> None:
    """An event whose data is not JSON, after the status: StreamError, never a crash."""
    start = encode_event(message_events(TEXT_MESSAGE)[0])

    def garbled(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200,
            content=start + b"event: content_block_start\ndata: {nope\n\n",
            headers={"content-type": "text/event-stream", "request-id": "req_g"},
        )

    transport, _ = sdk(garbled)
    with pytest.raises(StreamError, match="stream broke") as info:
        transport.send_streaming(PAYLOAD)
    assert info.value.request_id == "req_g"  # type: ignore[attr-defined]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=responses())
def test_the_sdk_fold_convos_fold_and_send_agree(message: dict[str, Any]) -> None:
    """Oracle: for any response, send == convo's fold of stream == the SDK's MessageStream.

    Both folds set ``stop_details`` (``None`` when the stream did not send
    it), as the SDK's accumulator does; ``send`` keeps exactly what was sent.
    """

    def reply(request: httpx2.Request) -> httpx2.Response:
        if json.loads(request.content).get("stream"):
            content = b"".join(encode_event(e) for e in message_events(message, chunk_size=3))
            return httpx2.Response(
                200, content=content, headers={"content-type": "text/event-stream"}
            )
        return httpx2.Response(200, json=message)

    with anthropic.Anthropic(
        api_key=API_KEY, http_client=httpx2.Client(transport=httpx2.MockTransport(reply))
    ) as client:
        transport = AnthropicTransport(client)
        assert transport.send(PAYLOAD) == message
        streamed = {**message, "stop_details": message.get("stop_details")}
        assert accumulate(transport.stream(PAYLOAD)) == streamed
        with client.messages.stream(**PAYLOAD) as sdk_stream:
            folded = sdk_stream.get_final_message().to_dict(mode="json", warnings=False)
    assert folded == streamed


async def test_async_transport_over_a_mock(tmp_path: Path) -> None:
    """The async twin: send, stream, count, an error with attempts, closing leaves the client open."""
    calls: list[httpx2.Request] = []

    async def reply(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        if request.url.path.endswith("count_tokens"):
            return httpx2.Response(200, json={"input_tokens": 9})
        if len(calls) == 4:
            return httpx2.Response(
                529, json=error_body("overloaded_error", "busy"), headers={"request-id": "req_x"}
            )
        return _message(request)

    client = anthropic.AsyncAnthropic(
        api_key=API_KEY,
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(reply)),
    )
    async with AsyncAnthropicTransport(client, betas=["b1"]) as transport:
        assert await transport.send(PAYLOAD) == TEXT_MESSAGE
        assert await transport.send_streaming(PAYLOAD) == TEXT_MESSAGE
        assert await transport.count_tokens(PAYLOAD) == 9
        with pytest.raises(OverloadedError) as info:
            await transport.send(PAYLOAD)
        assert (info.value.attempts, info.value.request_id) == (1, "req_x")
        assert API_KEY not in repr(transport)
    assert not client.is_closed()
    assert all(r.headers["anthropic-beta"] == "b1" for r in calls)
    await client.close()


def test_every_sample_message_round_trips(sdk: Any) -> None:
    """to_dict keeps every field of the sample messages (citations, thinking, tools)."""
    for message in MESSAGES.values():
        transport, _ = sdk(lambda _, m=message: httpx2.Response(200, json=m))
        assert transport.send(PAYLOAD) == message


def test_a_timeout_is_an_api_timeout_error(sdk: Any) -> None:
    """httpx2's timeout, through the SDK's APITimeoutError, becomes convo's; retried by the SDK."""

    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("too slow", request=request)

    transport, api = sdk(slow)
    with pytest.raises(APITimeoutError, match="ReadTimeout") as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == 1
    assert len(api.requests) == 1


def test_an_unreadable_response_is_a_codec_error(sdk: Any) -> None:
    """A client with strict validation refusing a malformed body: CodecError."""
    transport, _ = sdk(
        lambda _: httpx2.Response(200, json={"input_tokens": "many"}),
        _strict_response_validation=True,
    )
    with pytest.raises(CodecError, match="could not read the response"):
        transport.send(PAYLOAD)
    with pytest.raises(CodecError):
        transport.count_tokens(PAYLOAD)


def test_a_count_that_is_not_an_integer_is_a_codec_error(sdk: Any) -> None:
    """The SDK does not validate by default: convo checks the count itself."""
    transport, _ = sdk(lambda _: httpx2.Response(200, json={"input_tokens": "many"}))
    with pytest.raises(CodecError, match="input_tokens"):
        transport.count_tokens(PAYLOAD)


def test_a_client_without_credentials_is_a_transport_error() -> None:
    """The SDK cannot authenticate: a TransportError before anything is sent."""
    recorder = Recorder(_message)
    with anthropic.Anthropic(
        api_key=None, http_client=httpx2.Client(transport=httpx2.MockTransport(recorder))
    ) as client:
        transport = AnthropicTransport(client)
        with pytest.raises(TransportError, match="authentication"):
            transport.send(PAYLOAD)
        with pytest.raises(TransportError, match="authentication"):
            list(transport.stream(PAYLOAD))
    assert recorder.requests == []


def test_leaving_a_stream_early_closes_the_response(sdk: Any) -> None:
    """Closing the EventStream after one event releases the SDK's response."""
    chunks = [encode_event(e) for e in message_events(TEXT_MESSAGE)]

    class Body(httpx2.SyncByteStream):
        closed = False

        def __iter__(self) -> Iterator[bytes]:
            yield from chunks

        def close(self) -> None:
            Body.closed = True

    def reply(_: httpx2.Request) -> httpx2.Response:
        headers = {"content-type": "text/event-stream", "request-id": "req_early"}
        return httpx2.Response(200, stream=Body(), headers=headers)

    transport, _ = sdk(reply)
    with transport.stream(PAYLOAD) as events:
        first = next(events)
        assert not Body.closed
    assert first["type"] == "message_start"
    assert events.request_id == "req_early"
    assert Body.closed


async def test_a_client_of_the_wrong_kind_is_refused_up_front() -> None:
    """An async client for the sync transport (or the reverse, or no client): TypeError."""
    sync, asynchronous = (
        anthropic.Anthropic(api_key=API_KEY),
        anthropic.AsyncAnthropic(api_key=API_KEY),
    )
    with pytest.raises(TypeError, match="AsyncAnthropicTransport"):
        AnthropicTransport(asynchronous)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="use AnthropicTransport"):
        AsyncAnthropicTransport(sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"messages\.create"):
        AnthropicTransport(object())  # type: ignore[arg-type]
    sync.close()
    await asynchronous.close()

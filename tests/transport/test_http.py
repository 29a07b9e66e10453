"""HTTPTransport / AsyncHTTPTransport over ``httpx.MockTransport``: requests, errors, retries."""

from __future__ import annotations

import email.utils
import json
import pathlib
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import convo.transport
from convo import Conversation
from convo.errors import (
    APIConflictError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedRequestError,
    CodecError,
    GatewayTimeoutError,
    HTTPNotImplementedError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PaymentRequiredError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    RequestHeaderFieldsTooLargeError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    StreamError,
    TransportError,
    UnprocessableEntityError,
)
from convo.transport import APIResponse, AsyncHTTPTransport, HTTPTransport, RetryPolicy
from convo.transport.http import DEFAULT_TIMEOUT, HTTPX_ERRORS, translate_httpx_error
from convo.versions import API_VERSIONS, DEFAULT_API_VERSION
from tests.transport._support import (
    API_KEY,
    PAYLOAD,
    TEXT_MESSAGE,
    AsyncFakeSleep,
    FakeSleep,
    MockAPI,
    error_body,
    json_response,
)

MakeHTTP = Callable[..., tuple[HTTPTransport, MockAPI]]


def ok() -> httpx.Response:
    """A fresh 200 with the text message."""
    return json_response(200, TEXT_MESSAGE)


def overloaded(**headers: str) -> httpx.Response:
    """A 529 overloaded_error."""
    return json_response(529, error_body("overloaded_error", "Overloaded"), headers)


# -- requests ------------------------------------------------------------------


def test_request_headers_and_body(make_http: MakeHTTP) -> None:
    """By default the request carries what the official SDK sends today: the key as
    ``Authorization: Bearer``, ``anthropic-version: 2026-10-21``; and the exact payload."""
    transport, api = make_http([ok()], betas=["beta-one-2025-01-01", "beta-two"])
    transport.send(PAYLOAD)
    (request,) = api.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["anthropic-version"] == "2026-10-21" == DEFAULT_API_VERSION
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["anthropic-beta"] == "beta-one-2025-01-01,beta-two"
    assert request.headers["user-agent"].startswith("convo")
    assert "x-api-key" not in request.headers
    assert api.bodies == [PAYLOAD]


@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_version_and_auth_header_are_chosen(make_http: MakeHTTP, version: str, auth: str) -> None:
    """Either version and either credential header can be sent; exactly one credential."""
    transport, api = make_http([ok()], api_version=version, auth=auth)
    transport.send(PAYLOAD)
    headers = api.requests[0].headers
    assert headers["anthropic-version"] == version
    sent = [name for name in ("authorization", "x-api-key") if name in headers]
    assert sent == (["authorization"] if auth == "bearer" else ["x-api-key"])
    assert headers.get_list(sent[0]) == [f"Bearer {API_KEY}" if auth == "bearer" else API_KEY]
    assert f"auth={auth!r}" in repr(transport)


@pytest.mark.parametrize("auth", ["bearer", "x-api-key"])
def test_exactly_one_credential_whatever_default_headers_and_client_carry(
    fake_sleep: FakeSleep, auth: str
) -> None:
    """A credential in default_headers or on the caller's client is replaced, never doubled."""
    api = MockAPI([ok()])
    client = httpx.Client(
        transport=httpx.MockTransport(api),
        headers={"X-Api-Key": "client-key", "Authorization": "Bearer client-token"},
    )
    transport = HTTPTransport(
        api_key=API_KEY,
        client=client,
        auth=auth,  # type: ignore[arg-type]
        default_headers={"AUTHORIZATION": "Basic xyz", "x-API-key": "other", "x-extra": "1"},
        sleep=fake_sleep,
    )
    transport.send(PAYLOAD)
    headers = api.requests[0].headers
    credentials = [(k, v) for k, v in headers.multi_items() if k in ("authorization", "x-api-key")]
    assert credentials == [
        ("authorization", f"Bearer {API_KEY}") if auth == "bearer" else ("x-api-key", API_KEY)
    ]
    assert headers["x-extra"] == "1"
    client.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"api_version": "2024-01-01"}, "unknown api_version"), ({"auth": "basic"}, "unknown auth")],
)
def test_unknown_version_or_auth_is_refused(kwargs: dict[str, Any], match: str) -> None:
    """Only the versions convo knows, and the two credential forms, are accepted."""
    with pytest.raises(TransportError, match=match):
        HTTPTransport(api_key=API_KEY, **kwargs)
    with pytest.raises(TransportError, match=match):
        AsyncHTTPTransport(api_key=API_KEY, **kwargs)


def test_no_beta_header_without_betas(make_http: MakeHTTP) -> None:
    """``anthropic-beta`` is sent only when betas are given."""
    transport, api = make_http([ok()])
    transport.send(PAYLOAD)
    assert "anthropic-beta" not in api.requests[0].headers


def test_conversation_payload_is_sent_verbatim(make_http: MakeHTTP) -> None:
    """A ``Conversation.to_payload`` body (frozen views inside) goes out as its JSON."""
    conversation = Conversation("Be brief.").user("Hi").assistant("Hello!").user("Tell me más ✓")
    payload = conversation.to_payload("claude-sonnet-4-5", 100, temperature=0.5)
    transport, api = make_http([ok()])
    transport.send(payload)
    assert api.bodies == [json.loads(json.dumps(payload))]
    assert "más ✓".encode() in api.requests[0].content  # UTF-8, not \\u escapes


def test_custom_base_url_version_and_headers(make_http: MakeHTTP) -> None:
    """base_url (trailing slash ignored), api_version and default headers are honoured."""
    transport, api = make_http(
        [ok()],
        base_url="http://proxy.local:8080/anthropic/",
        api_version="2026-10-21",
        default_headers={"x-team": "convo", "anthropic-version": "overridden"},
    )
    transport.send(PAYLOAD)
    request = api.requests[0]
    assert str(request.url) == "http://proxy.local:8080/anthropic/v1/messages"
    assert request.headers["anthropic-version"] == "2026-10-21"
    assert request.headers["x-team"] == "convo"


def test_key_and_base_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_http: MakeHTTP
) -> None:
    """ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL are the defaults."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://env.local")
    transport, api = make_http([ok()], api_key=None)
    transport.send(PAYLOAD)
    assert api.requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert str(api.requests[0].url) == "http://env.local/v1/messages"


@pytest.mark.parametrize("env", [None, ""])
def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, env: str | None) -> None:
    """No key anywhere: a TransportError that says where a key comes from."""
    if env is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", env)
    with pytest.raises(TransportError, match="ANTHROPIC_API_KEY"):
        HTTPTransport()
    with pytest.raises(TransportError, match="api_key="):
        AsyncHTTPTransport()


def test_response_is_the_body_with_its_request_id(make_http: MakeHTTP) -> None:
    """``send`` returns the JSON body (equal to a plain dict) plus request_id and safe headers."""
    response = httpx.Response(
        200,
        json=TEXT_MESSAGE,
        headers={
            "request-id": "req_42",
            "set-cookie": "session=1",
            "anthropic-ratelimit-requests-remaining": "9",
        },
    )
    transport, _ = make_http([response])
    result = transport.send(PAYLOAD)
    assert result == TEXT_MESSAGE
    assert type(result) is APIResponse
    assert result.request_id == "req_42"
    assert result.headers["anthropic-ratelimit-requests-remaining"] == "9"
    assert "set-cookie" not in result.headers


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, content=b""),
    ],
)
def test_success_body_that_is_not_an_object_is_a_codec_error(
    make_http: MakeHTTP, response: httpx.Response
) -> None:
    """A 2xx whose body is not a JSON object raises CodecError, not a crash."""
    transport, _ = make_http([response])
    with pytest.raises(CodecError):
        transport.send(PAYLOAD)


# -- error statuses --------------------------------------------------------------

STATUSES = [
    (400, "invalid_request_error", BadRequestError),
    (401, "authentication_error", AuthenticationError),
    (402, "billing_error", PaymentRequiredError),
    (403, "permission_error", PermissionDeniedError),
    (404, "not_found_error", NotFoundError),
    (408, "timeout_error", RequestTimeoutError),
    (409, "conflict_error", APIConflictError),
    (410, "invalid_request_error", APIStatusError),
    (412, "invalid_request_error", PreconditionFailedError),
    (413, "request_too_large", RequestTooLargeError),
    (422, "invalid_request_error", UnprocessableEntityError),
    (429, "rate_limit_error", RateLimitError),
    (431, "invalid_request_error", RequestHeaderFieldsTooLargeError),
    (499, "invalid_request_error", ClientClosedRequestError),
    (500, "api_error", InternalServerError),
    (501, "api_error", HTTPNotImplementedError),
    (502, "api_error", InternalServerError),
    (503, "api_error", ServiceUnavailableError),
    (504, "timeout_error", GatewayTimeoutError),
    (529, "overloaded_error", OverloadedError),
]


@pytest.mark.parametrize(("status", "kind", "cls"), STATUSES)
def test_every_status_maps_to_its_error(
    make_http: MakeHTTP, status: int, kind: str, cls: type[APIStatusError]
) -> None:
    """Each status raises its class with status, type, request id, body and attempts."""
    body = error_body(kind, f"something about {kind}")
    transport, _ = make_http([json_response(status, body, {"retry-after": "2"})], max_retries=0)
    with pytest.raises(APIStatusError) as info:
        transport.send(PAYLOAD)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, InternalServerError) == (status >= 500)  # as the SDK's tree
    assert error.status_code == status
    assert error.error_type == kind
    assert error.request_id == f"req_{status}"  # the header wins over the body's
    assert error.body == body
    assert error.retry_after == 2.0
    assert error.attempts == 1
    assert str(error).startswith(f"{status} {kind}: something about {kind}")
    assert f"req_{status}" in str(error)


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (httpx.Response(502, text="<html><body>Bad gateway</body></html>"), "Bad gateway"),
        (httpx.Response(503, content=b""), "Service Unavailable"),
        (httpx.Response(500, content=b"\xff\xfe not utf-8"), "not utf-8"),
        (httpx.Response(400, json=["a", "list"]), "Bad Request"),
        (httpx.Response(400, json={"error": "just a string"}), "Bad Request"),
        (
            httpx.Response(429, json={"type": "error", "error": {"type": 7, "message": None}}),
            "Too Many",
        ),
    ],
)
def test_unusual_error_bodies_do_not_crash(
    make_http: MakeHTTP, response: httpx.Response, fragment: str
) -> None:
    """Non-JSON, empty, undecodable and oddly shaped error bodies still give a status error."""
    transport, _ = make_http([response], max_retries=0)
    with pytest.raises(APIStatusError) as info:
        transport.send(PAYLOAD)
    assert info.value.status_code == response.status_code
    assert fragment in str(info.value)
    assert info.value.error_type is None


def test_request_id_from_the_body_when_the_header_is_missing(make_http: MakeHTTP) -> None:
    """Without a request-id header, the body's request_id is used."""
    response = httpx.Response(400, json=error_body("invalid_request_error", "bad", "req_in_body"))
    transport, _ = make_http([response])
    with pytest.raises(BadRequestError) as info:
        transport.send(PAYLOAD)
    assert info.value.request_id == "req_in_body"


def test_redirects_are_not_followed(make_http: MakeHTTP) -> None:
    """A 3xx is an APIStatusError, never silently followed with the key."""
    transport, api = make_http([httpx.Response(307, headers={"location": "http://elsewhere/"})])
    with pytest.raises(APIStatusError) as info:
        transport.send(PAYLOAD)
    assert info.value.status_code == 307
    assert len(api.requests) == 1


# -- retries -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503, 504, 529])
def test_retryable_statuses_are_retried_then_succeed(
    make_http: MakeHTTP, fake_sleep: FakeSleep, status: int
) -> None:
    """Two failures then a 200: three attempts, backoff 0.5 s then 1 s (no jitter)."""
    failure = json_response(status, error_body("api_error", "try again"))
    transport, api = make_http([failure, json_response(status, {}), ok()])
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    assert len(api.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]
    assert api.bodies == [PAYLOAD] * 3


def test_retries_exhausted_raise_the_last_error_with_attempts(
    make_http: MakeHTTP, fake_sleep: FakeSleep
) -> None:
    """After max_retries the last real error is raised, ``.attempts`` counting every try."""
    transport, api = make_http([overloaded(), overloaded(), overloaded()])
    with pytest.raises(OverloadedError) as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == 3
    assert "after 3 attempts" in str(info.value)
    assert len(api.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]


def test_jitter_only_shortens_the_backoff(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """With random() near 1 the waits are 75% of the base: 0.375 s, 0.75 s."""
    transport, _ = make_http([overloaded(), overloaded(), ok()], random=lambda: 1.0)
    transport.send(PAYLOAD)
    assert fake_sleep.delays == pytest.approx([0.375, 0.75])


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2), (5, 6)])
def test_max_retries_bounds_the_attempts(
    make_http: MakeHTTP, fake_sleep: FakeSleep, max_retries: int, attempts: int
) -> None:
    """``max_retries=n`` makes at most n + 1 attempts; backoff doubles up to 8 s."""
    transport, api = make_http([overloaded() for _ in range(attempts)], max_retries=max_retries)
    with pytest.raises(OverloadedError) as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == attempts
    assert len(api.requests) == attempts
    assert fake_sleep.delays == [0.5, 1.0, 2.0, 4.0, 8.0][:max_retries]


def test_retry_policy_is_used(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """A RetryPolicy sets the delays; ``max_retries`` overrides its count."""
    policy = RetryPolicy(max_retries=4, initial_delay=0.1, max_delay=0.25)
    transport, _ = make_http([overloaded()] * 4 + [ok()], retry_policy=policy)
    transport.send(PAYLOAD)
    assert fake_sleep.delays == pytest.approx([0.1, 0.2, 0.25, 0.25])
    assert transport.retry_policy == policy
    other, _ = make_http([], retry_policy=policy, max_retries=1)
    assert other.retry_policy.max_retries == 1
    assert other.retry_policy.initial_delay == 0.1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_final_statuses_are_not_retried(
    make_http: MakeHTTP, fake_sleep: FakeSleep, status: int
) -> None:
    """Client errors are raised at once."""
    transport, api = make_http([json_response(status, error_body("invalid_request_error", "no"))])
    with pytest.raises(APIStatusError):
        transport.send(PAYLOAD)
    assert len(api.requests) == 1
    assert fake_sleep.delays == []


def test_x_should_retry_true_retries_a_400(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """The server's ``x-should-retry: true`` overrides the status policy."""
    retry_me = json_response(
        400, error_body("invalid_request_error", "x"), {"x-should-retry": "true"}
    )
    transport, api = make_http([retry_me, ok()])
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    assert len(api.requests) == 2


def test_x_should_retry_false_stops_a_529(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """The server's ``x-should-retry: false`` overrides the status policy."""
    transport, api = make_http([overloaded(**{"x-should-retry": "false"}), ok()])
    with pytest.raises(OverloadedError) as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == 1
    assert len(api.requests) == 1
    assert fake_sleep.delays == []


@pytest.mark.parametrize(
    ("headers", "delay", "retry_after"),
    [
        ({"retry-after-ms": "1500"}, 1.5, 1.5),
        ({"retry-after-ms": "20", "retry-after": "9"}, 0.02, 0.02),
        ({"retry-after": "3"}, 3.0, 3.0),
        ({"retry-after": "2.5"}, 2.5, 2.5),
        ({"retry-after": "60"}, 60.0, 60.0),
        ({"retry-after": "61"}, 0.5, 61.0),  # over 60 s: backoff
        ({"retry-after-ms": "3600000"}, 0.5, 3600.0),
        ({"retry-after": "0"}, 0.5, 0.0),
        ({"retry-after": "-4"}, 0.5, -4.0),
        ({"retry-after": "whenever"}, 0.5, None),
        ({"retry-after": "NaN"}, 0.5, None),
    ],
)
def test_retry_after_variants(
    make_http: MakeHTTP,
    fake_sleep: FakeSleep,
    headers: dict[str, str],
    delay: float,
    retry_after: float | None,
) -> None:
    """A wait in (0, 60] s is obeyed exactly; else backoff; ``.retry_after`` keeps the value."""
    limited = json_response(429, error_body("rate_limit_error", "slow down"), headers)
    transport, _ = make_http([limited, ok()])
    transport.send(PAYLOAD)
    assert fake_sleep.delays == [pytest.approx(delay)]
    transport, _ = make_http([json_response(429, {}, headers)], max_retries=0)
    with pytest.raises(RateLimitError) as info:
        transport.send(PAYLOAD)
    assert info.value.retry_after == (None if retry_after is None else pytest.approx(retry_after))


@pytest.mark.parametrize(
    ("offset", "expected"), [(5, (3.5, 5.0)), (-30, (0.5, 0.5)), (600, (0.5, 0.5))]
)
def test_retry_after_http_date(
    make_http: MakeHTTP, fake_sleep: FakeSleep, offset: int, expected: tuple[float, float]
) -> None:
    """An HTTP date in the near future is waited for; a past or distant one falls back."""
    date = email.utils.formatdate(time.time() + offset, usegmt=True)
    transport, _ = make_http([overloaded(**{"retry-after": date}), ok()])
    transport.send(PAYLOAD)
    (wait,) = fake_sleep.delays
    assert expected[0] <= wait <= expected[1]


# -- network errors ------------------------------------------------------------------


def test_timeouts_are_retried_then_raised(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """Read timeouts are retried; the final APITimeoutError wraps the httpx error."""
    timeouts = [httpx.ReadTimeout("timed out") for _ in range(3)]
    transport, api = make_http(timeouts)
    with pytest.raises(APITimeoutError) as info:
        transport.send(PAYLOAD)
    assert info.value.attempts == 3
    assert info.value.__cause__ is timeouts[-1]
    assert len(api.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]


def test_connection_error_then_success(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """A dropped connection is retried like the SDK does."""
    transport, api = make_http(
        [httpx.ConnectError("refused"), httpx.RemoteProtocolError("eof"), ok()]
    )
    assert transport.send(PAYLOAD) == TEXT_MESSAGE
    assert len(api.requests) == 3
    assert fake_sleep.delays == [0.5, 1.0]


def test_connection_error_is_not_a_timeout(make_http: MakeHTTP) -> None:
    """A refused connection is APIConnectionError, not its timeout subclass."""
    error = httpx.ConnectError("[Errno 111] Connection refused")
    transport, _ = make_http([error], max_retries=0)
    with pytest.raises(APIConnectionError) as info:
        transport.send(PAYLOAD)
    assert type(info.value) is APIConnectionError
    assert info.value.__cause__ is error
    assert "Connection refused" in str(info.value)


def test_timeout_setting(fake_sleep: FakeSleep) -> None:
    """Our own client gets the SDK's default; a caller's client keeps its own unless told."""
    own = HTTPTransport(api_key=API_KEY)
    assert own._client.timeout == DEFAULT_TIMEOUT
    own.close()
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return ok()

    with httpx.Client(transport=httpx.MockTransport(handler), timeout=7.0) as client:
        HTTPTransport(api_key=API_KEY, client=client).send(PAYLOAD)
        HTTPTransport(api_key=API_KEY, client=client, timeout=2.0).send(PAYLOAD)
    assert seen[0]["read"] == 7.0
    assert seen[1]["read"] == 2.0


# -- the httpx error boundary: complete, in one place ----------------------------------


def _request() -> httpx.Request:
    return httpx.Request("POST", "https://api.anthropic.com/v1/messages")


def make_httpx_error(cls: type[Exception]) -> Exception:
    """An instance of any httpx exception class."""
    if issubclass(cls, httpx.HTTPStatusError):
        response = httpx.Response(503, request=_request(), json=error_body("api_error", "down"))
        return cls("503", request=_request(), response=response)
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=_request())
    if cls in (
        httpx.StreamConsumed,
        httpx.StreamClosed,
        httpx.ResponseNotRead,
        httpx.RequestNotRead,
    ):
        return cls()
    return cls("boom")


HTTPX_EXCEPTIONS = sorted(
    (
        obj
        for name in httpx.__all__
        if isinstance(obj := getattr(httpx, name), type) and issubclass(obj, Exception)
    ),
    key=lambda cls: cls.__name__,
)

EXPECTED: dict[str, tuple[type[TransportError], bool]] = {
    "CloseError": (APIConnectionError, True),
    "ConnectError": (APIConnectionError, True),
    "ConnectTimeout": (APITimeoutError, True),
    "CookieConflict": (APIConnectionError, False),
    "DecodingError": (APIConnectionError, True),
    "HTTPError": (APIConnectionError, False),
    "HTTPStatusError": (ServiceUnavailableError, True),
    "InvalidURL": (APIConnectionError, False),
    "LocalProtocolError": (APIConnectionError, False),
    "NetworkError": (APIConnectionError, True),
    "PoolTimeout": (APITimeoutError, True),
    "ProtocolError": (APIConnectionError, True),
    "ProxyError": (APIConnectionError, True),
    "ReadError": (APIConnectionError, True),
    "ReadTimeout": (APITimeoutError, True),
    "RemoteProtocolError": (APIConnectionError, True),
    "RequestError": (APIConnectionError, True),
    "RequestNotRead": (APIConnectionError, False),
    "ResponseNotRead": (APIConnectionError, False),
    "StreamClosed": (APIConnectionError, False),
    "StreamConsumed": (APIConnectionError, False),
    "StreamError": (APIConnectionError, False),
    "TimeoutException": (APITimeoutError, True),
    "TooManyRedirects": (APIConnectionError, False),
    "TransportError": (APIConnectionError, True),
    "UnsupportedProtocol": (APIConnectionError, False),
    "WriteError": (APIConnectionError, True),
    "WriteTimeout": (APITimeoutError, True),
}


def test_translation_table_covers_every_httpx_exception() -> None:
    """Every exception class httpx exports has an expected translation (none forgotten)."""
    assert sorted(cls.__name__ for cls in HTTPX_EXCEPTIONS) == sorted(EXPECTED)
    assert all(issubclass(cls, HTTPX_ERRORS) for cls in HTTPX_EXCEPTIONS)


@pytest.mark.parametrize("cls", HTTPX_EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_httpx_error_is_translated(cls: type[Exception]) -> None:
    """Each httpx error maps to its convo error and retry verdict; mid-stream, to StreamError."""
    exc = make_httpx_error(cls)
    error, retried = translate_httpx_error(exc, attempts=2)
    expected_class, expected_retry = EXPECTED[cls.__name__]
    assert type(error) is expected_class
    assert retried is expected_retry
    assert error.attempts == 2  # type: ignore[attr-defined]
    streamed, retried = translate_httpx_error(exc, streaming=True)
    assert type(streamed) is StreamError
    assert retried is False


@pytest.mark.parametrize("cls", HTTPX_EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_every_httpx_error_surfaces_as_a_convo_error(
    make_http: MakeHTTP, fake_sleep: FakeSleep, cls: type[Exception]
) -> None:
    """End to end: whatever httpx raises, the caller sees a TransportError caused by it."""
    errors = [make_httpx_error(cls) for _ in range(3)]
    transport, api = make_http(errors)
    with pytest.raises(TransportError) as info:
        transport.send(PAYLOAD)
    expected_class, retried = EXPECTED[cls.__name__]
    assert type(info.value) is expected_class
    assert info.value.__cause__ is errors[len(api.requests) - 1]
    assert len(api.requests) == (3 if retried else 1)


def test_translation_refuses_foreign_exceptions() -> None:
    """Only httpx errors are translated; anything else is a bug to surface."""
    with pytest.raises(TypeError):
        translate_httpx_error(ValueError("x"))


def test_httpx_is_translated_in_one_module() -> None:
    """Only ``http.py`` imports httpx: the error boundary has one place (and only
    ``anthropic.py`` imports the SDK's own HTTP client, httpx2)."""
    package = pathlib.Path(convo.transport.__file__).parent

    def importers(module: str) -> list[str]:
        pattern = re.compile(rf"^\s*(import|from) {module}\b(?!\w)", re.MULTILINE)
        return sorted(p.name for p in package.glob("*.py") if pattern.search(p.read_text()))

    assert importers("httpx") == ["http.py"]
    assert importers("httpx2") == ["anthropic.py"]


# -- token counting --------------------------------------------------------------------


def test_count_tokens_sends_only_accepted_fields(make_http: MakeHTTP) -> None:
    """count_tokens drops max_tokens, stream, stop_sequences, metadata, sampling parameters."""
    payload = {
        **PAYLOAD,
        "system": "Be brief.",
        "tools": [{"name": "t", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "stream": True,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "service_tier": "auto",
    }
    transport, api = make_http([json_response(200, {"input_tokens": 1234})])
    assert transport.count_tokens(payload) == 1234
    request = api.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages/count_tokens"
    assert api.bodies[0] == {
        "model": PAYLOAD["model"],
        "messages": PAYLOAD["messages"],
        "system": "Be brief.",
        "tools": payload["tools"],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }


def test_count_tokens_errors(make_http: MakeHTTP, fake_sleep: FakeSleep) -> None:
    """count_tokens is retried and mapped like send; a bad body is a CodecError."""
    transport, _ = make_http([overloaded(), json_response(200, {"input_tokens": 7})])
    assert transport.count_tokens(PAYLOAD) == 7
    assert fake_sleep.delays == [0.5]
    for body in ({"tokens": 7}, {"input_tokens": "7"}, {"input_tokens": True}):
        transport, _ = make_http([json_response(200, body)])
        with pytest.raises(CodecError, match="input_tokens"):
            transport.count_tokens(PAYLOAD)
    transport, _ = make_http([json_response(400, error_body("invalid_request_error", "no"))])
    with pytest.raises(BadRequestError):
        transport.count_tokens(PAYLOAD)


# -- lifecycle -----------------------------------------------------------------------


def test_a_callers_client_is_never_closed() -> None:
    """Closing the transport leaves a client it was handed open."""
    client = httpx.Client(transport=httpx.MockTransport(lambda r: ok()))
    with HTTPTransport(api_key=API_KEY, client=client) as transport:
        transport.send(PAYLOAD)
    assert not client.is_closed
    assert client.get("https://x/").status_code == 200
    client.close()


def test_own_client_is_closed() -> None:
    """The client the transport created is closed with it."""
    with HTTPTransport(api_key=API_KEY) as transport:
        client = transport._client
        assert not client.is_closed
    assert client.is_closed


async def test_satisfies_the_protocols() -> None:
    """Both HTTP transports satisfy their protocol."""
    with HTTPTransport(api_key=API_KEY) as transport:
        assert isinstance(transport, convo.transport.Transport)
    async with AsyncHTTPTransport(api_key=API_KEY) as atransport:
        assert isinstance(atransport, convo.transport.AsyncTransport)


# -- async ---------------------------------------------------------------------------


async def test_async_send_retries_and_succeeds(
    make_async_http: Any, async_fake_sleep: AsyncFakeSleep
) -> None:
    """The async transport retries with the awaited sleep and returns the body."""
    transport, api = make_async_http(
        [overloaded(**{"retry-after-ms": "250"}), httpx.ReadTimeout("t"), ok()]
    )
    result = await transport.send(PAYLOAD)
    assert result == TEXT_MESSAGE
    assert result.request_id == "req_200"
    assert async_fake_sleep.delays == [0.25, 1.0]
    assert api.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert api.bodies == [PAYLOAD] * 3


@pytest.mark.parametrize(("status", "kind", "cls"), STATUSES)
async def test_async_statuses(
    make_async_http: Any, status: int, kind: str, cls: type[APIStatusError]
) -> None:
    """The async transport maps every status like the sync one."""
    transport, _ = make_async_http([json_response(status, error_body(kind, "m"))], max_retries=0)
    with pytest.raises(APIStatusError) as info:
        await transport.send(PAYLOAD)
    assert type(info.value) is cls
    assert info.value.error_type == kind


async def test_async_timeouts_and_count_tokens(
    make_async_http: Any, async_fake_sleep: AsyncFakeSleep
) -> None:
    """Async timeouts end in APITimeoutError; count_tokens works the same."""
    transport, _ = make_async_http([httpx.ConnectTimeout("t")] * 3)
    with pytest.raises(APITimeoutError) as info:
        await transport.send(PAYLOAD)
    assert info.value.attempts == 3
    transport, api = make_async_http([json_response(200, {"input_tokens": 5})])
    assert await transport.count_tokens({**PAYLOAD, "metadata": {"user_id": "x"}}) == 5
    assert "metadata" not in api.bodies[0]
    assert "max_tokens" not in api.bodies[0]


async def test_async_client_ownership() -> None:
    """The async transport closes its own client and never a caller's."""
    async with AsyncHTTPTransport(api_key=API_KEY) as transport:
        own = transport._client
    assert own.is_closed
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok()))
    async with AsyncHTTPTransport(api_key=API_KEY, client=client) as transport:
        await transport.send(PAYLOAD)
    assert not client.is_closed
    await client.aclose()

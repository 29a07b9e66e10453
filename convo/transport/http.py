"""The Messages API over httpx: ``HTTPTransport`` and ``AsyncHTTPTransport``.

Each request is retried like the official SDK does (``retry.py``): on
connection errors, timeouts, 408, 409, 429 and >= 500 (529 included),
obeying ``x-should-retry`` and a ``retry-after`` of up to 60 s, else with
exponential backoff and jitter.  ``sleep`` and ``random`` are injected, so
tests never wait.  Streams are retried only until the status arrives.

This module is the one place where httpx errors become convo errors
(:func:`translate_httpx_error`), and where error responses are read.

Headers: by default what the official SDK sends today (``anthropic-version:
2026-10-21`` and ``Authorization: Bearer <key>``); ``api_version`` and
``auth="x-api-key"`` select the older forms.  Exactly one of the two
credential headers is ever sent, whatever ``default_headers`` or a
caller's client carry.

The API key lives in a private holder whose repr is ``<redacted>``; it is
sent as a per-request header (never set on a client), and scrubbed from
everything server text can reach: error messages, bodies and request ids,
``error`` events inside a 200 stream, the response headers kept on a
result, and the records of the ``httpx`` and ``httpcore`` loggers (a
proxy or server may echo the key in a header, which httpcore logs at
DEBUG).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import logging
import os
import random as _random
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, Final, Literal, NoReturn, get_args

import httpx

from convo.codec import dumps
from convo.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CodecError,
    StreamError,
    TransportError,
)
from convo.transport._json import StrictJSONError, strict_loads
from convo.transport._sse import ServerSentEvent, SSEParser, parse_event
from convo.transport._status import read_body, status_error
from convo.transport.base import (
    APIResponse,
    AsyncBaseTransport,
    AsyncEventStream,
    BaseTransport,
    Event,
    EventStream,
    Payload,
    count_tokens_body,
    redact_headers,
)
from convo.transport.retry import (
    DEFAULT_RETRY_POLICY,
    RetryPolicy,
    next_delay,
    parse_retry_after,
    should_retry,
)
from convo.transport.stream import FINE_GRAINED_TOOL_STREAMING, Accumulator, StreamCheck
from convo.versions import API_VERSIONS, DEFAULT_API_VERSION

__all__ = [
    "AUTH_HEADERS",
    "COUNT_TOKENS_PATH",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "HTTPX_ERRORS",
    "MESSAGES_PATH",
    "SCRUBBED_LOGGERS",
    "AsyncHTTPTransport",
    "HTTPTransport",
    "AuthHeader",
    "translate_httpx_error",
]

logger = logging.getLogger("convo.transport")

DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
AuthHeader = Literal["bearer", "x-api-key"]
"""How the key is sent: ``Authorization: Bearer <key>`` (the SDK 2.x's way,
the default) or ``x-api-key: <key>`` (SDK 1.x, the API docs' examples)."""
AUTH_HEADERS: Final[tuple[AuthHeader, ...]] = get_args(AuthHeader)
_CREDENTIAL_HEADERS: Final = ("authorization", "x-api-key")
DEFAULT_TIMEOUT: Final = httpx.Timeout(600.0, connect=5.0)
"""The SDK's: ten minutes overall, five seconds to connect."""
MESSAGES_PATH: Final = "/v1/messages"
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"

_REDACTED: Final = "[redacted]"
_WHOLE_KEY_LENGTH: Final = 20
"""Keys at least this long are scrubbed wherever they appear; shorter ones
only as whole tokens (replacing every "fake" would mangle messages)."""

try:
    _USER_AGENT = f"convo/{importlib.metadata.version('convo')}"
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
    _USER_AGENT = "convo"


class _Unset:
    """Marks a ``timeout`` left to the client's own (a caller's client) or ours."""

    def __repr__(self) -> str:
        return "<client default>"


_UNSET: Final = _Unset()

TimeoutTypes = float | httpx.Timeout | None | _Unset


class _Secret:
    """Holds the API key; prints, logs and pickles as nothing."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        _LIVE_SECRETS.add(self)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an API key does not pickle")


_LIVE_SECRETS: Final[weakref.WeakSet[_Secret]] = weakref.WeakSet()
"""The keys of the transports alive now: what the log filter scrubs."""

SCRUBBED_LOGGERS: Final = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
"""The loggers whose records may hold server text (httpcore logs each
response's headers at DEBUG); a logger's filter does not reach its
children, so each is named."""


class _ScrubFilter(logging.Filter):
    """Replaces every live transport's key in a record by ``[redacted]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s.reveal() for s in list(_LIVE_SECRETS)]
        if not secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:  # a record whose arguments do not format: leave it to logging
            return True
        if any(secret in text for secret in secrets):
            for secret in secrets:
                text = text.replace(secret, _REDACTED)
            record.msg, record.args = text, None
        return True


_SCRUB_FILTER: Final = _ScrubFilter()


def _install_log_filter() -> None:
    for name in SCRUBBED_LOGGERS:
        target = logging.getLogger(name)
        if _SCRUB_FILTER not in target.filters:
            target.addFilter(_SCRUB_FILTER)


# -- httpx errors -> convo errors: the only place this happens ---------------

HTTPX_ERRORS: Final = (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError)
"""Every exception httpx raises on purpose (the roots of its hierarchy)."""

# (httpx class, convo class, retried?, message); the first match wins, so
# subclasses come before their bases.
_TRANSLATIONS: Final[tuple[tuple[type[Exception], type[APIConnectionError], bool, str], ...]] = (
    (httpx.TimeoutException, APITimeoutError, True, "request timed out"),
    (httpx.UnsupportedProtocol, APIConnectionError, False, "unsupported URL scheme"),
    (httpx.LocalProtocolError, APIConnectionError, False, "invalid HTTP request"),
    (httpx.TransportError, APIConnectionError, True, "connection error"),
    (httpx.DecodingError, APIConnectionError, True, "undecodable response"),
    (httpx.TooManyRedirects, APIConnectionError, False, "too many redirects"),
    (httpx.RequestError, APIConnectionError, True, "request failed"),
    (httpx.InvalidURL, APIConnectionError, False, "invalid URL"),
    (httpx.CookieConflict, APIConnectionError, False, "cookie conflict"),
    (httpx.StreamError, APIConnectionError, False, "httpx stream misuse"),
    (httpx.HTTPError, APIConnectionError, False, "HTTP error"),
)


def translate_httpx_error(
    exc: BaseException,
    *,
    attempts: int = 1,
    streaming: bool = False,
    scrub: Callable[[str], str] = str,
) -> tuple[TransportError, bool]:
    """The convo error for an httpx error, and whether it is worth a retry.

    Timeouts become ``APITimeoutError``; other failures to get a response
    ``APIConnectionError`` (network errors and timeouts are retried, local
    mistakes such as a bad URL are not); an ``httpx.HTTPStatusError``
    becomes the status error of its response.  ``streaming=True`` means the
    status had arrived: every failure is then a ``StreamError``, never
    retried.  The caller raises the result ``from exc``.

    Raises:
        TypeError: ``exc`` is not an httpx error (a bug: only those are caught).
    """
    detail = scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if streaming:
        return StreamError(f"stream broke after the response started: {detail}"), False
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        try:
            body = read_body(response.content)
        except httpx.ResponseNotRead:
            body = None
        return status_error(
            response.status_code,
            body,
            request_id=_scrub_optional(scrub, response.headers.get("request-id")),
            retry_after=parse_retry_after(response.headers),
            attempts=attempts,
            reason=scrub(response.reason_phrase),
            scrub=scrub,
        ), should_retry(response.status_code, response.headers)
    for httpx_class, convo_class, retried, message in _TRANSLATIONS:
        if isinstance(exc, httpx_class):
            suffix = f" after {attempts} attempts" if attempts > 1 else ""
            return convo_class(f"{message}: {detail}{suffix}", attempts=attempts), retried
    raise TypeError(f"not an httpx error: {type(exc).__name__}")


def _scrub_optional(scrub: Callable[[str], str], text: str | None) -> str | None:
    return None if text is None else scrub(text)


# -- configuration and response reading, shared by both transports ----------


class _Core:
    """Everything the sync and async transports share except the I/O."""

    __slots__ = (
        "_key",
        "api_version",
        "auth",
        "base_url",
        "betas",
        "default_headers",
        "policy",
        "random",
        "timeout",
    )

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        api_version: str,
        auth: str,
        betas: Iterable[str],
        default_headers: Mapping[str, str] | None,
        policy: RetryPolicy,
        timeout: httpx.Timeout | float | _Unset | None,
        random: Callable[[], float],
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise TransportError(
                "no API key: pass api_key=... or set the ANTHROPIC_API_KEY environment variable"
            )
        if api_version not in API_VERSIONS:
            raise TransportError(
                f"unknown api_version {api_version!r}: convo knows {', '.join(API_VERSIONS)}"
            )
        if auth not in AUTH_HEADERS:
            raise TransportError(f"unknown auth {auth!r}: use 'bearer' or 'x-api-key'")
        self.auth = auth
        self._key = _Secret(key)
        _install_log_filter()
        url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = url.rstrip("/")
        self.api_version = api_version
        self.betas = tuple(betas)
        self.default_headers = dict(default_headers or {})
        self.policy = policy
        self.timeout = timeout
        self.random = random

    def describe(self, cls: str) -> str:
        return (
            f"{cls}(base_url={self.base_url!r}, api_version={self.api_version!r}, "
            f"auth={self.auth!r}, betas={self.betas!r}, max_retries={self.policy.max_retries})"
        )

    def scrub(self, text: str) -> str:
        """``text`` without the API key.

        A real key (long and random) is replaced wherever it appears. A short
        one (``"fake"`` in a test setup) is replaced only where it stands as
        a whole token, so ``req_fake_400`` or ``breakfake`` stay as they are.
        """
        key = self._key.reveal()
        if len(key) >= _WHOLE_KEY_LENGTH:
            return text.replace(key, _REDACTED)
        return re.sub(rf"(?<![A-Za-z0-9_-]){re.escape(key)}(?![A-Za-z0-9_-])", _REDACTED, text)

    def scrub_bytes(self, content: bytes) -> bytes:
        """:meth:`scrub` for a response body."""
        key = self._key.reveal()
        if len(key) >= _WHOLE_KEY_LENGTH:
            return content.replace(key.encode(), _REDACTED.encode())
        pattern = rb"(?<![A-Za-z0-9_-])" + re.escape(key.encode()) + rb"(?![A-Za-z0-9_-])"
        return re.sub(pattern, _REDACTED.encode(), content)

    def scrub_optional(self, text: str | None) -> str | None:
        return None if text is None else self.scrub(text)

    def headers(self, response: httpx.Response) -> dict[str, str]:
        """The response headers worth keeping: secrets dropped, echoed keys scrubbed."""
        return {name: self.scrub(value) for name, value in redact_headers(response.headers).items()}

    def decode(self, parser: SSEParser, check: StreamCheck, chunk: bytes | None) -> Iterator[Event]:
        """The events of one chunk (``None``: the body ended cleanly), checked;
        the sans-IO step both transports' stream loops share."""
        for sse in parser.feed(chunk) if chunk is not None else parser.close():
            event = self.event(sse)
            check.observe(event)
            yield event
            if check.done:
                return

    def event(self, sse: ServerSentEvent) -> Event:
        """One parsed stream event; an ``error`` event is read from scrubbed text
        (server text that may echo the key), every other event as it came."""
        key = self._key.reveal()
        if key in sse.event:  # the name is quoted in errors; it is never the key
            sse = sse._replace(event=self.scrub(sse.event))
        if key in sse.data:
            scrubbed = parse_event(sse._replace(data=self.scrub(sse.data)))
            if scrubbed.get("type") == "error":
                return scrubbed
        return parse_event(sse)

    def request(
        self, client: httpx.Client | httpx.AsyncClient, path: str, content: bytes, *, stream: bool
    ) -> httpx.Request:
        """One attempt's request (a fresh one each time: hooks may have changed the last)."""
        headers = httpx.Headers(self.default_headers)
        for name in _CREDENTIAL_HEADERS:
            headers.pop(name, None)
        headers.update(
            {
                "anthropic-version": self.api_version,
                "content-type": "application/json",
                "accept": "text/event-stream" if stream else "application/json",
                "user-agent": _USER_AGENT,
            }
        )
        if self.betas:
            headers["anthropic-beta"] = ",".join(self.betas)
        timeout = httpx.USE_CLIENT_DEFAULT if isinstance(self.timeout, _Unset) else self.timeout
        request = client.build_request(
            "POST",
            self.base_url + path,
            content=content,
            headers=headers,
            timeout=timeout,
        )
        # After the merge with the client's own headers: exactly one credential (A2).
        for name in _CREDENTIAL_HEADERS:
            request.headers.pop(name, None)
        if self.auth == "bearer":
            request.headers["authorization"] = f"Bearer {self._key.reveal()}"
        else:
            request.headers["x-api-key"] = self._key.reveal()
        return request

    def failure(self, response: httpx.Response, attempts: int) -> tuple[APIStatusError, bool]:
        """The error for a read, non-2xx response, and whether to retry it."""
        content = self.scrub_bytes(response.content)
        headers = response.headers
        error = status_error(
            response.status_code,
            read_body(content),
            request_id=self.scrub_optional(headers.get("request-id")),
            retry_after=parse_retry_after(headers),
            attempts=attempts,
            reason=self.scrub(response.reason_phrase),
            scrub=self.scrub,
        )
        return error, should_retry(response.status_code, headers)

    def translate(self, exc: BaseException, attempts: int) -> tuple[TransportError, bool]:
        return translate_httpx_error(exc, attempts=attempts, scrub=self.scrub)

    def delay(
        self, error: TransportError, retryable: bool, retries: int, path: str
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up."""
        if not retryable or retries >= self.policy.max_retries:
            return None
        retry_after = error.retry_after if isinstance(error, APIStatusError) else None
        wait = next_delay(self.policy, retries, retry_after, random=self.random)
        logger.info(
            "retrying POST %s in %.3f s (retry %d of %d) after: %s",
            path,
            wait,
            retries + 1,
            self.policy.max_retries,
            error,
        )
        return wait

    def sent(self, path: str, attempt: int, response: httpx.Response) -> None:
        logger.debug(
            "POST %s attempt %d -> %d (request-id %s)",
            path,
            attempt,
            response.status_code,
            self.scrub_optional(response.headers.get("request-id")),
        )

    def message(self, response: httpx.Response) -> APIResponse:
        """The JSON object of a 2xx response.

        Raises:
            CodecError: the body is not a JSON object.
        """
        try:
            body = strict_loads(response.content)
        except StrictJSONError as exc:
            kind = self.scrub_optional(response.headers.get("content-type"))
            raise CodecError(
                f"the {response.status_code} response body is not strict JSON: {exc} "
                f"(content-type {kind!r})"
            ) from None
        if not isinstance(body, dict):
            raise CodecError(f"the response body is {type(body).__name__}, not an object")
        return APIResponse(
            body,
            request_id=self.scrub_optional(response.headers.get("request-id")),
            headers=self.headers(response),
        )

    @staticmethod
    def input_tokens(body: Mapping[str, Any]) -> int:
        count = body.get("input_tokens")
        if isinstance(count, bool) or not isinstance(count, int):
            raise CodecError(
                "count_tokens response has no integer input_tokens", path="$.input_tokens"
            )
        return count


def _policy(max_retries: int | None, retry_policy: RetryPolicy | None) -> RetryPolicy:
    policy = retry_policy or DEFAULT_RETRY_POLICY
    if max_retries is not None:
        policy = dataclasses.replace(policy, max_retries=max_retries)
    return policy


def _stream_body(payload: Payload) -> dict[str, Any]:
    return {**payload, "stream": True}


# -- the transports ------------------------------------------------------------


class _Settings:
    """What both HTTP transports say of their settings (one text for the twins)."""

    _core: _Core

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._core.policy

    @property
    def api_version(self) -> str:
        """The ``anthropic-version`` every request is sent with."""
        return self._core.api_version

    @property
    def betas(self) -> tuple[str, ...]:
        """The beta names every request sends in ``anthropic-beta``."""
        return self._core.betas

    def redact(self, text: str) -> str:
        """``text`` with this transport's API key replaced by ``[redacted]``."""
        return self._core.scrub(text)

    def accumulator(self) -> Accumulator:
        """The fold for this transport's streams: unfinished tool strings are kept
        when the fine-grained tool streaming beta is sent, as the SDK does."""
        return Accumulator(partial_strings=FINE_GRAINED_TOOL_STREAMING in self._core.betas)


class HTTPTransport(_Settings, BaseTransport):
    """The Messages API over an ``httpx.Client``.

    Args:
        api_key: the key; default ``ANTHROPIC_API_KEY`` from the environment.
        base_url: default ``ANTHROPIC_BASE_URL`` or ``https://api.anthropic.com``.
        api_version: the ``anthropic-version`` header, one of
            ``convo.versions.API_VERSIONS``; default ``DEFAULT_API_VERSION``
            (``2026-10-21``, what the official SDK sends).
        auth: ``"bearer"`` (default: ``Authorization: Bearer <key>``, as the
            SDK 2.x sends it) or ``"x-api-key"``; exactly one is sent, and a
            credential header in ``default_headers`` or on your client is
            replaced by it.
        betas: names joined with commas into ``anthropic-beta``.
        max_retries: overrides ``retry_policy.max_retries`` (default 2).
        retry_policy: delays and caps (``RetryPolicy``).
        timeout: per request; default 600 s (connect 5 s) on the client this
            transport creates, and the client's own setting on yours.
        client: your ``httpx.Client`` (proxies, limits, mounts, event hooks);
            it is used as is and never closed here.
        default_headers: extra headers for every request.
        sleep: waits between attempts (inject a fake in tests).
        random: the jitter source, ``() -> [0, 1)``.

    Raises:
        TransportError: no API key was given or found, or an unknown
            ``api_version`` or ``auth``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        auth: AuthHeader = "bearer",
        betas: Iterable[str] = (),
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: TimeoutTypes = _UNSET,
        client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._core = _Core(
            api_key,
            base_url,
            api_version,
            auth,
            betas,
            default_headers,
            _policy(max_retries, retry_policy),
            timeout if client is not None else _UNSET,
            random,
        )
        self._owns_client = client is None
        if client is None:
            client = httpx.Client(
                timeout=DEFAULT_TIMEOUT if isinstance(timeout, _Unset) else timeout
            )
        self._client = client
        self._sleep = sleep

    def _post(self, path: str, body: Any, *, stream: bool = False) -> httpx.Response:
        core = self._core
        content = dumps(body).encode("utf-8")  # once: a long history is large
        retries = 0
        while True:
            attempts = retries + 1
            error: TransportError
            cause: BaseException | None = None
            try:
                response = self._client.send(
                    core.request(self._client, path, content, stream=stream), stream=stream
                )
                core.sent(path, attempts, response)
                if response.is_success:
                    return response
                if stream:
                    try:
                        response.read()
                    finally:
                        response.close()
                error, retryable = core.failure(response, attempts)
            except HTTPX_ERRORS as exc:
                error, retryable = core.translate(exc, attempts)
                cause = exc
            wait = core.delay(error, retryable, retries, path)
            if wait is None:
                raise error from cause
            self._sleep(wait)
            retries += 1

    def send(self, payload: Payload) -> APIResponse:
        """``POST /v1/messages``; the response body with its ``request_id``.

        Raises:
            APIStatusError: an error status (its subclass), after retries.
            APIConnectionError: no response (``APITimeoutError`` for timeouts).
            CodecError: a 2xx body that is not a JSON object.
        """
        return self._core.message(self._post(MESSAGES_PATH, payload))

    def count_tokens(self, payload: Payload) -> int:
        """``POST /v1/messages/count_tokens`` with the fields it accepts; ``input_tokens``."""
        body = self._core.message(self._post(COUNT_TOKENS_PATH, count_tokens_body(payload)))
        return self._core.input_tokens(body)

    def stream(self, payload: Payload) -> EventStream:
        """Send ``payload`` with ``stream: true``; iterate the parsed events.

        Raises (while iterating):
            APIStatusError / APIConnectionError: as ``send``, before any event.
            StreamError: the connection broke, an event was malformed, or the
                stream ended without ``message_stop``.
            APIStatusError: an ``error`` event (see ``convo.transport.stream``).
        """
        return EventStream(lambda into: self._events(payload, into))

    def _events(self, payload: Payload, into: EventStream) -> Iterator[Event]:
        response = self._post(MESSAGES_PATH, _stream_body(payload), stream=True)
        try:
            into.request_id = self._core.scrub_optional(response.headers.get("request-id"))
            into.headers = self._core.headers(response)
            check = StreamCheck(into.request_id)
            parser = SSEParser()
            try:
                for chunk in response.iter_bytes():
                    yield from self._core.decode(parser, check, chunk)
                    if check.done:
                        return
                yield from self._core.decode(parser, check, None)
            except HTTPX_ERRORS as exc:
                error, _ = translate_httpx_error(exc, streaming=True, scrub=self._core.scrub)
                raise error from exc
            check.finish()
        finally:
            response.close()

    def close(self) -> None:
        """Close the client if this transport created it."""
        if self._owns_client:
            self._client.close()


class AsyncHTTPTransport(_Settings, AsyncBaseTransport):
    """The async twin of :class:`HTTPTransport`, over an ``httpx.AsyncClient``.

    Same arguments; ``sleep`` is awaited (default ``asyncio.sleep``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        auth: AuthHeader = "bearer",
        betas: Iterable[str] = (),
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: TimeoutTypes = _UNSET,
        client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self._core = _Core(
            api_key,
            base_url,
            api_version,
            auth,
            betas,
            default_headers,
            _policy(max_retries, retry_policy),
            timeout if client is not None else _UNSET,
            random,
        )
        self._owns_client = client is None
        if client is None:
            client = httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT if isinstance(timeout, _Unset) else timeout
            )
        self._client = client
        self._sleep = sleep

    async def _post(self, path: str, body: Any, *, stream: bool = False) -> httpx.Response:
        core = self._core
        content = dumps(body).encode("utf-8")  # once: a long history is large
        retries = 0
        while True:
            attempts = retries + 1
            error: TransportError
            cause: BaseException | None = None
            try:
                response = await self._client.send(
                    core.request(self._client, path, content, stream=stream), stream=stream
                )
                core.sent(path, attempts, response)
                if response.is_success:
                    return response
                if stream:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                error, retryable = core.failure(response, attempts)
            except HTTPX_ERRORS as exc:
                error, retryable = core.translate(exc, attempts)
                cause = exc
            wait = core.delay(error, retryable, retries, path)
            if wait is None:
                raise error from cause
            await self._sleep(wait)
            retries += 1

    async def send(self, payload: Payload) -> APIResponse:
        """``POST /v1/messages``; see :meth:`HTTPTransport.send`."""
        return self._core.message(await self._post(MESSAGES_PATH, payload))

    async def count_tokens(self, payload: Payload) -> int:
        """``POST /v1/messages/count_tokens``; see :meth:`HTTPTransport.count_tokens`."""
        response = await self._post(COUNT_TOKENS_PATH, count_tokens_body(payload))
        return self._core.input_tokens(self._core.message(response))

    def stream(self, payload: Payload) -> AsyncEventStream:
        """Send with ``stream: true``; ``async for`` the events (``async with`` it
        to release the connection when leaving early).  See :meth:`HTTPTransport.stream`."""
        return AsyncEventStream(lambda into: self._events(payload, into))

    async def _events(self, payload: Payload, into: AsyncEventStream) -> AsyncIterator[Event]:
        response = await self._post(MESSAGES_PATH, _stream_body(payload), stream=True)
        try:
            into.request_id = self._core.scrub_optional(response.headers.get("request-id"))
            into.headers = self._core.headers(response)
            check = StreamCheck(into.request_id)
            parser = SSEParser()
            try:
                async for chunk in response.aiter_bytes():
                    for event in self._core.decode(parser, check, chunk):
                        yield event
                    if check.done:
                        return
                for event in self._core.decode(parser, check, None):
                    yield event
            except HTTPX_ERRORS as exc:
                error, _ = translate_httpx_error(exc, streaming=True, scrub=self._core.scrub)
                raise error from exc
            check.finish()
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the client if this transport created it."""
        if self._owns_client:
            await self._client.aclose()

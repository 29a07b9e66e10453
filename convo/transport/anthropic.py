"""The official SDK as a transport: ``AnthropicTransport`` and ``AsyncAnthropicTransport``.

Most Claude users already have an ``anthropic.Anthropic`` client configured
(keys, proxies, retries, Bedrock/Vertex routing, middleware).  These
transports send convo's exact payload through that client:

* ``send`` -> ``client.messages.with_raw_response.create(...)``;
* ``stream`` -> ``client.messages.create(..., stream=True)``, yielding the
  raw events (the helper ``client.messages.stream`` adds synthesised
  ``text``/``input_json`` events and rewrites the stop events, so it is not
  the wire);
* ``count_tokens`` -> ``client.messages.count_tokens(...)``.

**The body is the payload, key for key.**  ``model``, ``max_tokens`` and
``messages`` go as arguments (so the SDK's long-request timeout rule,
``API_RULES.md`` H7, still applies); every other field goes in
``extra_body``, so fields this SDK version does not know, fields it removed
from its signatures (sampling parameters) and fields it would move to a
header (``workspace_id``, ``user_profile_id``) reach the server as convo
wrote them.  Results are the SDK objects' ``to_dict(mode="json")``: only
the fields the API sent, unknown ones included.

**Betas** are sent as the ``anthropic-beta`` header (``extra_headers``) on
``client.messages``, joined with commas exactly as ``client.beta.messages``
would, after any the client's ``default_headers`` already carry: one code
path and one set of response types for every request.

**Retries are the SDK's** (``client.max_retries``); this module never
retries, and nothing in convo should wrap it in another retry loop.  An
error's ``attempts`` is read from the ``x-stainless-retry-count`` header of
the last attempt's request.

**Errors** are convo's (``convo.errors``), built with the same status ->
class function as ``HTTPTransport``, with status, error type, request id,
``retry-after`` and attempts.  They are raised ``from None``: the SDK's
exception holds the request, whose headers carry the credential, and its
message quotes the response body verbatim.  Every message and error body
is scrubbed of the client's credentials (``redact``), which a cassette
applies to its file too.

This is the only convo module that imports the SDK; ``convo.transport``
loads it on first use of these names (``pip install 'convo[anthropic]'``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Final, Protocol

import anthropic
import httpx2
from anthropic.resources.messages import AsyncMessages, Messages

from convo.errors import (
    APIConnectionError,
    APITimeoutError,
    CodecError,
    ConvoError,
    StreamError,
    TransportError,
)
from convo.transport._status import event_error, read_body, status_error
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
from convo.transport.retry import parse_retry_after
from convo.transport.stream import FINE_GRAINED_TOOL_STREAMING, Accumulator, StreamCheck

__all__ = ["AnthropicTransport", "AsyncAnthropicTransport", "AsyncClient", "SyncClient"]

_ARGUMENTS: Final = ("model", "max_tokens", "messages")
_COUNT_ARGUMENTS: Final = ("model", "messages")
_REDACTED: Final = "[redacted]"
# Client attributes that hold a credential (Anthropic, Bedrock, Vertex).
_SECRET_ATTRIBUTES: Final = (
    "api_key",
    "auth_token",
    "access_token",
    "aws_secret_key",
    "aws_session_token",
)
_RETRY_COUNT: Final = "x-stainless-retry-count"

_SDK_ERRORS: Final = (
    anthropic.AnthropicError,
    # What the SDK's HTTP client raises on purpose (while a stream is read,
    # it is not wrapped), and the SDK's refusals (`ValueError`: a request it
    # will not send without streaming, a body nested too deep).
    httpx2.HTTPError,
    httpx2.InvalidURL,
    httpx2.CookieConflict,
    httpx2.StreamError,
    ValueError,
)
# Before anything is sent the SDK also raises `TypeError` (no credential
# to be found, a header it cannot build): a refusal, not a convo bug.
_REQUEST_ERRORS: Final = (*_SDK_ERRORS, TypeError)


class SyncClient(Protocol):
    """What this transport needs of a client: ``Anthropic``, ``AnthropicBedrock``..."""

    @property
    def messages(self) -> Messages: ...


class AsyncClient(Protocol):
    """What the async transport needs: ``AsyncAnthropic``, ``AsyncAnthropicBedrock``..."""

    @property
    def messages(self) -> AsyncMessages: ...


class _Secrets:
    """The client's credentials, only ever used to remove them from text."""

    __slots__ = ("_values",)

    def __init__(self, client: object) -> None:
        values = (getattr(client, name, None) for name in _SECRET_ATTRIBUTES)
        # Longest first: a key that contains another is removed whole.
        self._values = sorted(
            {v for v in values if isinstance(v, str) and v}, key=len, reverse=True
        )

    def __repr__(self) -> str:
        return "<redacted>"

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, _REDACTED)
        return text

    def scrub_bytes(self, content: bytes) -> bytes:
        for value in self._values:
            content = content.replace(value.encode(), _REDACTED.encode())
        return content

    def scrub_body(self, body: Any) -> Any:
        if isinstance(body, str):
            return self.scrub(body)
        if body is None or not self._values:
            return body
        try:
            return json.loads(self.scrub(json.dumps(body)))
        except (TypeError, ValueError):
            return self.scrub(repr(body))


def _attempts(request: Any) -> int:
    """Attempts made, from the last attempt's ``x-stainless-retry-count`` (H5)."""
    headers = getattr(request, "headers", None)
    try:
        count = int(headers.get(_RETRY_COUNT, "0")) if headers is not None else 0
    except (TypeError, ValueError):
        count = 0
    return max(count, 0) + 1


def _describe(exc: BaseException, secrets: _Secrets) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return secrets.scrub(text)


def _request_of(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            return response.request
        except RuntimeError:  # an httpx response built without a request
            return None
    try:
        return getattr(exc, "request", None)
    except RuntimeError:
        return None


def _translate(
    exc: BaseException,
    secrets: _Secrets,
    *,
    streaming: bool = False,
    request_id: str | None = None,
) -> ConvoError:
    """The convo error for an exception the SDK (or its HTTP client) raised.

    * ``anthropic.APIStatusError`` -> the ``APIStatusError`` subclass of its
      status (``convo.transport._status.error_class``), with ``error_type``,
      ``request_id``, ``retry_after``, ``attempts`` and the body as read;
      an ``error`` event inside a 200 stream gets the class its
      ``error.type`` has on a non-streamed request, as ``HTTPTransport``'s;
    * ``anthropic.APITimeoutError`` -> ``APITimeoutError``;
      ``anthropic.APIConnectionError`` -> ``APIConnectionError``;
    * ``anthropic.APIResponseValidationError`` -> ``CodecError``;
    * with ``streaming=True`` (the status had arrived), any other failure
      -> ``StreamError``;
    * anything else the SDK raises -> ``TransportError``.

    Text and bodies are scrubbed of ``secrets``; the caller raises the
    result ``from None``.
    """
    if isinstance(exc, ConvoError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        response = exc.response
        status = response.status_code
        headers = response.headers
        rid = headers.get("request-id") or request_id
        if status < 400:  # an `error` event inside a 2xx stream (G6)
            body = secrets.scrub_body(exc.body)
            if isinstance(body, Mapping):
                return event_error(body, request_id=rid)
            return StreamError(
                f"the stream sent an unreadable error event: {secrets.scrub(str(body))[:500]}",
                request_id=rid,
            )
        try:
            body = read_body(secrets.scrub_bytes(response.content))
        except httpx2.ResponseNotRead:  # closed before it was read: the SDK's copy
            body = secrets.scrub_body(exc.body)
        return status_error(
            status,
            body,
            request_id=rid,
            retry_after=parse_retry_after(headers),
            attempts=_attempts(_request_of(exc)),
            reason=response.reason_phrase,
            scrub=secrets.scrub,
        )
    if streaming:
        return StreamError(
            f"stream broke after the response started: {_describe(exc, secrets)}",
            request_id=request_id,
        )
    if isinstance(exc, anthropic.APIConnectionError):
        attempts = _attempts(_request_of(exc))
        cause = exc.__cause__ or exc.__context__
        detail = _describe(cause, secrets) if cause is not None else secrets.scrub(str(exc))
        suffix = f" after {attempts} attempts" if attempts > 1 else ""
        cls = APITimeoutError if isinstance(exc, anthropic.APITimeoutError) else APIConnectionError
        label = "request timed out" if cls is APITimeoutError else "connection error"
        return cls(f"{label}: {detail}{suffix}", attempts=attempts)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return CodecError(f"the SDK could not read the response: {secrets.scrub(exc.message)}")
    return TransportError(f"the anthropic SDK refused the request: {_describe(exc, secrets)}")


class _Core:
    """Request arguments, results and errors, shared by both transports (no I/O)."""

    __slots__ = ("api_version", "betas", "extra_headers", "secrets", "sent_betas")

    def __init__(self, client: object, betas: Iterable[str], api_version: str | None) -> None:
        self.secrets = _Secrets(client)
        self.betas = tuple(betas)
        headers: dict[str, str] = {}
        defaults = getattr(client, "default_headers", None)
        defaults = defaults if isinstance(defaults, Mapping) else {}
        present = defaults.get("anthropic-beta")
        names = [n.strip() for n in present.split(",")] if isinstance(present, str) else []
        names += [b for b in self.betas if b not in names]
        # What goes out: the client's own default betas and version, unless set here.
        self.sent_betas = tuple(n for n in names if n)
        if self.betas:
            headers["anthropic-beta"] = ",".join(self.sent_betas)
        if api_version is not None:
            headers["anthropic-version"] = api_version
        default_version = defaults.get("anthropic-version")
        self.api_version = api_version if api_version is not None else (
            default_version if isinstance(default_version, str) else None
        )
        self.extra_headers = headers

    def arguments(self, body: Payload, required: tuple[str, ...]) -> dict[str, Any]:
        """``create``/``count_tokens`` keyword arguments sending ``body`` as it is."""
        if not isinstance(body, Mapping):
            raise CodecError(f"a payload is a mapping, got {type(body).__name__}")
        missing = [key for key in required if key not in body]
        if missing:
            raise CodecError(
                f"the payload has no {missing[0]!r} (the SDK requires {', '.join(required)})",
                path=f"$.{missing[0]}",
            )
        args: dict[str, Any] = {key: body[key] for key in required}
        rest = {key: value for key, value in body.items() if key not in required}
        if rest:
            args["extra_body"] = rest
        if self.extra_headers:
            args["extra_headers"] = dict(self.extra_headers)
        return args

    def message_args(self, payload: Payload) -> dict[str, Any]:
        return self.arguments(payload, _ARGUMENTS)

    def count_args(self, payload: Payload) -> dict[str, Any]:
        return self.arguments(count_tokens_body(payload), _COUNT_ARGUMENTS)

    def error(self, exc: BaseException, **kwargs: Any) -> ConvoError:
        return _translate(exc, self.secrets, **kwargs)

    @staticmethod
    def plain(model: Any) -> dict[str, Any]:
        """An SDK object as the JSON the API sent (unset fields left out)."""
        body = model.to_dict(mode="json", warnings=False)
        if not isinstance(body, dict):  # pragma: no cover - to_dict always gives a dict
            raise CodecError(f"the SDK gave {type(body).__name__}, not an object")
        return body

    def response(self, raw: Any, message: Any) -> APIResponse:
        """The parsed ``message`` of the raw response ``raw``, with its request id."""
        headers = raw.headers
        return APIResponse(
            self.plain(message), request_id=headers.get("request-id"), headers=headers
        )

    @staticmethod
    def input_tokens(result: Any) -> int:
        count = getattr(result, "input_tokens", None)
        if isinstance(count, bool) or not isinstance(count, int):
            raise CodecError(
                "count_tokens response has no integer input_tokens", path="$.input_tokens"
            )
        return count

    def describe(self, cls: str, client: object) -> str:
        base_url = getattr(client, "base_url", None)
        retries = getattr(client, "max_retries", None)
        return self.secrets.scrub(
            f"{cls}(client={type(client).__name__}, base_url={str(base_url)!r}, "
            f"betas={self.betas!r}, max_retries={retries})"
        )


def _check_client(client: object, *, asynchronous: bool) -> None:
    """Refuse a client this transport cannot drive (a clear TypeError, not one from deep inside)."""
    messages = getattr(client, "messages", None)
    create = getattr(messages, "create", None)
    if create is None:
        raise TypeError(
            f"{type(client).__name__} has no messages.create: pass an anthropic client "
            "(Anthropic, AnthropicBedrock, AnthropicVertex...)"
        )
    if inspect.iscoroutinefunction(inspect.unwrap(create)) != asynchronous:
        wanted = "AsyncAnthropicTransport" if not asynchronous else "AnthropicTransport"
        raise TypeError(
            f"{type(client).__name__} is {'not ' if asynchronous else ''}an async client: use {wanted}"
        )


def _started(into: EventStream | AsyncEventStream, sdk_stream: Any) -> StreamCheck:
    response = sdk_stream.response
    into.request_id = response.headers.get("request-id")
    into.headers = redact_headers(response.headers)
    return StreamCheck(into.request_id)


class _Settings:
    """What both SDK transports say of their settings (one text for the twins)."""

    _core: _Core
    _client: object

    def __repr__(self) -> str:
        return self._core.describe(type(self).__name__, self._client)

    @property
    def api_version(self) -> str | None:
        """The ``anthropic-version`` requests are sent with: the one given,
        else the client's default (``None`` if the client sets none)."""
        return self._core.api_version

    @property
    def betas(self) -> tuple[str, ...]:
        """The beta names requests send in ``anthropic-beta``, the client's
        default ones included."""
        return self._core.sent_betas

    def redact(self, text: str) -> str:
        """``text`` with the client's credentials replaced by ``[redacted]``."""
        return self._core.secrets.scrub(text)

    def accumulator(self) -> Accumulator:
        """The fold for this transport's streams: unfinished tool strings are kept
        when the fine-grained tool streaming beta is sent, as the SDK does."""
        return Accumulator(partial_strings=FINE_GRAINED_TOOL_STREAMING in self._core.sent_betas)


class AnthropicTransport(_Settings, BaseTransport):
    """convo's ``Transport`` over an ``anthropic.Anthropic`` client (module docstring).

    Args:
        client: an ``anthropic.Anthropic`` (or ``AnthropicBedrock``,
            ``AnthropicVertex``...) client; used as is (its retries, timeout,
            base URL, headers, middleware) and never closed here.
        betas: beta names sent in ``anthropic-beta`` on every request.
        api_version: the ``anthropic-version`` header; default the SDK's own.
    """

    _client: SyncClient

    def __init__(
        self,
        client: SyncClient,
        *,
        betas: Iterable[str] = (),
        api_version: str | None = None,
    ) -> None:
        _check_client(client, asynchronous=False)
        self._client = client
        self._core = _Core(client, betas, api_version)

    @property
    def client(self) -> SyncClient:
        """The SDK client requests go through."""
        return self._client

    def send(self, payload: Payload) -> APIResponse:
        """``client.messages.create``; the message as a dict with its ``request_id``.

        Raises:
            APIStatusError: an error status (its subclass), after the SDK's retries.
            APIConnectionError: no response (``APITimeoutError`` for timeouts).
            CodecError: the payload lacks a required field, or the response is unreadable.
            TransportError: the SDK refused the request before sending it.
        """
        core = self._core
        args = core.message_args(payload)
        try:
            raw = self._client.messages.with_raw_response.create(**args)
            return core.response(raw, raw.parse())
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None

    def count_tokens(self, payload: Payload) -> int:
        """``client.messages.count_tokens`` with the fields the endpoint takes."""
        core = self._core
        args = core.count_args(payload)
        try:
            result = self._client.messages.count_tokens(**args)
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None
        return core.input_tokens(result)

    def stream(self, payload: Payload) -> EventStream:
        """``client.messages.create(stream=True)``; iterate the raw events as dicts.

        Raises (while iterating): as :meth:`send` before the first event;
        ``StreamError`` when the stream breaks or ends before
        ``message_stop``; the mapped ``APIStatusError`` for an ``error`` event.
        """
        return EventStream(lambda into: self._events(payload, into))

    def _events(self, payload: Payload, into: EventStream) -> Iterator[Event]:
        core = self._core
        args = core.message_args(payload)
        try:
            sdk_stream = self._client.messages.create(**args, stream=True)
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None
        try:
            check = _started(into, sdk_stream)
            items = iter(sdk_stream)
            while True:
                try:
                    item = next(items)
                except StopIteration:
                    break
                except _SDK_ERRORS as exc:
                    raise core.error(exc, streaming=True, request_id=into.request_id) from None
                event = core.plain(item)
                check.observe(event)
                yield event
                if check.done:
                    return
            check.finish()
        finally:
            sdk_stream.close()


class AsyncAnthropicTransport(_Settings, AsyncBaseTransport):
    """The async twin of :class:`AnthropicTransport`, over an ``anthropic.AsyncAnthropic``."""

    _client: AsyncClient

    def __init__(
        self,
        client: AsyncClient,
        *,
        betas: Iterable[str] = (),
        api_version: str | None = None,
    ) -> None:
        _check_client(client, asynchronous=True)
        self._client = client
        self._core = _Core(client, betas, api_version)

    @property
    def client(self) -> AsyncClient:
        """The SDK client requests go through."""
        return self._client

    async def send(self, payload: Payload) -> APIResponse:
        """See :meth:`AnthropicTransport.send`."""
        core = self._core
        args = core.message_args(payload)
        try:
            raw = await self._client.messages.with_raw_response.create(**args)
            return core.response(raw, await raw.parse())
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None

    async def count_tokens(self, payload: Payload) -> int:
        """See :meth:`AnthropicTransport.count_tokens`."""
        core = self._core
        args = core.count_args(payload)
        try:
            result = await self._client.messages.count_tokens(**args)
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None
        return core.input_tokens(result)

    def stream(self, payload: Payload) -> AsyncEventStream:
        """See :meth:`AnthropicTransport.stream` (``async for``, ``async with``)."""
        return AsyncEventStream(lambda into: self._events(payload, into))

    async def _events(self, payload: Payload, into: AsyncEventStream) -> AsyncIterator[Event]:
        core = self._core
        args = core.message_args(payload)
        try:
            sdk_stream = await self._client.messages.create(**args, stream=True)
        except _REQUEST_ERRORS as exc:
            raise core.error(exc) from None
        try:
            check = _started(into, sdk_stream)
            items = aiter(sdk_stream)
            while True:
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                except _SDK_ERRORS as exc:
                    raise core.error(exc, streaming=True, request_id=into.request_id) from None
                event = core.plain(item)
                check.observe(event)
                yield event
                if check.done:
                    return
            check.finish()
        finally:
            await sdk_stream.close()

"""What a transport is: the protocols, the response type, shared helpers.

A transport takes the exact request body (``conversation.to_payload(...)``,
a JSON-ready mapping) and returns the API's response as a dict, or raises a
``TransportError``.  It can also stream the response as event dicts and
count the payload's input tokens.  Transports are context managers; closing
one releases what it opened (never a client it was handed).

:class:`BaseTransport` / :class:`AsyncBaseTransport` give the context
manager methods and ``send_streaming`` to any subclass that implements
``send``, ``stream`` and ``count_tokens``.  Layer: above ``codec``; every
other module of this package builds on this one.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from convo.codec import dumps
from convo.transport.stream import Accumulator

__all__ = [
    "COUNT_TOKENS_FIELDS",
    "APIResponse",
    "AsyncBaseTransport",
    "AsyncEventStream",
    "AsyncTransport",
    "BaseTransport",
    "EventStream",
    "Event",
    "EventCallback",
    "Payload",
    "Transport",
    "count_tokens_body",
    "redact_headers",
]

Payload = Mapping[str, Any]
"""A request body: what ``Conversation.to_payload`` returns."""

Event = dict[str, Any]
"""One parsed stream event (``{"type": "content_block_delta", ...}``)."""

EventCallback = Callable[[Event], object]
"""Called with every event of ``send_streaming``; an async transport awaits
the result when it is awaitable."""

COUNT_TOKENS_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "speed",
    }
)
"""The request fields ``POST /v1/messages/count_tokens`` accepts (API_RULES I1)."""

SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
_SENSITIVE_PARTS = ("key", "token", "secret", "auth", "cookie", "password")


def count_tokens_body(payload: Payload) -> dict[str, Any]:
    """``payload`` reduced to the fields the token-counting endpoint takes.

    ``max_tokens``, ``stream``, ``stop_sequences``, ``metadata``, sampling
    parameters and every other field are dropped; key order is kept.
    """
    return {key: value for key, value in payload.items() if key in COUNT_TOKENS_FIELDS}


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Response headers safe to keep: lower-cased names, secrets dropped.

    Drops credentials and cookies, and any header whose name mentions a
    key, token, secret, auth or password.
    """
    kept: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        if low in SENSITIVE_HEADERS or any(part in low for part in _SENSITIVE_PARTS):
            continue
        kept[low] = value
    return kept


class APIResponse(dict[str, Any]):
    """A response body (a plain ``dict`` in every way) with where it came from.

    ``request_id`` is the ``request-id`` response header (store it with the
    turn, API_RULES G3); ``headers`` are the response headers with secrets
    removed (:func:`redact_headers`).  Both are ``None``/empty for
    responses that did not come over HTTP.
    """

    __slots__ = ("headers", "request_id")

    request_id: str | None
    headers: dict[str, str]

    def __init__(
        self,
        body: Mapping[str, Any],
        *,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(body)
        self.request_id = request_id
        self.headers = redact_headers(headers or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_response, (dict(self), self.request_id, self.headers))


def _rebuild_response(
    body: dict[str, Any], request_id: str | None, headers: dict[str, str]
) -> APIResponse:
    return APIResponse(body, request_id=request_id, headers=headers)


def wire_copy(payload: Any) -> Any:
    """A plain deep copy of ``payload`` as the server would see it (JSON round trip).

    Raises:
        TypeError / ValueError: ``payload`` is not JSON (NaN, sets, objects...).
    """
    return json.loads(dumps(payload))


class EventStream:
    """The events of one streamed response: an iterator and a context manager.

    The request goes out when iteration starts.  Once the response status
    has arrived, ``request_id`` and ``headers`` (secrets removed) say where
    it came from.  Leaving the ``with`` block, or ``close()``, releases the
    connection even when the events were not all read.
    """

    __slots__ = ("_events", "headers", "request_id")

    def __init__(self, source: Callable[[EventStream], Iterator[Event]]) -> None:
        self.request_id: str | None = None
        self.headers: dict[str, str] = {}
        self._events = source(self)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        """Stop reading and release the connection."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventStream:
    """The async twin of :class:`EventStream` (``async for``, ``async with``, ``aclose``)."""

    __slots__ = ("_events", "headers", "request_id")

    def __init__(self, source: Callable[[AsyncEventStream], AsyncIterator[Event]]) -> None:
        self.request_id: str | None = None
        self.headers: dict[str, str] = {}
        self._events = source(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _finished(acc: Accumulator, events: object) -> APIResponse:
    return APIResponse(
        acc.message(),
        request_id=getattr(events, "request_id", None),
        headers=getattr(events, "headers", None),
    )


@runtime_checkable
class Transport(Protocol):
    """Sends Messages API requests (synchronously)."""

    def send(self, payload: Payload) -> dict[str, Any]:
        """The response to ``payload`` (``POST /v1/messages``)."""
        ...

    def stream(self, payload: Payload) -> Iterator[Event]:
        """The events of the response to ``payload`` sent with ``stream: true``."""
        ...

    def count_tokens(self, payload: Payload) -> int:
        """The input tokens of ``payload`` (``POST /v1/messages/count_tokens``)."""
        ...

    def close(self) -> None:
        """Release what the transport opened."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class AsyncTransport(Protocol):
    """Sends Messages API requests (asyncio); the twin of :class:`Transport`."""

    async def send(self, payload: Payload) -> dict[str, Any]:
        """The response to ``payload`` (``POST /v1/messages``)."""
        ...

    def stream(self, payload: Payload) -> AsyncIterator[Event]:
        """The events of the response to ``payload`` sent with ``stream: true``."""
        ...

    async def count_tokens(self, payload: Payload) -> int:
        """The input tokens of ``payload`` (``POST /v1/messages/count_tokens``)."""
        ...

    async def aclose(self) -> None:
        """Release what the transport opened."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BaseTransport:
    """Context-manager methods and ``send_streaming`` for a sync transport."""

    def send(self, payload: Payload) -> dict[str, Any]:
        """The response to ``payload``."""
        raise NotImplementedError

    def stream(self, payload: Payload) -> Iterator[Event]:
        """The events of the streamed response to ``payload``."""
        raise NotImplementedError

    def count_tokens(self, payload: Payload) -> int:
        """The input tokens of ``payload``."""
        raise NotImplementedError

    def send_streaming(
        self, payload: Payload, on_event: EventCallback | None = None
    ) -> APIResponse:
        """Stream the response, call ``on_event`` with each event, return the message.

        The result equals what ``send(payload)`` returns (see ``accumulate``);
        it is an :class:`APIResponse` carrying the stream's ``request_id``.

        Raises:
            StreamError: the stream broke or ended before ``message_stop``.
            APIStatusError: the request failed, or an ``error`` event arrived.
        """
        acc = self.accumulator()
        events = self.stream(payload)
        try:
            for event in events:
                if on_event is not None:
                    on_event(event)
                acc.add(event)
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return _finished(acc, events)

    def accumulator(self) -> Accumulator:
        """A fold for this transport's streams (see ``Accumulator``)."""
        return Accumulator()

    def close(self) -> None:
        """Release what the transport opened (nothing, by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncBaseTransport:
    """Context-manager methods and ``send_streaming`` for an async transport."""

    async def send(self, payload: Payload) -> dict[str, Any]:
        """The response to ``payload``."""
        raise NotImplementedError

    def stream(self, payload: Payload) -> AsyncIterator[Event]:
        """The events of the streamed response to ``payload``."""
        raise NotImplementedError

    async def count_tokens(self, payload: Payload) -> int:
        """The input tokens of ``payload``."""
        raise NotImplementedError

    async def send_streaming(
        self,
        payload: Payload,
        on_event: EventCallback | Callable[[Event], Awaitable[object]] | None = None,
    ) -> APIResponse:
        """Stream the response, call (and await) ``on_event`` per event, return the message.

        Raises:
            StreamError: the stream broke or ended before ``message_stop``.
            APIStatusError: the request failed, or an ``error`` event arrived.
        """
        acc = self.accumulator()
        events = self.stream(payload)
        try:
            async for event in events:
                if on_event is not None:
                    result = on_event(event)
                    if inspect.isawaitable(result):
                        await result
                acc.add(event)
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                await close()
        return _finished(acc, events)

    def accumulator(self) -> Accumulator:
        """A fold for this transport's streams (see ``Accumulator``)."""
        return Accumulator()

    async def aclose(self) -> None:
        """Release what the transport opened (nothing, by default)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

"""Offline transports that answer from a script: for tests and demos.

The shape of ``httpx.MockTransport``: give a handler ``payload -> reply``,
or a list of replies used in order.  A reply is

* a response dict (returned as a fresh copy each time),
* a string, shorthand for an ``end_turn`` text message with a
  deterministic id and usage,
* a ``TransportError`` instance, raised (script failures: 529, timeouts...),
* a list of stream events, streamed as they are (to script a broken or
  unusual stream) and folded with ``accumulate`` by ``send``.

``stream`` synthesises the event sequence of a response with
``message_events``, so streaming works offline; ``count_tokens`` gives a
deterministic estimate (``len(canonical JSON) // 4``), a fixed number, or
asks a handler.  Every payload is recorded as the server would have seen
it (a JSON round trip, which also proves it is JSON): ``requests`` for
messages (with ``stream: true`` for streams), ``count_requests`` for counts.

Two classes, ``ScriptedTransport`` and ``AsyncScriptedTransport``, share
one script engine; the async one also accepts an ``async def`` handler.
"""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeAlias

from convo._canonical import canonical_json
from convo._frozen import thaw
from convo.errors import TransportError
from convo.transport.base import (
    APIResponse,
    AsyncBaseTransport,
    AsyncEventStream,
    BaseTransport,
    Event,
    EventStream,
    Payload,
    count_tokens_body,
    wire_copy,
)
from convo.transport.stream import StreamCheck, accumulate, message_events

__all__ = [
    "AsyncScriptedTransport",
    "Reply",
    "ScriptedTransport",
    "estimate_tokens",
    "text_message",
]

Reply: TypeAlias = Mapping[str, Any] | str | TransportError | Sequence[Mapping[str, Any]]
"""What a script gives for one request (see the module docstring)."""

Handler: TypeAlias = Callable[[dict[str, Any]], Reply]
TokenCounter: TypeAlias = int | Callable[[dict[str, Any]], int] | None


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """A deterministic stand-in for a token count: canonical JSON bytes // 4 (at least 1)."""
    return max(1, len(canonical_json(body)) // 4)


def text_message(text: str, payload: Mapping[str, Any], number: int = 1) -> dict[str, Any]:
    """The response a scripted string stands for: one text block, ``end_turn``."""
    return {
        "id": f"msg_scripted_{number:04d}",
        "type": "message",
        "role": "assistant",
        "model": payload.get("model", "scripted"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "stop_details": None,
        "usage": {
            "input_tokens": estimate_tokens(count_tokens_body(payload)),
            "output_tokens": max(1, len(text) // 4),
        },
    }


class _Script:
    """The script engine both transports share (no I/O, no awaiting)."""

    __slots__ = (
        "_handler",
        "_items",
        "_used",
        "chunk_size",
        "count_requests",
        "counter",
        "requests",
    )

    def __init__(self, script: Any, count_tokens: Any, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if callable(script):
            self._handler, self._items = script, None
        elif isinstance(script, Iterable) and not isinstance(script, (str, Mapping)):
            self._handler, self._items = None, list(script)
        else:
            raise TypeError(
                "a script is a handler (payload -> reply) or a list of replies, "
                f"got {type(script).__name__}"
            )
        self.counter = count_tokens
        self._used = 0
        self.chunk_size = chunk_size
        self.requests: list[dict[str, Any]] = []
        self.count_requests: list[dict[str, Any]] = []

    def take(self, payload: Payload, *, stream: bool) -> tuple[dict[str, Any], Any]:
        """Record the request; return it and the handler's result or the next reply."""
        wire = wire_copy({**payload, "stream": True} if stream else payload)
        self.requests.append(wire)
        self._used += 1
        if self._handler is not None:
            return wire, self._handler(wire_copy(wire))
        assert self._items is not None
        if self._used > len(self._items):
            raise TransportError(
                f"ScriptedTransport: the script has {len(self._items)} replies and they are "
                f"used up; request #{self._used} (model {wire.get('model')!r}) has none"
            )
        return wire, self._items[self._used - 1]

    def _resolve(
        self, wire: dict[str, Any], reply: Any
    ) -> tuple[dict[str, Any] | None, list[Event]]:
        """``(message, events)``: exactly one is given; errors are raised."""
        if isinstance(reply, TransportError):
            raise reply
        if isinstance(reply, str):
            return text_message(reply, wire, self._used), []
        if isinstance(reply, Mapping):
            return thaw(reply), []
        if isinstance(reply, (list, tuple)) and all(isinstance(e, Mapping) for e in reply):
            return None, thaw(reply)
        raise TypeError(
            "a scripted reply is a response dict, a string, a TransportError or a list of "
            f"events, got {type(reply).__name__}"
        )

    def message(self, wire: dict[str, Any], reply: Any) -> APIResponse:
        message, events = self._resolve(wire, reply)
        return APIResponse(accumulate(events) if message is None else message)

    def events(self, wire: dict[str, Any], reply: Any) -> Iterator[Event]:
        message, events = self._resolve(wire, reply)
        if message is not None:
            events = message_events(message, chunk_size=self.chunk_size)
        check = StreamCheck()
        for event in events:
            check.observe(event)
            yield event
            if check.done:
                return
        check.finish()

    def count_body(self, payload: Payload) -> dict[str, Any]:
        body: dict[str, Any] = wire_copy(count_tokens_body(payload))
        self.count_requests.append(body)
        return body

    def counted(self, body: dict[str, Any], result: Any = None) -> int:
        if self.counter is None:
            return estimate_tokens(body)
        value = self.counter if isinstance(self.counter, int) else result
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a token counter must give an int, got {type(value).__name__}")
        return value


class _Recorded:
    """What both scripted transports show: the requests they received."""

    _script: _Script

    def __repr__(self) -> str:
        return f"{type(self).__name__}(requests={len(self.requests)})"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every message payload received, as plain JSON copies."""
        return self._script.requests

    @property
    def count_requests(self) -> list[dict[str, Any]]:
        """Every token-count body received."""
        return self._script.count_requests


class ScriptedTransport(_Recorded, BaseTransport):
    """Answers from a script, offline (see the module docstring).

    Args:
        script: a handler ``payload -> reply`` or a list of replies.
        count_tokens: ``None`` (estimate), a fixed count, or ``body -> int``.
        chunk_size: characters per synthesised text/thinking/JSON delta.

    Attributes:
        requests: every message payload received (plain copies, in order).
        count_requests: every token-count body received.
    """

    def __init__(
        self,
        script: Handler | Iterable[Reply],
        *,
        count_tokens: TokenCounter = None,
        chunk_size: int = 16,
    ) -> None:
        self._script = _Script(script, count_tokens, chunk_size)

    def send(self, payload: Payload) -> APIResponse:
        """The scripted response (a fresh copy).

        Raises:
            TransportError: the scripted error, or the script is used up.
        """
        return self._script.message(*self._script.take(payload, stream=False))

    def stream(self, payload: Payload) -> EventStream:
        """The scripted response as the events the API would stream."""
        return EventStream(lambda _: self._events(payload))

    def _events(self, payload: Payload) -> Iterator[Event]:
        yield from self._script.events(*self._script.take(payload, stream=True))

    def count_tokens(self, payload: Payload) -> int:
        """The scripted or estimated input tokens."""
        body = self._script.count_body(payload)
        counter = self._script.counter
        return self._script.counted(body, counter(body) if callable(counter) else None)


class AsyncScriptedTransport(_Recorded, AsyncBaseTransport):
    """The async twin of :class:`ScriptedTransport`; handlers may be ``async def``."""

    def __init__(
        self,
        script: Handler | Callable[[dict[str, Any]], Awaitable[Reply]] | Iterable[Reply],
        *,
        count_tokens: TokenCounter | Callable[[dict[str, Any]], Awaitable[int]] = None,
        chunk_size: int = 16,
    ) -> None:
        self._script = _Script(script, count_tokens, chunk_size)

    async def _take(self, payload: Payload, *, stream: bool) -> tuple[dict[str, Any], Any]:
        wire, reply = self._script.take(payload, stream=stream)
        if inspect.isawaitable(reply):
            reply = await reply
        return wire, reply

    async def send(self, payload: Payload) -> APIResponse:
        """The scripted response; see :meth:`ScriptedTransport.send`."""
        return self._script.message(*await self._take(payload, stream=False))

    def stream(self, payload: Payload) -> AsyncEventStream:
        """The scripted response as streamed events."""
        return AsyncEventStream(lambda _: self._events(payload))

    async def _events(self, payload: Payload) -> AsyncIterator[Event]:
        for event in self._script.events(*await self._take(payload, stream=True)):
            yield event

    async def count_tokens(self, payload: Payload) -> int:
        """The scripted or estimated input tokens."""
        body = self._script.count_body(payload)
        counter = self._script.counter
        result = counter(body) if callable(counter) else None
        if inspect.isawaitable(result):
            result = await result
        return self._script.counted(body, result)

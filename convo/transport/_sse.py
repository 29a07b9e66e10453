"""Server-sent events: the wire format of a streamed Messages API response.

A decoder that follows the WHATWG rules (fields, multi-line data, comments,
a blank line dispatches), the JSON parsing of one event, and the encoder
the offline transports and tests use to speak the same format.  The fold
of events into a message is in ``stream.py``.

Lines are split here, from bytes, and only at CR, LF or CRLF, as the SSE
specification says.  (``httpx.Response.iter_lines`` follows
``str.splitlines``, which also splits at U+2028, U+0085 and other
characters that may appear raw inside the JSON of a text delta.)
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from convo.errors import StreamError

__all__ = [
    "SSEDecoder",
    "SSEParser",
    "ServerSentEvent",
    "encode_event",
    "iter_sse",
    "parse_event",
]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ServerSentEvent(NamedTuple):
    """One dispatched event: its name, its data (lines joined by ``\\n``), its id."""

    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    """Turns lines (without their line terminators) into events.

    Feed every line, then call :meth:`flush` at the end of the stream: an
    event not closed by a blank line is incomplete and is dropped, as the
    specification says (the caller then sees no ``message_stop``).
    """

    __slots__ = ("_data", "_event", "_first", "_id")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._first = True

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line; return the event a blank line completes, if any."""
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored, as the specification says.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self._id)

    def flush(self) -> None:
        """End of stream: forget a trailing event no blank line completed."""
        self._event, self._data = "", []


class SSEParser:
    """Bytes in, events out: UTF-8 decoding, line splitting, :class:`SSEDecoder`.

    Chunks may split anywhere (inside a character, between CR and LF).

    Raises:
        StreamError: the bytes are not UTF-8.
    """

    __slots__ = ("_buffer", "_cr", "_decoder", "_text")

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._decoder = SSEDecoder()
        self._buffer = ""
        self._cr = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``."""
        try:
            text = self._text.decode(chunk)
        except UnicodeDecodeError as exc:
            raise StreamError(f"malformed stream: not UTF-8 ({exc})") from exc
        if self._cr and text.startswith("\n"):  # the LF of a CRLF split across chunks
            text = text[1:]
            self._cr = False
        if text:
            self._cr = text.endswith("\r")
        lines = _LINE_BREAK.split(self._buffer + text)
        self._buffer = lines.pop()
        events = []
        for line in lines:
            sse = self._decoder.feed(line)
            if sse is not None:
                events.append(sse)
        return events

    def close(self) -> None:
        """End of stream: an unterminated line or event is incomplete and dropped.

        Raises:
            StreamError: the stream ended inside a UTF-8 character.
        """
        try:
            self._text.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise StreamError(f"malformed stream: truncated UTF-8 ({exc})") from exc
        self._buffer = ""
        self._decoder.flush()


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events of a sequence of lines."""
    decoder = SSEDecoder()
    for line in lines:
        sse = decoder.feed(line)
        if sse is not None:
            yield sse
    decoder.flush()


def parse_event(sse: ServerSentEvent) -> dict[str, Any]:
    """The JSON object an event carries; ``type`` defaults to the event name.

    Raises:
        StreamError: the data is not a JSON object.
    """
    try:
        value = json.loads(sse.data)
    except ValueError as exc:
        raise StreamError(
            f"malformed stream: event {sse.event!r} carries invalid JSON ({exc})",
            event=sse.event,
        ) from exc
    if not isinstance(value, dict):
        raise StreamError(
            f"malformed stream: event {sse.event!r} carries {type(value).__name__}, not an object",
            event=sse.event,
        )
    value.setdefault("type", sse.event)
    return value


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event in the API's wire form: ``event: <type>``, ``data: <json>``, blank line."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return f"event: {event.get('type', 'message')}\ndata: {data}\n\n".encode()

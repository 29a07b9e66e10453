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
from convo.transport._json import StrictJSONError, strict_loads

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
    event the stream ended on without a closing blank line is dispatched
    there, because the API's last event (``message_stop``) often arrives so
    and the official SDK's fold does not lose it either.  An event whose
    data is empty is not dispatched (the specification's rule).
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
        joined = "\n".join(data)
        if not joined:
            return None
        return ServerSentEvent(event or "message", joined, self._id)

    def flush(self) -> ServerSentEvent | None:
        """End of stream: the event still open, if it has data."""
        return self._dispatch()


class SSEParser:
    """Bytes in, events out: UTF-8 decoding, line splitting, :class:`SSEDecoder`.

    Chunks may split anywhere (inside a character, between CR and LF).  A
    line arriving in many chunks is kept as a list of pieces and joined
    once, when its end arrives, so parsing is linear in the input however
    it is chunked.

    Raises:
        StreamError: the bytes are not UTF-8.
    """

    __slots__ = ("_cr", "_decoder", "_pending", "_text")

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._decoder = SSEDecoder()
        self._pending: list[str] = []  # the pieces of the unfinished last line
        self._cr = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events completed by ``chunk``."""
        try:
            text = self._text.decode(chunk)
        except UnicodeDecodeError as exc:
            raise StreamError(f"malformed stream: not UTF-8 ({exc.reason})") from None
        if self._cr and text.startswith("\n"):  # the LF of a CRLF split across chunks
            text = text[1:]
            self._cr = False
        if not text:
            return []
        self._cr = text.endswith("\r")
        lines = _LINE_BREAK.split(text)
        if len(lines) == 1:
            self._pending.append(text)
            return []
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = "".join(self._pending)
        tail = lines.pop()
        self._pending = [tail] if tail else []
        return self._lines(lines)

    def _lines(self, lines: Iterable[str]) -> list[ServerSentEvent]:
        events = []
        for line in lines:
            sse = self._decoder.feed(line)
            if sse is not None:
                events.append(sse)
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of stream: the events an unterminated last line or event completes.

        Call it only when the body ended cleanly (a broken connection is
        an error of its own): the last line and event are then whole even
        without their terminators.

        Raises:
            StreamError: the stream ended inside a UTF-8 character.
        """
        try:
            self._text.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise StreamError(f"malformed stream: truncated UTF-8 ({exc.reason})") from None
        events = self._lines(["".join(self._pending)] if self._pending else [])
        self._pending = []
        last = self._decoder.flush()
        if last is not None:
            events.append(last)
        return events


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events of a sequence of lines (an unterminated last event included)."""
    decoder = SSEDecoder()
    for line in lines:
        sse = decoder.feed(line)
        if sse is not None:
            yield sse
    last = decoder.flush()
    if last is not None:
        yield last


def parse_event(sse: ServerSentEvent) -> dict[str, Any]:
    """The JSON object an event carries; ``type`` defaults to the event name.

    The data must be strict JSON (``_json.strict_loads``: no NaN or
    infinities, no lone surrogates, no nesting past the recursion limit).

    Raises:
        StreamError: the data is not such a JSON object.
    """
    name = sse.event[:64]
    try:
        value = strict_loads(sse.data)
    except StrictJSONError as exc:
        raise StreamError(
            f"malformed stream: event {name!r} carries invalid JSON ({exc})",
            event=name,
        ) from None
    if not isinstance(value, dict):
        raise StreamError(
            f"malformed stream: event {name!r} carries {type(value).__name__}, not an object",
            event=name,
        )
    value.setdefault("type", sse.event)
    return value


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event in the API's wire form: ``event: <type>``, ``data: <json>``, blank line."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return f"event: {event.get('type', 'message')}\ndata: {data}\n\n".encode()

"""Streamed responses: fold events into the message, and back again.

``accumulate(events)`` is a pure fold that assembles exactly the message a
non-streamed call returns (``API_RULES.md`` J5, after the SDK's
``accumulate_event``); :class:`Accumulator` is the same fold one event at a
time, for callers that show text as it arrives.  ``message_events`` is the
inverse: the event sequence the API would stream for a given message, used
by the offline transports and by the round-trip property tests.

Errors: a stream that does not start with ``message_start``, refers to a
block that does not exist, carries unparsable tool input, ends before
``message_stop`` or is otherwise malformed raises ``StreamError``.  An
``error`` event raises the ``APIStatusError`` subclass its ``error.type``
has on a non-streamed request (``overloaded_error`` -> ``OverloadedError``
with ``status_code`` 529), so one ``except`` clause serves both kinds of
call; the HTTP status on the wire was 200, and the body is the event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from convo._frozen import thaw
from convo.errors import StreamError
from convo.transport._status import event_error

__all__ = ["Accumulator", "StreamCheck", "accumulate", "message_events"]

_BLOCK_EVENTS = frozenset(
    {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"}
)
_DELTA_FIELDS = ("stop_reason", "stop_sequence", "stop_details")


class Accumulator:
    """The stream fold, one event at a time.

    ``add`` every event in order; ``snapshot`` is the message so far (text
    grows as deltas arrive; tool input is filled in at its block's stop),
    and ``message()`` the finished message once ``message_stop`` arrived.
    ``ping`` and unknown event types are ignored, as are unknown delta types.

    Deltas are collected in lists and joined when their block stops (or
    when ``snapshot`` is read), so a long reply folds in linear time.
    """

    __slots__ = ("_done", "_open", "_parts", "_snapshot")

    def __init__(self) -> None:
        self._snapshot: dict[str, Any] | None = None
        # (block index, field) -> pieces: "text"/"thinking" start with the
        # block's own value; "input" collects the tool input JSON fragments.
        self._parts: dict[tuple[int, str], list[str]] = {}
        self._open: set[int] = set()
        self._done = False

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The message assembled so far (``None`` before ``message_start``)."""
        if self._snapshot is not None:
            content = self._snapshot["content"]
            for (index, field), parts in self._parts.items():
                if field != "input" and len(parts) > 1:
                    parts[:] = ["".join(parts)]
                    content[index][field] = parts[0]
        return self._snapshot

    @property
    def done(self) -> bool:
        """Whether ``message_stop`` has arrived."""
        return self._done

    def message(self) -> dict[str, Any]:
        """The complete message.

        Raises:
            StreamError: ``message_stop`` has not arrived (the stream broke).
        """
        if not self._done or self._snapshot is None:
            raise StreamError("stream ended before message_stop: the message is incomplete")
        return self._snapshot

    def add(self, event: Mapping[str, Any]) -> None:
        """Fold one event into the snapshot.

        Raises:
            StreamError: the event is malformed or out of order.
            APIStatusError: an ``error`` event (its mapped subclass).
        """
        if not isinstance(event, Mapping):
            raise StreamError(f"a stream event must be an object, got {type(event).__name__}")
        kind = event.get("type")
        if kind == "error":
            raise event_error(event)
        if kind == "message_start":
            if self._snapshot is not None:
                raise StreamError("malformed stream: a second message_start")
            message = event.get("message")
            if not isinstance(message, Mapping):
                raise StreamError("malformed stream: message_start without a message object")
            snapshot = thaw(message)
            if not isinstance(snapshot.get("content"), list):
                snapshot["content"] = []
            self._snapshot = snapshot
            return
        if kind not in _BLOCK_EVENTS and kind != "message_stop":
            return  # ping, and event types this version does not know
        if self._snapshot is None:
            raise StreamError(f"malformed stream: {kind} before message_start")
        if self._done:
            raise StreamError(f"malformed stream: {kind} after message_stop")
        try:
            self._apply(kind, event, self._snapshot)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise StreamError(f"malformed stream: bad {kind} event ({exc!r})") from exc

    def _apply(self, kind: str, event: Mapping[str, Any], snapshot: dict[str, Any]) -> None:
        content: list[Any] = snapshot["content"]
        if kind == "message_stop":
            if self._open:
                raise StreamError(
                    f"malformed stream: content block {min(self._open)} never stopped"
                )
            self._done = True
        elif kind == "content_block_start":
            index = event["index"]
            if index != len(content):
                raise StreamError(
                    f"malformed stream: content_block_start index {index}, expected {len(content)}"
                )
            content.append(thaw(event["content_block"]))
            self._open.add(index)
        elif kind == "content_block_delta":
            index = self._index(event)
            _apply_delta(content[index], event["delta"], self._parts, index)
        elif kind == "content_block_stop":
            index = self._index(event)
            self._open.discard(index)
            block = content[index]
            for field in ("text", "thinking"):
                parts = self._parts.pop((index, field), None)
                if parts is not None:
                    block[field] = "".join(parts)
            text = "".join(self._parts.pop((index, "input"), ()))
            if text:  # an empty buffer keeps the start event's input ({})
                try:
                    block["input"] = json.loads(text)
                except ValueError as exc:
                    raise StreamError(
                        f"malformed stream: tool input of block {index} is not JSON ({exc})"
                    ) from exc
        else:  # message_delta: top-level fields, then cumulative usage (J4)
            for key, value in event.get("delta", {}).items():
                snapshot[key] = thaw(value)
            usage = event.get("usage")
            if isinstance(usage, Mapping):
                target = snapshot.get("usage")
                if not isinstance(target, dict):
                    target = snapshot["usage"] = {}
                for key, value in usage.items():
                    if value is not None:  # missing or null: keep message_start's
                        target[key] = thaw(value)

    def _index(self, event: Mapping[str, Any]) -> int:
        index = event["index"]
        if index not in self._open:
            raise StreamError(
                f"malformed stream: {event.get('type')} for block {index}, which is not open"
            )
        return int(index)


def _apply_delta(
    block: dict[str, Any],
    delta: Mapping[str, Any],
    parts: dict[tuple[int, str], list[str]],
    index: int,
) -> None:
    kind = delta["type"]
    if kind in ("text_delta", "thinking_delta"):
        field = kind.removesuffix("_delta")
        pieces = parts.get((index, field))
        if pieces is None:
            pieces = parts[(index, field)] = [_str(block.get(field, ""))]
        pieces.append(_str(delta[field]))
    elif kind == "input_json_delta":
        parts.setdefault((index, "input"), []).append(_str(delta["partial_json"]))
    elif kind == "signature_delta":
        block["signature"] = _str(delta["signature"])
    elif kind == "citations_delta":
        citation = thaw(delta["citation"])
        citations = block.get("citations")
        if citations is None:
            block["citations"] = [citation]
        else:
            citations.append(citation)
    # Unknown delta types cannot be applied; the API may add them (A3).


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def accumulate(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The message a stream of events assembles to.

    Equal to the message the same request returns without streaming:
    text, thinking and citations are appended, tool input JSON is joined
    and parsed at ``content_block_stop`` (an empty buffer keeps ``{}``),
    ``message_delta`` sets ``stop_reason``/``stop_sequence``/... and its
    cumulative ``usage`` overwrites field by field (missing fields keep
    ``message_start``'s).

    Raises:
        StreamError: malformed, or no ``message_stop`` at the end.
        APIStatusError: an ``error`` event (its mapped subclass).
    """
    acc = Accumulator()
    for event in events:
        acc.add(event)
    return acc.message()


class StreamCheck:
    """The light check a transport applies to the events it yields.

    ``observe`` raises on an ``error`` event and notes ``message_stop``;
    ``finish`` raises when the stream ended without it.  (Full structural
    checks are the fold's job; this only makes a broken stream loud.)
    """

    __slots__ = ("done", "request_id")

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.done = False

    def observe(self, event: Mapping[str, Any]) -> None:
        """Look at one event before it is handed out."""
        kind = event.get("type")
        if kind == "error":
            raise event_error(event, request_id=self.request_id)
        if kind == "message_stop":
            self.done = True

    def finish(self) -> None:
        """The stream ended.

        Raises:
            StreamError: it ended before ``message_stop``.
        """
        if not self.done:
            where = f" (request-id {self.request_id})" if self.request_id else ""
            raise StreamError(
                f"stream ended before message_stop{where}: the message is incomplete",
                request_id=self.request_id,
            )


def message_events(message: Mapping[str, Any], *, chunk_size: int = 16) -> list[dict[str, Any]]:
    """The event sequence the API streams for ``message``.

    ``accumulate(message_events(m)) == m`` for every message ``m``: text
    and thinking arrive in ``chunk_size``-character deltas, tool input as
    JSON fragments, citations one per delta, the signature last; blocks of
    other types arrive whole in their ``content_block_start``.

    Raises:
        ValueError: ``chunk_size`` < 1, or ``message`` has no content list.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    plain = thaw(message)
    content = plain.get("content")
    if not isinstance(content, list):
        raise ValueError("a message needs a 'content' list to be streamed")
    start: dict[str, Any] = {**plain, "content": []}
    final: dict[str, Any] = {}
    for key in _DELTA_FIELDS:
        if key in plain:
            start[key] = None
            final[key] = plain[key]
    closing: dict[str, Any] = {"type": "message_delta", "delta": final}
    usage = plain.get("usage")
    if isinstance(usage, dict) and "output_tokens" in usage:
        output = usage["output_tokens"]
        if isinstance(output, int) and not isinstance(output, bool):
            start["usage"] = {**usage, "output_tokens": min(output, 1)}
            closing["usage"] = {"output_tokens": output}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(content):
        events.extend(_block_events(index, block, chunk_size))
    events.append(closing)
    events.append({"type": "message_stop"})
    return events


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _block_events(index: int, block: Any, size: int) -> list[dict[str, Any]]:
    head = block
    deltas: list[dict[str, Any]] = []
    if isinstance(block, dict):
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            head = {**block, "text": ""}
            deltas = [{"type": "text_delta", "text": t} for t in _chunks(block["text"], size)]
            citations = block.get("citations")
            if isinstance(citations, list):
                head["citations"] = []
                deltas += [{"type": "citations_delta", "citation": c} for c in citations]
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            head = {**block, "thinking": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": t} for t in _chunks(block["thinking"], size)
            ]
            if isinstance(block.get("signature"), str):
                head["signature"] = ""
                deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif isinstance(block.get("input"), dict):
            head = {**block, "input": {}}
            if block["input"]:
                text = json.dumps(block["input"], ensure_ascii=False, separators=(",", ":"))
                deltas = [
                    {"type": "input_json_delta", "partial_json": t} for t in _chunks(text, size)
                ]
    return [
        {"type": "content_block_start", "index": index, "content_block": head},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]

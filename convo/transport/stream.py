"""Streamed responses: fold events into the message, and back again.

``accumulate(events)`` is a pure fold that assembles exactly the message a
non-streamed call returns; :class:`Accumulator` is the same fold one event
at a time, for callers that show text as it arrives.  The fold is the
official SDK's ``accumulate_event`` (``lib/streaming/_beta_messages.py``,
the superset of the two it has; ``API_RULES.md`` J5), at the level of JSON
dicts so that its result feeds the codec, and stricter where a stream is
malformed.  ``message_events`` is the inverse: the event sequence the API
would stream for a given message, used by the offline transports and by
the round-trip property tests.

Errors: a stream that does not start with ``message_start``, refers to a
block that is not open, sends a known delta to a known block it does not
fit, carries unparsable tool input, ends before ``message_stop`` or is
otherwise malformed raises ``StreamError`` (never a ``KeyError``,
``TypeError`` or ``RecursionError``).  An ``error`` event raises the
``APIStatusError`` subclass its ``error.type`` has on a non-streamed
request (``overloaded_error`` -> ``OverloadedError`` with ``status_code``
529), so one ``except`` clause serves both kinds of call; the HTTP status
on the wire was 200, and the body is the event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import jiter

from convo._frozen import thaw
from convo.errors import StreamError
from convo.transport._status import event_error

__all__ = [
    "DELTA_TARGETS",
    "FINE_GRAINED_TOOL_STREAMING",
    "KNOWN_BLOCK_TYPES",
    "TOOL_INPUT_BLOCKS",
    "Accumulator",
    "StreamCheck",
    "accumulate",
    "message_events",
]

_BLOCK_EVENTS: Final = frozenset(
    {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"}
)
_DELTA_FIELDS: Final = ("stop_reason", "stop_sequence", "stop_details")
# Set from message_delta only when not null (a null would erase message_start's).
_KEPT_UNLESS_NULL: Final = ("container",)
_EVENT_FIELDS: Final = ("context_management", "input_transformations")

TOOL_INPUT_BLOCKS: Final = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
"""Blocks whose ``input`` is streamed as ``input_json_delta`` fragments (the SDK's
``TRACKS_TOOL_INPUT``)."""

DELTA_TARGETS: Final[Mapping[str, frozenset[str]]] = {
    "text_delta": frozenset({"text"}),
    "citations_delta": frozenset({"text"}),
    "thinking_delta": frozenset({"thinking"}),
    "signature_delta": frozenset({"thinking"}),
    "input_json_delta": TOOL_INPUT_BLOCKS,
    "compaction_delta": frozenset({"compaction"}),
}
"""Each delta type the API streams and the block types it applies to."""

KNOWN_BLOCK_TYPES: Final = frozenset(
    {
        "text",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "advisor_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "mcp_tool_listing",
        "container_upload",
        "compaction",
        "fallback",
    }
)
"""The response block types of SDK 2.15.0.  A known delta sent to one of these
that it does not fit is a malformed stream; sent to a block of a type not
listed here (one the API added since), it is applied as to its own kind."""


FINE_GRAINED_TOOL_STREAMING: Final = "fine-grained-tool-streaming-2025-05-14"
"""The beta under which the SDK reads an unfinished string of tool input as far
as it arrived (``partial_strings=True`` here)."""


def _parse_input(buffer: str, *, complete: bool, index: int, strings: bool = False) -> Any:
    """Tool input from its JSON fragments; ``complete=False`` reads a prefix
    as the SDK does (jiter's partial mode: unfinished values are left out, or
    with ``strings`` an unfinished string is kept as far as it arrived)."""
    mode: bool | Literal["trailing-strings"] = (
        False if complete else ("trailing-strings" if strings else True)
    )
    try:
        return jiter.from_json(buffer.encode("utf-8"), partial_mode=mode)
    except (ValueError, RecursionError, UnicodeEncodeError) as exc:
        raise StreamError(
            f"malformed stream: tool input of block {index} is not JSON ({str(exc)[:200]})"
        ) from None


class _Block:
    """Deltas of one open block, joined when they are read (linear time)."""

    __slots__ = ("fragments", "input", "parsed", "pieces")

    def __init__(self) -> None:
        self.pieces: dict[str, list[str]] = {}  # "text"/"thinking" -> pieces
        self.input: list[str] = []  # input_json fragments
        self.fragments = 0  # how many arrived, and how many the last parse saw
        self.parsed = 0

    def append(self, block: dict[str, Any], field: str, piece: str) -> None:
        pieces = self.pieces.get(field)
        if pieces is None:
            start = block.get(field)
            pieces = self.pieces[field] = [start if isinstance(start, str) else ""]
        pieces.append(piece)

    def settle(
        self, block: dict[str, Any], index: int, *, complete: bool, strings: bool = False
    ) -> None:
        """Write the joined deltas into ``block``."""
        for field, pieces in self.pieces.items():
            if len(pieces) > 1:
                pieces[:] = ["".join(pieces)]
            block[field] = pieces[0]
        if self.input and (complete or self.parsed != self.fragments):
            text = "".join(self.input)
            self.input = [text]
            self.parsed = self.fragments  # reads with no new fragment do not parse again
            if text:  # an empty buffer keeps the start event's input ({})
                block["input"] = _parse_input(text, complete=complete, index=index, strings=strings)


class Accumulator:
    """The stream fold, one event at a time.

    ``add`` every event in order; ``snapshot`` is the message so far, as
    the SDK's ``current_message_snapshot`` is (text grows as deltas arrive;
    tool input is the partial parse of the fragments so far), and
    ``message()`` the finished message once ``message_stop`` arrived.  A
    block still open at ``message_stop`` (a tool call cut by
    ``max_tokens``) keeps what arrived of it.  ``ping``, unknown event
    types and unknown delta types are ignored, as the API asks (A3).

    Beyond the SDK, which keeps only the fields it models: unknown fields
    of ``message_delta``'s ``delta`` and ``usage`` are kept too (usage
    overwrites field by field; a null keeps ``message_start``'s value).

    ``partial_strings=True`` reads unfinished tool input as the SDK does
    when the request sent the ``fine-grained-tool-streaming-2025-05-14``
    beta: an unfinished string value is kept as far as it arrived.
    """

    __slots__ = ("_blocks", "_done", "_snapshot", "_strings")

    def __init__(self, *, partial_strings: bool = False) -> None:
        self._snapshot: dict[str, Any] | None = None
        self._blocks: dict[int, _Block] = {}  # the open blocks
        self._done = False
        self._strings = partial_strings

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The message assembled so far (``None`` before ``message_start``).

        Raises:
            StreamError: the tool input so far is not a JSON prefix.
        """
        if self._snapshot is not None:
            content = self._snapshot["content"]
            for index, block in self._blocks.items():
                block.settle(content[index], index, complete=False, strings=self._strings)
        return self._snapshot

    @property
    def done(self) -> bool:
        """Whether ``message_stop`` has arrived."""
        return self._done

    def message(self) -> dict[str, Any]:
        """The complete message.

        Raises:
            StreamError: ``message_stop`` has not arrived (the stream broke);
                its ``partial`` is the snapshot so far (or ``None``).
        """
        if not self._done or self._snapshot is None:
            try:
                partial = self.snapshot
            except StreamError:
                partial = None
            raise StreamError(
                "stream ended before message_stop: the message is incomplete",
                partial=partial,
            )
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
        if not isinstance(kind, str):
            raise StreamError(
                f"malformed stream: an event type must be a string, got {type(kind).__name__}"
            )
        if kind == "error":
            raise event_error(event)
        if kind != "message_start" and kind not in _BLOCK_EVENTS and kind != "message_stop":
            return  # ping, and event types this version does not know
        if kind != "message_start" and self._snapshot is None:
            raise StreamError(f"malformed stream: {kind} before message_start")
        if self._done:
            raise StreamError(f"malformed stream: {kind} after message_stop")
        try:
            if kind == "message_start":
                self._start(event)
            else:
                assert self._snapshot is not None
                self._apply(kind, event, self._snapshot)
        except RecursionError:
            raise StreamError(f"malformed stream: {kind} event nested too deeply") from None
        except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:
            raise StreamError(
                f"malformed stream: bad {kind} event ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def _start(self, event: Mapping[str, Any]) -> None:
        if self._snapshot is not None:
            raise StreamError("malformed stream: a second message_start")
        message = event.get("message")
        if not isinstance(message, Mapping):
            raise StreamError("malformed stream: message_start without a message object")
        snapshot = thaw(message)
        if not isinstance(snapshot.get("content"), list):
            snapshot["content"] = []
        self._snapshot = snapshot

    def _apply(self, kind: str, event: Mapping[str, Any], snapshot: dict[str, Any]) -> None:
        content: list[Any] = snapshot["content"]
        if kind == "message_stop":
            for index, open_block in self._blocks.items():
                open_block.settle(content[index], index, complete=False, strings=self._strings)
            self._blocks.clear()
            self._done = True
        elif kind == "content_block_start":
            index = event["index"]
            if isinstance(index, bool) or not isinstance(index, int) or index != len(content):
                raise StreamError(
                    f"malformed stream: content_block_start index {_show(index)}, "
                    f"expected {len(content)}"
                )
            block = event["content_block"]
            if not isinstance(block, Mapping):
                raise StreamError(f"malformed stream: content block {index} is not an object")
            block = thaw(block)
            content.append(block)
            self._blocks[index] = _Block()
            if block.get("type") == "fallback":
                # The final hop's fallback block names the model that served the
                # reply, as the non-streamed message says (the SDK does the same).
                target = block.get("to")
                model = target.get("model") if isinstance(target, Mapping) else None
                if isinstance(model, str):
                    snapshot["model"] = model
        elif kind == "content_block_delta":
            index = self._index(event)
            delta = event["delta"]
            if not isinstance(delta, Mapping):
                raise StreamError(f"malformed stream: the delta of block {index} is not an object")
            _apply_delta(content[index], delta, self._blocks[index], index)
        elif kind == "content_block_stop":
            index = self._index(event)
            self._blocks.pop(index).settle(content[index], index, complete=True)
        else:  # message_delta: top-level fields, then cumulative usage (J4)
            delta = event.get("delta", {})
            if not isinstance(delta, Mapping):
                raise StreamError("malformed stream: the message_delta delta is not an object")
            for key in _DELTA_FIELDS:
                snapshot[key] = thaw(delta.get(key))
            for key, value in delta.items():
                if key not in _DELTA_FIELDS and (value is not None or key not in _KEPT_UNLESS_NULL):
                    snapshot[key] = thaw(value)
            for key in _EVENT_FIELDS:
                if event.get(key) is not None:
                    snapshot[key] = thaw(event[key])
            usage = event.get("usage")
            if isinstance(usage, Mapping):
                target = snapshot.get("usage")
                if not isinstance(target, dict):
                    target = snapshot["usage"] = {}
                for key, value in usage.items():
                    if value is not None:  # missing or null: keep message_start's
                        target[key] = thaw(value)
            elif usage is not None:
                raise StreamError("malformed stream: the message_delta usage is not an object")

    def _index(self, event: Mapping[str, Any]) -> int:
        index = event["index"]
        if isinstance(index, bool) or not isinstance(index, int) or index not in self._blocks:
            raise StreamError(
                f"malformed stream: {event['type']} for block {_show(index)}, which is not open"
            )
        return index


def _apply_delta(block: dict[str, Any], delta: Mapping[str, Any], open_block: _Block, index: int) -> None:
    kind = delta.get("type")
    targets = DELTA_TARGETS.get(kind) if isinstance(kind, str) else None
    if targets is None:
        return  # a delta type the API added since: it cannot be applied (A3)
    block_type = block.get("type")
    if block_type not in targets and block_type in KNOWN_BLOCK_TYPES:
        raise StreamError(
            f"malformed stream: a {kind} for block {index}, a {block_type} block"
        )
    if kind in ("text_delta", "thinking_delta"):
        field = kind.removesuffix("_delta")
        open_block.append(block, field, _str(delta[field]))
    elif kind == "input_json_delta":
        open_block.input.append(_str(delta["partial_json"]))
        open_block.fragments += 1
    elif kind == "signature_delta":
        block["signature"] = _str(delta["signature"])
    elif kind == "citations_delta":
        citation = thaw(delta["citation"])
        citations = block.get("citations")
        if isinstance(citations, list) and citations:
            citations.append(citation)
        else:  # missing, null or empty: the SDK's ``if not content.citations``
            block["citations"] = [citation]
    else:  # compaction_delta: the summary arrives whole, and replaces
        block["content"] = thaw(delta.get("content"))
        block["encrypted_content"] = thaw(delta.get("encrypted_content"))


def _show(value: Any) -> str:
    """A server value in an error message: an integer as it is, anything else by
    its type only (server text may echo a secret, or be huge)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**12:
        return repr(value)
    return f"<{type(value).__name__}>"


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def accumulate(
    events: Iterable[Mapping[str, Any]], *, partial_strings: bool = False
) -> dict[str, Any]:
    """The message a stream of events assembles to.

    Equal to the message the same request returns without streaming, and
    to what the official SDK's accumulator builds from the same events:
    text, thinking and citations are appended, tool input JSON is joined
    and parsed (an empty buffer keeps ``{}``; a block cut before its stop
    keeps the prefix that parses), a ``compaction_delta`` sets the summary,
    a ``fallback`` block sets ``model``, ``message_delta`` sets
    ``stop_reason``/``stop_sequence``/``stop_details`` (and ``container``
    unless null) and its cumulative ``usage`` overwrites field by field
    (missing or null fields keep ``message_start``'s).  ``partial_strings``:
    see :class:`Accumulator`.

    Raises:
        StreamError: malformed, or no ``message_stop`` at the end.
        APIStatusError: an ``error`` event (its mapped subclass).
    """
    acc = Accumulator(partial_strings=partial_strings)
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

    ``accumulate(message_events(m)) == m`` for every message ``m`` that
    has ``stop_reason``, ``stop_sequence`` and ``stop_details`` (the fold
    sets all three, null where ``m`` has none, as the SDK's does): text
    and thinking arrive in ``chunk_size``-character deltas, tool input as
    JSON fragments, citations one per delta, the signature last, a
    compaction summary in one ``compaction_delta``; blocks of other types
    arrive whole in their ``content_block_start``.

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
        final[key] = plain.get(key)
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
        elif (
            kind == "compaction"
            and "content" in block
            and "encrypted_content" in block
            and (block["content"] is not None or block["encrypted_content"] is not None)
        ):
            head = {**block, "content": None, "encrypted_content": None}
            deltas = [
                {
                    "type": "compaction_delta",
                    "content": block["content"],
                    "encrypted_content": block["encrypted_content"],
                }
            ]
        elif (kind in TOOL_INPUT_BLOCKS or kind not in KNOWN_BLOCK_TYPES) and isinstance(
            block.get("input"), dict
        ):
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

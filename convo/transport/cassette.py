"""Record real exchanges to a JSON file; replay them offline.

``CassetteTransport(path, mode, inner=...)`` wraps another transport.

* ``mode="record"`` sends every request through ``inner`` and writes a new
  cassette (an existing file is replaced on the first write);
* ``mode="replay"`` never touches the network: a request with no recording
  raises ``CassetteMissError``, whose message says how to record it;
* ``mode="auto"`` replays what is recorded and records the rest (appending).

An exchange is keyed by :func:`cassette_key`, the sha256 of the request
payload's canonical JSON (``sort_keys``, compact separators,
``ensure_ascii=False``), plus its kind (``messages``, ``stream`` or
``count_tokens``).  A fork sends exactly the payload its shared prefix
sent, so it replays the prefix's recordings.  The same payload recorded
twice replays in order, the last recording repeating.

The file holds the payloads, the responses (or the stream's events, or
the count), final ``APIStatusError`` outcomes, and response headers with
secrets removed; request headers, where the API key travels, are never
written.  When ``inner`` has a ``redact(text)`` method (``HTTPTransport``
does), the file's text goes through it too.  Every write is atomic
(a temporary file in the same directory, then ``os.replace``).  A stream
is recorded only when it reached ``message_stop``; connection failures
are never recorded.  Closing the cassette closes ``inner``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, TypeAlias

from convo._canonical import HASH_PREFIX, canonical_json
from convo._frozen import thaw
from convo.errors import APIStatusError, CassetteMissError
from convo.transport._status import error_class
from convo.transport.base import (
    APIResponse,
    AsyncBaseTransport,
    AsyncEventStream,
    AsyncTransport,
    BaseTransport,
    Event,
    EventStream,
    Payload,
    Transport,
    redact_headers,
    wire_copy,
)

__all__ = [
    "CASSETTE_VERSION",
    "AsyncCassetteTransport",
    "CassetteTransport",
    "Mode",
    "cassette_key",
]

Mode: TypeAlias = Literal["record", "replay", "auto"]
Kind: TypeAlias = Literal["messages", "stream", "count_tokens"]

CASSETTE_VERSION = 1
_MODES = ("record", "replay", "auto")


def cassette_key(payload: Payload) -> str:
    """``"sha256:<hex>"`` of the payload's canonical JSON: an exchange's key."""
    return HASH_PREFIX + hashlib.sha256(canonical_json(payload)).hexdigest()


def _error_record(error: APIStatusError) -> dict[str, Any]:
    return {
        "status_code": error.status_code,
        "error_type": error.error_type,
        "message": error.message,
        "request_id": error.request_id,
        "retry_after": error.retry_after,
        "body": error.body,
    }


def _replayed(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    """The recording, or raise the error it recorded."""
    if "error" in entry:
        raise _error_from(entry["error"])
    return entry


def _error_from(record: Mapping[str, Any]) -> APIStatusError:
    status = int(record["status_code"])
    return error_class(status)(
        str(record.get("message", "")),
        status_code=status,
        error_type=record.get("error_type"),
        request_id=record.get("request_id"),
        body=record.get("body"),
        retry_after=record.get("retry_after"),
    )


class _Cassette:
    """The file and its index; shared by the sync and async transports."""

    def __init__(self, path: str | os.PathLike[str], mode: Mode, inner: object) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if mode != "replay" and inner is None:
            raise ValueError(f"mode={mode!r} records, so it needs an inner transport (inner=...)")
        self.path = Path(path)
        self.mode = mode
        self.inner = inner
        self.entries: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._played: dict[tuple[str, str], int] = {}
        if mode != "record" and self.path.exists():
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != CASSETTE_VERSION:
                raise ValueError(f"{self.path} is not a version {CASSETTE_VERSION} convo cassette")
            for entry in data["interactions"]:
                self._add(entry)

    def _add(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)
        self._index.setdefault((entry["kind"], entry["key"]), []).append(entry)

    def lookup(self, kind: Kind, payload: Payload) -> tuple[str, dict[str, Any] | None]:
        """The key, and the recording to replay (``None``: record it or miss)."""
        key = cassette_key(payload)
        if self.mode == "record":
            return key, None
        found = self._index.get((kind, key))
        if not found:
            if self.mode == "replay":
                raise self.miss(kind, key)
            return key, None
        turn = self._played.get((kind, key), 0)
        self._played[(kind, key)] = turn + 1
        return key, found[min(turn, len(found) - 1)]

    def miss(self, kind: Kind, key: str) -> CassetteMissError:
        where = "" if self.path.exists() else " (the file does not exist yet)"
        return CassetteMissError(
            f"no recorded {kind} exchange with key {key} in {self.path}{where}; record it "
            f"with CassetteTransport({str(self.path)!r}, mode='auto' or 'record', "
            "inner=HTTPTransport()) and a real API key",
            key=key,
        )

    def record(self, kind: Kind, key: str, payload: Payload, **outcome: Any) -> None:
        """Add one exchange and rewrite the file atomically."""
        entry: dict[str, Any] = {"kind": kind, "key": key, "request": wire_copy(payload)}
        entry.update(wire_copy(outcome))
        self._add(entry)
        self._played[(kind, key)] = self._played.get((kind, key), 0) + 1
        self._save()

    def _save(self) -> None:
        text = json.dumps(
            {"version": CASSETTE_VERSION, "interactions": self.entries},
            ensure_ascii=False,
            indent=1,
            allow_nan=False,
        )
        redact: Callable[[str], str] | None = getattr(self.inner, "redact", None)
        if redact is not None:
            text = redact(text)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def errors_recorded(self, kind: Kind, key: str, payload: Payload) -> Iterator[None]:
        """Record a final ``APIStatusError`` raised inside as the exchange's outcome."""
        try:
            yield
        except APIStatusError as error:
            self.record(kind, key, payload, error=_error_record(error))
            raise

    @staticmethod
    def response(entry: Mapping[str, Any]) -> APIResponse:
        entry = _replayed(entry)
        return APIResponse(
            thaw(entry["response"]),
            request_id=entry.get("request_id"),
            headers=entry.get("headers"),
        )

    @staticmethod
    def replay_events(
        entry: Mapping[str, Any], into: EventStream | AsyncEventStream
    ) -> list[Event]:
        entry = _replayed(entry)
        into.request_id = entry.get("request_id")
        into.headers = dict(entry.get("headers") or {})
        events: list[Event] = thaw(entry["events"])
        return events

    @staticmethod
    def meta(source: object) -> dict[str, Any]:
        """``request_id`` and redacted ``headers`` of a response or stream, when known."""
        headers = getattr(source, "headers", None)
        return {
            "request_id": getattr(source, "request_id", None),
            "headers": redact_headers(headers) if isinstance(headers, Mapping) else {},
        }


class CassetteTransport(BaseTransport):
    """Records exchanges of ``inner`` to ``path`` and replays them (module docstring).

    Args:
        path: the cassette file (JSON).
        mode: ``"replay"`` (default), ``"record"`` or ``"auto"``.
        inner: the transport that really sends; required unless replaying.

    Raises:
        ValueError: a bad mode, a missing ``inner``, or a file that is not a cassette.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: Mode = "replay",
        *,
        inner: Transport | None = None,
    ) -> None:
        self._cassette = _Cassette(path, mode, inner)
        self._inner = inner

    def __repr__(self) -> str:
        c = self._cassette
        return f"CassetteTransport({str(c.path)!r}, mode={c.mode!r}, recorded={len(c.entries)})"

    @property
    def path(self) -> Path:
        """The cassette file."""
        return self._cassette.path

    def _live(self) -> Transport:
        assert self._inner is not None  # _Cassette checked it for the recording modes
        return self._inner

    def send(self, payload: Payload) -> APIResponse:
        """The recorded response, or the inner transport's (then recorded).

        Raises:
            CassetteMissError: replay mode, and nothing is recorded for ``payload``.
            APIStatusError: a recorded (or fresh) error response.
        """
        cassette = self._cassette
        key, entry = cassette.lookup("messages", payload)
        if entry is not None:
            return cassette.response(entry)
        with cassette.errors_recorded("messages", key, payload):
            response = self._live().send(payload)
        cassette.record("messages", key, payload, response=response, **cassette.meta(response))
        return APIResponse(response, **cassette.meta(response))

    def stream(self, payload: Payload) -> EventStream:
        """The recorded events, or the inner stream's (recorded once complete)."""
        return EventStream(lambda into: self._events(payload, into))

    def _events(self, payload: Payload, into: EventStream) -> Iterator[Event]:
        cassette = self._cassette
        key, entry = cassette.lookup("stream", payload)
        if entry is not None:
            yield from cassette.replay_events(entry, into)
            return
        events: list[Event] = []
        inner = self._live().stream(payload)
        try:
            for event in inner:
                if not events:
                    into.request_id = getattr(inner, "request_id", None)
                    into.headers = dict(getattr(inner, "headers", None) or {})
                events.append(event)
                yield event
        except APIStatusError as error:
            if not events:  # refused before streaming: a recordable outcome
                cassette.record("stream", key, payload, error=_error_record(error))
            raise
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        if events and events[-1].get("type") == "message_stop":
            cassette.record("stream", key, payload, events=events, **cassette.meta(into))

    def count_tokens(self, payload: Payload) -> int:
        """The recorded count, or the inner transport's (then recorded)."""
        cassette = self._cassette
        key, entry = cassette.lookup("count_tokens", payload)
        if entry is not None:
            return int(_replayed(entry)["input_tokens"])
        with cassette.errors_recorded("count_tokens", key, payload):
            count = self._live().count_tokens(payload)
        cassette.record("count_tokens", key, payload, input_tokens=count)
        return count

    def close(self) -> None:
        """Close the inner transport."""
        if self._inner is not None:
            self._inner.close()


class AsyncCassetteTransport(AsyncBaseTransport):
    """The async twin of :class:`CassetteTransport` (``inner`` is an ``AsyncTransport``).

    The file is read and written synchronously: cassettes are small, local
    test fixtures.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: Mode = "replay",
        *,
        inner: AsyncTransport | None = None,
    ) -> None:
        self._cassette = _Cassette(path, mode, inner)
        self._inner = inner

    def __repr__(self) -> str:
        c = self._cassette
        return (
            f"AsyncCassetteTransport({str(c.path)!r}, mode={c.mode!r}, recorded={len(c.entries)})"
        )

    @property
    def path(self) -> Path:
        """The cassette file."""
        return self._cassette.path

    def _live(self) -> AsyncTransport:
        assert self._inner is not None  # _Cassette checked it for the recording modes
        return self._inner

    async def send(self, payload: Payload) -> APIResponse:
        """See :meth:`CassetteTransport.send`."""
        cassette = self._cassette
        key, entry = cassette.lookup("messages", payload)
        if entry is not None:
            return cassette.response(entry)
        with cassette.errors_recorded("messages", key, payload):
            response = await self._live().send(payload)
        cassette.record("messages", key, payload, response=response, **cassette.meta(response))
        return APIResponse(response, **cassette.meta(response))

    def stream(self, payload: Payload) -> AsyncEventStream:
        """See :meth:`CassetteTransport.stream`."""
        return AsyncEventStream(lambda into: self._events(payload, into))

    async def _events(self, payload: Payload, into: AsyncEventStream) -> AsyncIterator[Event]:
        cassette = self._cassette
        key, entry = cassette.lookup("stream", payload)
        if entry is not None:
            for event in cassette.replay_events(entry, into):
                yield event
            return
        events: list[Event] = []
        inner = self._live().stream(payload)
        try:
            async for event in inner:
                if not events:
                    into.request_id = getattr(inner, "request_id", None)
                    into.headers = dict(getattr(inner, "headers", None) or {})
                events.append(event)
                yield event
        except APIStatusError as error:
            if not events:
                cassette.record("stream", key, payload, error=_error_record(error))
            raise
        finally:
            close = getattr(inner, "aclose", None)
            if close is not None:
                await close()
        if events and events[-1].get("type") == "message_stop":
            cassette.record("stream", key, payload, events=events, **cassette.meta(into))

    async def count_tokens(self, payload: Payload) -> int:
        """See :meth:`CassetteTransport.count_tokens`."""
        cassette = self._cassette
        key, entry = cassette.lookup("count_tokens", payload)
        if entry is not None:
            return int(_replayed(entry)["input_tokens"])
        with cassette.errors_recorded("count_tokens", key, payload):
            count = await self._live().count_tokens(payload)
        cassette.record("count_tokens", key, payload, input_tokens=count)
        return count

    async def aclose(self) -> None:
        """Close the inner transport."""
        if self._inner is not None:
            await self._inner.aclose()

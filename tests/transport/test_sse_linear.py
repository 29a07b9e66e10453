"""The SSE parser is linear in its input however the input is chunked."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from convo.transport import _sse
from convo.transport._sse import SSEParser, encode_event

MIB = 1 << 20


def one_long_event() -> bytes:
    """One event whose data line is about 1 MiB (a long text delta)."""
    delta = {"type": "text_delta", "text": "x" * MIB}
    return encode_event({"type": "content_block_delta", "index": 0, "delta": delta})


def parse(raw: bytes, size: int) -> list[_sse.ServerSentEvent]:
    parser = SSEParser()
    events = []
    for start in range(0, len(raw), size):
        events += parser.feed(raw[start : start + size])
    return events + parser.close()


class CountingSplitter:
    """Stands in for the line-break pattern and counts the characters it scans."""

    def __init__(self) -> None:
        self.pattern = re.compile(r"\r\n|\r|\n")
        self.scanned = 0

    def split(self, text: str) -> list[str]:
        self.scanned += len(text)
        return self.pattern.split(text)


@pytest.mark.parametrize("size", [1, 7, 1024, MIB * 2])
def test_every_character_is_scanned_once(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Operation count: the line splitter sees each character once, whatever the
    chunk size (the old parser re-scanned the unfinished line on every chunk)."""
    counter = CountingSplitter()
    monkeypatch.setattr(_sse, "_LINE_BREAK", counter)
    raw = one_long_event()[: 64 * 1024] + b"\n\n" if size == 1 else one_long_event()
    events = parse(raw, size)
    assert len(events) == 1
    assert counter.scanned <= len(raw)


def test_a_one_mib_line_in_one_kib_chunks_is_fast() -> None:
    """1 KiB chunks cost at most a small factor over one chunk, and well under 1 s
    (the quadratic parser took 4-5 s)."""
    raw = one_long_event()

    def best(size: int) -> tuple[float, Any]:
        times, result = [], None
        for _ in range(3):
            start = time.perf_counter()
            result = parse(raw, size)
            times.append(time.perf_counter() - start)
        return min(times), result

    whole, expected = best(len(raw))
    chunked, events = best(1024)
    assert events == expected
    assert len(events[0].data) > MIB
    assert chunked < 1.0
    assert chunked < 50 * whole + 0.05

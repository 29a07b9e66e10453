"""Store costs against raw ``sqlite3``, measured in the same run.

Workloads (realistic turns: ~300-character user questions, ~900-character
assistant answers as block arrays with response metadata):

* ``save append@N``: one turn appended to a thread of N turns and saved,
  per turn.  convo: ``c = c.append(...)`` + ``store.save(t, c)`` (hash,
  BEGIN IMMEDIATE, SELECT ... FOR UPDATE, INSERT, compare-and-set UPDATE,
  COMMIT).  Baseline: ``json.dumps`` + INSERT + COMMIT into a flat
  ``messages(thread_id, seq, ...)`` table, WAL + synchronous=NORMAL (the
  store's settings).  Target <= 3x, flat in N.
* ``save only @1000``: the same saves with the appends made beforehand:
  the store's own share (no target; it reads the row above).
* ``load 1000``: ``store.load`` of a 1000-turn thread (recursive CTE, lazy
  turns) against SELECT ... ORDER BY seq + ``json.loads`` of content and
  meta.  Target <= 1x.
* ``fork 1000 at 500``: ``store.fork`` against copying the first 500 rows
  of the flat table (what a store without shared turns must do).  Target
  <= 1 ms absolute.

``python -m benchmarks.bench_store [--quick]`` or ``run(quick)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._timing import Stat, measure, row
from convo import Conversation, TextBlock
from convo.store import Store

_USER = (
    "Could you explain, with a short example, how the retry policy decides how long "
    "to wait after a 429 response, and whether it honours the retry-after header "
    "when the server sends one? I also wonder what happens when the header is a date "
    "rather than a number of seconds, and whether jitter is applied on top of it. {i}"
)
_ANSWER = (
    "The policy waits for the larger of its own backoff and the server's retry-after. "
    "Backoff grows exponentially from half a second and is capped at eight seconds; "
    "a random jitter of up to a quarter of the delay is added so that many clients "
    "do not retry in lockstep. When retry-after is an HTTP date, it is converted to "
    "a number of seconds from now; a date in the past counts as zero. The header is "
    "honoured only up to a minute: a longer wait is treated as a failure, because the "
    "caller is better served by an error than by a silent stall. Here is an example "
    "of the schedule for five attempts with no header: 0.5, 1, 2, 4 and 8 seconds, "
    "each plus jitter. With a header of 3 the second wait becomes 3 seconds. {i}"
)


def _meta(i: int) -> dict[str, Any]:
    return {
        "id": f"msg_{i:024d}",
        "model": "claude-opus-4-6",
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1200 + i, "output_tokens": 240},
    }


def _turn(i: int) -> tuple[str, Any, dict[str, Any] | None]:
    """(role, API content, meta) of turn ``i``: user turns even, assistant odd."""
    if i % 2 == 0:
        return "user", _USER.format(i=i), None
    return "assistant", [{"type": "text", "text": _ANSWER.format(i=i)}], _meta(i)


def _append(c: Conversation, i: int) -> Conversation:
    role, content, meta = _turn(i)
    if role == "user":
        return c.user(content)
    return c.append("assistant", [TextBlock(content[0]["text"])], origin="model", meta=meta)


def _grow(length: int) -> Conversation:
    c = Conversation("You are a precise assistant.")
    for i in range(length):
        c = _append(c, i)
    return c


class _Raw:
    """The hand-written baseline: a flat messages table in raw sqlite3."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(
            "CREATE TABLE messages (thread_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "role TEXT NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL, "
            "PRIMARY KEY (thread_id, seq))"
        )

    def insert(self, thread: str, seq: int) -> None:
        role, content, meta = _turn(seq)
        self.db.execute(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
            (thread, seq, role, json.dumps(content), json.dumps(meta or {})),
        )

    def fill(self, thread: str, length: int) -> None:
        self.db.execute("BEGIN")
        for seq in range(length):
            self.insert(thread, seq)
        self.db.execute("COMMIT")

    def load(self, thread: str) -> list[tuple[str, Any, Any]]:
        rows = self.db.execute(
            "SELECT role, content, meta FROM messages WHERE thread_id = ? ORDER BY seq",
            (thread,),
        ).fetchall()
        return [(role, json.loads(content), json.loads(meta)) for role, content, meta in rows]

    def fork(self, thread: str, at: int, new: str) -> None:
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT INTO messages SELECT ?, seq, role, content, meta FROM messages "
            "WHERE thread_id = ? AND seq < ?",
            (new, thread, at),
        )
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def _paired(
    convo: Callable[[], Any],
    raw: Callable[[], Any],
    *,
    repeat: int,
    number: int,
    setup: Callable[[], Any] | None = None,
) -> tuple[Stat, Stat]:
    """Alternate convo and baseline samples so that machine noise hits both."""
    convo_samples: list[float] = []
    raw_samples: list[float] = []
    for _ in range(repeat):
        convo_samples += measure(convo, repeat=1, number=number, setup=setup).samples
        raw_samples += measure(raw, repeat=1, number=number).samples
    return Stat(convo_samples), Stat(raw_samples)


def _bench_save(folder: Path, length: int, *, repeat: int, number: int) -> dict[str, Any]:
    store = Store(folder / f"save-{length}.db")
    raw = _Raw(folder / f"raw-save-{length}.db")
    try:
        state = {"c": _grow(length), "n": length, "seq": length}
        store.save("t", state["c"])
        raw.fill("t", length)

        def convo_step() -> None:
            state["c"] = _append(state["c"], state["n"])
            state["n"] += 1
            store.save("t", state["c"])

        def raw_step() -> None:
            raw.insert("t", state["seq"])
            state["seq"] += 1

        convo_stat, raw_stat = _paired(convo_step, raw_step, repeat=repeat, number=number)
        assert store.info("t").length == state["n"]
        return row(
            f"save append@{length}",
            convo_stat,
            raw_stat,
            target=3.0,
            baseline_name="sqlite3 json.dumps+INSERT+COMMIT (WAL, NORMAL)",
        )
    finally:
        store.close()
        raw.close()


def _bench_save_only(folder: Path, length: int, *, repeat: int, number: int) -> dict[str, Any]:
    """The store's share of an append+save: the appends are made beforehand."""
    store = Store(folder / f"save-only-{length}.db")
    raw = _Raw(folder / f"raw-save-only-{length}.db")
    try:
        c = _grow(length)
        store.save("t", c)
        raw.fill("t", length)
        ready = []
        for i in range(length, length + repeat * number):
            c = _append(c, i)
            ready.append(c)
        pending = iter(ready)
        seq = iter(range(length, length + repeat * number))
        convo_stat, raw_stat = _paired(
            lambda: store.save("t", next(pending)),
            lambda: raw.insert("t", next(seq)),
            repeat=repeat,
            number=number,
        )
        return row(
            f"save only @{length} (appended before)",
            convo_stat,
            raw_stat,
            baseline_name="sqlite3 json.dumps+INSERT+COMMIT (WAL, NORMAL)",
        )
    finally:
        store.close()
        raw.close()


def _bench_load(folder: Path, *, repeat: int, number: int) -> dict[str, Any]:
    store = Store(folder / "load.db")
    raw = _Raw(folder / "raw-load.db")
    try:
        c = _grow(1000)
        store.save("t", c)
        raw.fill("t", 1000)
        assert store.load("t") == c
        convo_stat, raw_stat = _paired(
            lambda: store.load("t"), lambda: raw.load("t"), repeat=repeat, number=number
        )
        return row(
            "load 1000",
            convo_stat,
            raw_stat,
            target=1.0,
            baseline_name="sqlite3 SELECT + json.loads",
        )
    finally:
        store.close()
        raw.close()


def _bench_fork(folder: Path, *, repeat: int, number: int) -> dict[str, Any]:
    store = Store(folder / "fork.db")
    raw = _Raw(folder / "raw-fork.db")
    try:
        store.save("t", _grow(1000))
        raw.fill("t", 1000)
        counter = {"convo": 0, "raw": 0}

        def convo_fork() -> None:
            counter["convo"] += 1
            store.fork("t", at=500, new_id=f"f{counter['convo']}")

        def raw_fork() -> None:
            counter["raw"] += 1
            raw.fork("t", 500, f"f{counter['raw']}")

        convo_stat, raw_stat = _paired(convo_fork, raw_fork, repeat=repeat, number=number)
        result = row(
            "fork 1000 at 500", convo_stat, raw_stat, baseline_name="sqlite3 copy 500 rows + COMMIT"
        )
        result["target"] = None
        result["target_s"] = 1e-3
        result["met"] = convo_stat.median <= 1e-3
        return result
    finally:
        store.close()
        raw.close()


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the store benchmarks; one row per workload (medians of several runs)."""
    repeat = 5 if quick else 9
    appends = 40 if quick else 200
    with tempfile.TemporaryDirectory(prefix="convo-bench-store-") as tmp:
        folder = Path(tmp)
        rows = [
            _bench_save(folder, length, repeat=repeat, number=appends)
            for length in (10, 1_000, 10_000)
        ]
        rows.append(_bench_save_only(folder, 1_000, repeat=repeat, number=appends))
        rows.append(_bench_load(folder, repeat=repeat, number=5 if quick else 20))
        rows.append(_bench_fork(folder, repeat=repeat, number=10 if quick else 40))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the store benchmarks as a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    args = parser.parse_args(argv)
    from benchmarks.__main__ import print_table

    print(f"SQLite {sqlite3.sqlite_version}, pid {os.getpid()}")
    print_table(run(quick=args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

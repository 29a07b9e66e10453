"""Store costs against the baselines a user would otherwise write, in the same run.

The baseline (raw ``sqlite3``) is a flat ``messages(thread_id, seq, role,
content, meta)`` table in WAL mode with the same ``synchronous`` setting as
the store under test: a save is ``json.dumps`` + one INSERT + COMMIT
(autocommit); a load is one SELECT ... ORDER BY seq (an index range scan) +
``json.loads``; a fork copies rows.  It hashes nothing, keeps no thread
row, checks no compare-and-set.  PostgreSQL (when ``CONVO_BENCH_POSTGRES_URL``
or ``CONVO_TEST_POSTGRES_URL`` is set) is compared with the same flat table
through raw psycopg.

Workloads (realistic turns: ~300-character user questions, ~900-character
assistant answers as block arrays with response metadata):

* ``save FULL|NORMAL append@N``: one turn appended to a thread of N turns
  (10, 1 000, 100 000) and saved.  Targets: FULL <= 1.5x raw WAL/FULL,
  NORMAL <= 3x raw WAL/NORMAL, flat (@100 000 vs @10 <= 1.2x).
* ``floor``: convo's writes by hand (``_Floor``, ``_PgFloor``): the rows
  and index entries a convo save must write, in raw ``sqlite3``/psycopg on
  the store's own schema, with none of convo's Python.  ``floor vs raw`` is
  what the schema's guarantees cost (a content-addressed turn row, a
  compare-and-set thread row, the listing index); ``save vs the floor`` is
  what convo's code costs on top.  ``WAL frames per save`` counts the pages
  each commits.
* ``save only @1000``: the same saves with the appends made beforehand.
* ``load N to payload`` (N = 1 000, 10 000, 100 000):
  ``store.load(t).to_payload(...)`` against SELECT + ``json.loads`` + the
  same request body (checked equal).  Target <= 1x raw at 1 000; per-turn
  cost flat to 100 000 (<= 1.2x).  ``load N`` alone (lazy turns) too.
* ``fork 100000 at 1 | n/2 | head``: ``store.fork`` of a 100 000-turn
  thread.  Targets: <= 1 ms and <= 200 bytes added (SQLite ``dbstat``).
* ``memory per turn``: a loaded 100 000-turn Conversation against a list
  of plain dicts holding the same strings, bytes beyond the strings
  (``tracemalloc``).  Target <= 1.5x.
* ``postgres save / load``: against raw psycopg.  Targets <= 2x / <= 1.2x.
* ``concurrent``: 4 forked processes, each appending+saving to its own
  thread, and 4 racing on one thread (on ``ConflictError``: reload, append
  again, save again), against the same workloads in raw sqlite3.

``python -m benchmarks.bench_store [--quick]`` or ``run(quick)``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._timing import Stat, measure, row
from convo import Conversation, TextBlock
from convo.errors import ConflictError
from convo.store import Store

_MODEL = "claude-opus-4-6"

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


def _request(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": _MODEL,
        "max_tokens": 1024,
        "system": "You are a precise assistant.",
        "messages": messages,
    }


def _wal(path: Path, sync: str = "FULL") -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {sync}")
    return db


class _Raw:
    """The hand-written baseline: a flat messages table in raw sqlite3."""

    def __init__(self, path: Path, *, create: bool = True, sync: str = "NORMAL") -> None:
        self.db = _wal(path, sync)
        if create:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS messages (thread_id TEXT NOT NULL, "
                "seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, "
                "meta TEXT NOT NULL, PRIMARY KEY (thread_id, seq))"
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

    def load_payload(self, thread: str) -> dict[str, Any]:
        rows = self.db.execute(
            "SELECT role, content, meta FROM messages WHERE thread_id = ? ORDER BY seq",
            (thread,),
        ).fetchall()
        messages = []
        for role, content, meta in rows:
            json.loads(meta)  # the baseline keeps its metadata too
            messages.append({"role": role, "content": json.loads(content)})
        return _request(messages)

    def close(self) -> None:
        self.db.close()


_FLOOR_TURN = (
    "INSERT INTO turns (key, id, parent, depth, jump, role, origin, content, meta, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_FLOOR_START = (
    "SELECT t.head, t.head_key, r.depth, r.id FROM threads t "
    "JOIN turns r ON r.rid = t.head WHERE t.id = {}"
)
"""Where a floor starts: its thread's head row (``{}``: the driver's placeholder)."""
_FLOOR_HEAD = (
    "UPDATE threads SET head = ?, head_key = ?, version = version + 1, updated_at = ? "
    "WHERE id = ? AND head = ?"
)


def _floor_turn(thread: str, depth: int, parent_id: str, parent_key: bytes) -> tuple[Any, ...]:
    """``(key, id, role, origin, content, meta)`` of the floor's turn at
    ``depth`` (user and assistant turns alternate, as in the other
    contenders): one ``json.dumps`` per text, two SHA-256.  The key hashes
    the thread too: two floors grow from one head with the same turns, and
    each must write rows of its own."""
    role, content, meta = _turn(depth)
    text = json.dumps(content, separators=(",", ":"))
    meta_text = json.dumps(meta or {}, separators=(",", ":"))
    turn_id = "sha256:" + hashlib.sha256(f"{parent_id}{role}{text}".encode()).hexdigest()
    key = hashlib.sha256(f"{thread}{turn_id}{meta_text}".encode() + parent_key).digest()
    return key, turn_id, role, "human" if role == "user" else "model", text, meta_text


class _Floor:
    """convo's writes by hand: what a save must write, in raw ``sqlite3``
    on the store's own file, with none of convo's Python.

    One transaction: the turn row (its key a SHA-256 chained from its
    parent's, its id a SHA-256 of its text), so its ``(depth, key)`` index
    entry, then the compare-and-set UPDATE of the thread row, so its
    ``updated_at`` index entry.  Set against the flat baseline, it is what
    the schema's guarantees cost; set against convo, what convo's code costs.
    Its jump pointer is the parent (an integer written either way, without
    the lookup convo's skew-binary pointer takes): the floor's threads are
    written, never read.
    """

    def __init__(self, path: Path, thread: str, *, sync: str) -> None:
        self.db = _wal(path, sync)
        self.db.execute("PRAGMA foreign_keys = ON")  # as the store's connections
        self.thread = thread
        self.rid, self.key, self.depth, self.turn_id = self.db.execute(
            _FLOOR_START.format("?"), (thread,)
        ).fetchone()

    def insert(self) -> None:
        """Append turn ``depth + 1`` and move the thread's head to it."""
        turn = _floor_turn(self.thread, self.depth + 1, self.turn_id, self.key)
        now = time.time_ns() // 1000  # the store's timestamps: microseconds
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        rid = db.execute(
            _FLOOR_TURN, (*turn[:2], self.rid, self.depth + 1, self.rid, *turn[2:], now)
        ).lastrowid
        moved = db.execute(_FLOOR_HEAD, (rid, turn[0], now, self.thread, self.rid))
        if moved.rowcount != 1:
            raise AssertionError("the floor's compare-and-set failed")
        db.execute("COMMIT")
        self.rid, self.key, self.turn_id = rid, turn[0], turn[1]
        self.depth += 1

    def close(self) -> None:
        self.db.close()


def _paired(*fns: Callable[[], Any], repeat: int, number: int) -> list[Stat]:
    """Alternate the samples of each contender so that machine noise hits
    all of them alike; one ``Stat`` per function."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            samples[i] += measure(fn, repeat=1, number=number).samples
    return [Stat(s) for s in samples]


class _Thread:
    """One store file and one raw file with a thread of ``length`` turns,
    opened twice: ``synchronous=FULL`` appends to thread ``t``, ``NORMAL``
    to ``n`` (a fork of ``t`` at its head: the same length, no copy); the
    floor (``_Floor``) appends to ``floor-FULL`` and ``floor-NORMAL``, forks
    of ``t`` too."""

    def __init__(self, folder: Path, length: int, conversation: Conversation | None = None) -> None:
        self.length = length
        path, raw_path = folder / f"store-{length}.db", folder / f"raw-{length}.db"
        c = conversation if conversation is not None else _grow(length)
        self.c = {"FULL": c, "NORMAL": c}
        self.n = {"FULL": length, "NORMAL": length}
        self.seq = {"FULL": length, "NORMAL": length}
        with Store(path, synchronous="NORMAL") as loader:
            loader.save("t", c)
            loader.fork("t", new_id="n")
            for sync in ("FULL", "NORMAL"):
                loader.fork("t", new_id=f"floor-{sync}")
        self.floors = {sync: _Floor(path, f"floor-{sync}", sync=sync) for sync in ("FULL", "NORMAL")}
        self.stores = {sync: Store(path, synchronous=sync) for sync in ("FULL", "NORMAL")}
        raw = _Raw(raw_path)
        raw.fill("t", length)
        raw.db.execute("INSERT INTO messages SELECT 'n', seq, role, content, meta FROM messages")
        raw.close()
        self.raws = {sync: _Raw(raw_path, create=False, sync=sync) for sync in ("FULL", "NORMAL")}
        self.path, self.raw_path = path, raw_path

    def steps(self, sync: str) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
        """One append+save each: convo's, the flat baseline's, the floor's."""
        thread = "t" if sync == "FULL" else "n"
        store, raw, floor = self.stores[sync], self.raws[sync], self.floors[sync]

        def convo_step() -> None:
            self.c[sync] = _append(self.c[sync], self.n[sync])
            self.n[sync] += 1
            store.save(thread, self.c[sync])

        def raw_step() -> None:
            raw.insert(thread, self.seq[sync])
            self.seq[sync] += 1

        return convo_step, raw_step, floor.insert

    def close(self) -> None:
        for store in self.stores.values():
            store.close()
        for floor in self.floors.values():
            floor.close()
        for raw in self.raws.values():
            raw.close()


_RAW_SAVE = "sqlite3 json.dumps+INSERT+COMMIT (WAL, {sync})"
_SAVE_TARGETS = {"FULL": 1.5, "NORMAL": 3.0}
_FLOOR_AT = 1_000
"""The thread length at which the floor's rows are reported."""


def _bench_saves(
    fixtures: list[_Thread], *, repeat: int, number: dict[str, int]
) -> list[dict[str, Any]]:
    """append+save at each thread length and durability, contenders and
    lengths sampled in alternation, so that the ratios (and the flatness in
    the length) are taken pair by pair."""
    rows: list[dict[str, Any]] = []
    for sync in ("FULL", "NORMAL"):
        fns = [fn for fixture in fixtures for fn in fixture.steps(sync)]
        stats = _paired(*fns, repeat=repeat, number=number[sync])
        by_length = {}
        for k, fixture in enumerate(fixtures):
            convo_stat, raw_stat, floor_stat = stats[3 * k : 3 * k + 3]
            by_length[fixture.length] = convo_stat
            thread = "t" if sync == "FULL" else "n"
            assert fixture.stores[sync].info(thread).length == fixture.n[sync]
            floor_thread = fixture.stores[sync].info(f"floor-{sync}")
            assert floor_thread.length == fixture.floors[sync].depth + 1
            rows.append(row(f"save {sync} append@{fixture.length}", convo_stat, raw_stat,
                            target=_SAVE_TARGETS[sync],
                            baseline_name=_RAW_SAVE.format(sync=sync),
                            thread_length=fixture.length))
            if fixture.length == _FLOOR_AT:
                rows.append(row(f"floor {sync} @{fixture.length}: convo's writes by hand",
                                floor_stat, raw_stat,
                                baseline_name=_RAW_SAVE.format(sync=sync),
                                thread_length=fixture.length))
                rows.append(row(f"save {sync} append@{fixture.length} vs the floor",
                                convo_stat, floor_stat,
                                baseline_name=f"floor {sync} @{fixture.length}",
                                thread_length=fixture.length))
        longest, shortest = fixtures[-1].length, fixtures[0].length
        rows.append(row(f"save {sync} append@{longest} vs append@{shortest} (flat)",
                        by_length[longest], by_length[shortest], target=1.2,
                        baseline_name=f"save {sync} append@{shortest}"))
    return rows


def _wal_frames(path: Path, *, reset: bool) -> int:
    """The frames in ``path``'s WAL; ``reset``: first empty it (a TRUNCATE
    checkpoint), so that what comes next is counted from zero."""
    db = sqlite3.connect(path, timeout=30)
    try:
        mode = "TRUNCATE" if reset else "PASSIVE"
        busy, frames, _ = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        if busy:
            raise RuntimeError(f"{path}: a reader kept the checkpoint from running")
        return int(frames)
    finally:
        db.close()


def _bench_wal(fixture: _Thread, *, saves: int = 100) -> list[dict[str, Any]]:
    """WAL frames (pages) per one-turn save in NORMAL: convo, the floor and
    the flat baseline, each counted from an empty WAL (fewer frames than
    the auto-checkpoint's 1 000, so none is checkpointed on the way)."""
    convo_step, raw_step, floor_step = fixture.steps("NORMAL")
    counted = {}
    for name, step, path in (
        ("convo", convo_step, fixture.path),
        ("raw", raw_step, fixture.raw_path),
        ("floor", floor_step, fixture.path),
    ):
        _wal_frames(path, reset=True)
        for _ in range(saves):
            step()
        counted[name] = Stat([_wal_frames(path, reset=False) / saves])
    at = fixture.length
    return [
        row(f"WAL frames per save NORMAL append@{at}", counted["convo"], counted["raw"],
            unit="frames", baseline_name=_RAW_SAVE.format(sync="NORMAL")),
        row(f"WAL frames per save, floor @{at}", counted["floor"], counted["raw"],
            unit="frames", baseline_name=_RAW_SAVE.format(sync="NORMAL")),
    ]


def _bench_save_only(
    folder: Path, length: int, *, repeat: int, number: int
) -> list[dict[str, Any]]:
    """The store's share of an append+save: the appends are made beforehand;
    against the flat baseline and the floor (which still builds its turn:
    one ``json.dumps`` and two SHA-256 more than this ``save`` does)."""
    path = folder / f"save-only-{length}.db"
    store = Store(path, synchronous="NORMAL")
    raw = _Raw(folder / f"raw-save-only-{length}.db")
    floor: _Floor | None = None
    try:
        c = _grow(length)
        store.save("t", c)
        store.fork("t", new_id="floor")
        floor = _Floor(path, "floor", sync="NORMAL")
        raw.fill("t", length)
        ready = []
        appends = []  # the appends alone, timed by ``number`` as the saves
        for start in range(length, length + repeat * number, number):
            began = time.perf_counter()
            for i in range(start, start + number):
                c = _append(c, i)
                ready.append(c)
            appends.append((time.perf_counter() - began) / number)
        pending = iter(ready)
        seq = iter(range(length, length + repeat * number))
        convo_stat, raw_stat, floor_stat = _paired(
            lambda: store.save("t", next(pending)),
            lambda: raw.insert("t", next(seq)),
            floor.insert,
            repeat=repeat,
            number=number,
        )
        name = f"save NORMAL only @{length} (appended before)"
        return [
            row(name, convo_stat, raw_stat, baseline_name=_RAW_SAVE.format(sync="NORMAL")),
            row(f"{name} vs the floor", convo_stat, floor_stat,
                baseline_name=f"floor NORMAL @{length}"),
            row(f"append alone @{length}, the same turns (no save)", Stat(appends), raw_stat,
                baseline_name=_RAW_SAVE.format(sync="NORMAL")),
        ]
    finally:
        if floor is not None:
            floor.close()
        store.close()
        raw.close()


def _bench_load(fixtures: list[_Thread], *, repeat: int) -> list[dict[str, Any]]:
    """Load to payload (and lazily) at each length; per-turn flatness."""
    rows: list[dict[str, Any]] = []
    per_turn: dict[int, Stat] = {}
    raw_per_turn: dict[int, Stat] = {}
    for fixture in fixtures:
        store, raw = fixture.stores["NORMAL"], fixture.raws["NORMAL"]
        length = store.info("t").length
        number = max(1, 3000 // length)
        samples = repeat if length < 50_000 else max(3, repeat // 2)

        def convo_payload(store: Store = store) -> dict[str, Any]:
            return store.load("t").to_payload(_MODEL, 1024)

        expected = json.loads(json.dumps(raw.load_payload("t")))
        assert json.loads(json.dumps(convo_payload())) == expected
        payload, raw_payload = _paired(
            convo_payload, lambda raw=raw: raw.load_payload("t"), repeat=samples, number=number
        )
        lazy, raw_load = _paired(
            lambda store=store: store.load("t"), lambda raw=raw: raw.load("t"),
            repeat=samples, number=number,
        )
        label = f"{fixture.length:,}".replace(",", " ")
        rows.append(row(f"load {label} to payload", payload, raw_payload,
                        target=1.0 if fixture.length == 1000 else None,
                        baseline_name="sqlite3 SELECT + json.loads + request body",
                        turns=length, convo_per_turn_s=payload.median / length))
        rows.append(row(f"load {label} (lazy turns, no payload)", lazy, raw_load,
                        baseline_name="sqlite3 SELECT + json.loads",
                        turns=length, convo_per_turn_s=lazy.median / length))
        per_turn[fixture.length] = Stat([s / length for s in payload.samples])
        raw_per_turn[fixture.length] = Stat([s / length for s in raw_payload.samples])
    first, last = min(per_turn), max(per_turn)
    rows.append(row(f"load to payload per turn @{last} vs @{first} (flat)", per_turn[last],
                    per_turn[first], target=1.2, baseline_name=f"per turn @{first}"))
    # The same figure for the baseline: how much of the growth is the
    # machine's (the working set leaving the caches), not convo's.
    rows.append(row(f"baseline load per turn @{last} vs @{first}", raw_per_turn[last],
                    raw_per_turn[first], baseline_name=f"baseline per turn @{first}"))
    return rows


def _stored_bytes(path: Path) -> int:
    """Bytes of stored records (rows and index entries) in a SQLite file."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(db.execute("SELECT sum(payload) FROM dbstat").fetchone()[0])
    finally:
        db.close()


def _bench_fork(fixture: _Thread, *, repeat: int, number: int) -> list[dict[str, Any]]:
    """fork of the longest thread at turn 1, n/2 and the head: time and
    bytes (NORMAL: the fork's own cost, not the disk's fsync)."""
    store = fixture.stores["NORMAL"]
    length = store.info("t").length
    rows = []
    counter = 0
    for label, at in (("1", 1), ("n/2", length // 2), ("head", length)):
        def convo_fork(at: int = at) -> None:
            nonlocal counter
            counter += 1
            store.fork("t", at=at, new_id=f"f{counter}")

        before, forks_before = _stored_bytes(fixture.path), counter
        (stat,) = _paired(convo_fork, repeat=repeat, number=number)
        added = (_stored_bytes(fixture.path) - before) / (counter - forks_before)
        assert store.info(f"f{counter}").length == at
        name = f"fork {length:,} at {label}".replace(",", " ")
        timed = row(name, stat, None, at=at)
        timed.update(target=None, target_text="<= 1 ms", met=stat.median <= 1e-3)
        size = row(f"{name}: bytes added", Stat([added]), None, unit="B")
        size.update(target=None, target_text="<= 200 B", met=added <= 200)
        rows += [timed, size]
    return rows


def _string_bytes(values: Any) -> int:
    seen: set[int] = set()
    total = 0
    for value in values:
        if isinstance(value, str) and id(value) not in seen:
            seen.add(id(value))
            total += sys.getsizeof(value)
    return total


def _bench_memory(fixture: _Thread) -> dict[str, Any]:
    """Bytes per turn beyond the strings: a loaded Conversation against a
    list of plain dicts holding the same strings."""
    store = fixture.stores["NORMAL"]
    gc.collect()
    tracemalloc.start()
    c = store.load("t")
    convo_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    turns = c.turns
    convo_strings = _string_bytes(
        s for t in turns for s in (t.id, t._content_text, t._meta_text)
    )
    rows = [(t.id, t.role, t.origin, t._content_text, t._meta_text) for t in turns]
    gc.collect()
    tracemalloc.start()
    plain = [
        {"id": i, "role": r, "origin": o, "content": ct, "meta": mt} for i, r, o, ct, mt in rows
    ]
    plain_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(turns)
    convo_per = (convo_bytes - convo_strings) / n
    plain_per = plain_bytes / n  # the strings were allocated before
    del plain
    return row(f"memory per turn, Conversation of {n:,}".replace(",", " "), Stat([convo_per]),
                 Stat([plain_per]), target=1.5, unit="B",
                 baseline_name="list of dicts (id, role, origin, content, meta), same strings")


def _pg_url() -> str | None:
    return os.environ.get("CONVO_BENCH_POSTGRES_URL") or os.environ.get("CONVO_TEST_POSTGRES_URL")


_PG_FLOOR = (
    "WITH new AS (INSERT INTO turns (key, id, parent, depth, jump, role, origin, content, "
    "meta, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now()) RETURNING rid) "
    "UPDATE threads SET head = new.rid, head_key = %s, version = threads.version + 1, "
    "updated_at = now() FROM new WHERE threads.id = %s AND threads.head = %s RETURNING new.rid"
)


class _PgFloor:
    """``_Floor`` on PostgreSQL: the same rows, one autocommitted statement
    (one round trip, as convo's one-turn save), through the baseline's
    psycopg connection."""

    def __init__(self, db: Any, thread: str) -> None:
        self.db = db
        self.thread = thread
        self.rid, self.key, self.depth, self.turn_id = db.execute(
            _FLOOR_START.format("%s"), (thread,)
        ).fetchone()
        db.commit()

    def insert(self) -> None:
        """Append turn ``depth + 1`` and move the thread's head to it."""
        turn = _floor_turn(self.thread, self.depth + 1, self.turn_id, self.key)
        moved = self.db.execute(
            _PG_FLOOR,
            (*turn[:2], self.rid, self.depth + 1, self.rid, *turn[2:], turn[0], self.thread,
             self.rid),
        ).fetchone()
        self.db.commit()
        if moved is None:
            raise AssertionError("the floor's compare-and-set failed")
        self.rid, self.key, self.turn_id = moved[0], turn[0], turn[1]
        self.depth += 1


def _bench_postgres(*, repeat: int, number: int, length: int) -> list[dict[str, Any]]:
    """Save one turn and load to payload on PostgreSQL, against raw psycopg
    on a flat messages table, in a schema of their own (dropped after)."""
    url = _pg_url()
    if url is None:
        return []
    import psycopg
    from sqlalchemy import make_url

    parsed = make_url(url).set(drivername="postgresql")
    dsn = parsed.render_as_string(hide_password=False)
    schema = f"convo_bench_{os.getpid()}"
    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    store_url = (
        make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    store = Store(store_url)
    raw = psycopg.connect(dsn, options=f"-csearch_path={schema}")
    try:
        raw.execute(
            "CREATE TABLE messages (thread_id TEXT NOT NULL, seq INTEGER NOT NULL, "
            "role TEXT NOT NULL, content TEXT NOT NULL, meta TEXT NOT NULL, "
            "PRIMARY KEY (thread_id, seq))"
        )
        raw.commit()
        c = _grow(length)
        store.save("t", c)
        store.fork("t", new_id="floor")
        floor = _PgFloor(raw, "floor")
        for seq in range(length):
            role, content, meta = _turn(seq)
            raw.execute("INSERT INTO messages VALUES (%s, %s, %s, %s, %s)",
                        ("t", seq, role, json.dumps(content), json.dumps(meta or {})))
        raw.commit()
        state = {"c": c, "n": length, "seq": length}

        def convo_save() -> None:
            state["c"] = _append(state["c"], state["n"])
            state["n"] += 1
            store.save("t", state["c"])

        def raw_save() -> None:
            role, content, meta = _turn(state["seq"])
            raw.execute("INSERT INTO messages VALUES (%s, %s, %s, %s, %s)",
                        ("t", state["seq"], role, json.dumps(content), json.dumps(meta or {})))
            raw.commit()
            state["seq"] += 1

        def raw_payload() -> dict[str, Any]:
            rows = raw.execute(
                "SELECT role, content, meta FROM messages WHERE thread_id = %s ORDER BY seq",
                ("t",),
            ).fetchall()
            raw.commit()
            messages = []
            for role, content, meta in rows:
                json.loads(meta)
                messages.append({"role": role, "content": json.loads(content)})
            return _request(messages)

        def convo_payload() -> dict[str, Any]:
            return store.load("t").to_payload(_MODEL, 1024)

        save, raw_save_stat, floor_stat = _paired(
            convo_save, raw_save, floor.insert, repeat=repeat, number=number
        )
        assert store.info("floor").length == floor.depth + 1
        assert json.loads(json.dumps(convo_payload())) == json.loads(json.dumps(raw_payload()))
        load, raw_load = _paired(convo_payload, raw_payload, repeat=repeat, number=2)
        return [
            row(f"postgres save append@{length}", save, raw_save_stat, target=2.0,
                baseline_name="psycopg json.dumps+INSERT+COMMIT"),
            row(f"postgres floor @{length}: convo's writes by hand", floor_stat, raw_save_stat,
                baseline_name="psycopg json.dumps+INSERT+COMMIT"),
            row(f"postgres save append@{length} vs the floor", save, floor_stat,
                baseline_name=f"postgres floor @{length}"),
            row(f"postgres load {length} to payload", load, raw_load, target=1.2,
                baseline_name="psycopg SELECT + json.loads + request body"),
        ]
    finally:
        store.close()
        raw.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


# -- concurrent saves --------------------------------------------------------


def _worker(kind: str, path: str, index: int, saves: int, start: Any, out: Any) -> None:
    """One writing process; puts ``(first, last, conflicts)`` on ``out``."""
    conflicts = 0
    if kind.startswith("convo"):
        store = Store(path, synchronous="NORMAL")  # as the raw baseline
        thread = "shared" if kind == "convo-race" else f"p{index}"
        c = store.load(thread)
        start.wait()
        first = time.perf_counter()
        done = 0
        # Distinct text per process (an even offset keeps the roles
        # alternating): two processes appending the very same turn would
        # both succeed, since equal turns are one content-addressed row.
        offset = 1_000_000 * (index + 1)
        while done < saves:
            nxt = _append(c, len(c) + offset)
            try:
                store.save(thread, nxt)
            except ConflictError:
                conflicts += 1
                c = store.load(thread)
                continue
            c = nxt
            done += 1
        last = time.perf_counter()
        store.close()
    else:
        raw = _Raw(Path(path), create=False)
        thread = "shared" if kind == "raw-race" else f"p{index}"
        seq = raw.db.execute(
            "SELECT count(*) FROM messages WHERE thread_id = ?", (thread,)
        ).fetchone()[0]
        start.wait()
        first = time.perf_counter()
        done = 0
        while done < saves:
            try:
                raw.insert(thread, seq)
            except sqlite3.IntegrityError:
                conflicts += 1
                seq = raw.db.execute(
                    "SELECT max(seq) + 1 FROM messages WHERE thread_id = ?", (thread,)
                ).fetchone()[0]
                continue
            seq += 1
            done += 1
        last = time.perf_counter()
        raw.close()
    out.put((first, last, conflicts))


def _concurrent_once(folder: Path, kind: str, procs: int, saves: int, n: int) -> tuple[float, int]:
    """Seconds per save (wall clock over all processes) and conflicts."""
    path = folder / f"conc-{kind}-{n}.db"
    threads_ = ["shared"] if kind.endswith("race") else [f"p{i}" for i in range(procs)]
    if kind.startswith("convo"):
        with Store(path, synchronous="NORMAL") as store:
            for t in threads_:
                store.save(t, _grow(2))
    else:
        raw = _Raw(path)
        for t in threads_:
            raw.fill(t, 2)
        raw.close()
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(kind, str(path), i, saves, start, out))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    time.sleep(0.2)  # let every worker open its connection
    start.set()
    results = [out.get(timeout=300) for _ in workers]
    for w in workers:
        w.join()
        assert w.exitcode == 0, f"{kind} worker failed"
    first = min(r[0] for r in results)
    last = max(r[1] for r in results)
    total = procs * saves
    # nothing lost, nothing duplicated
    if kind.startswith("convo"):
        with Store(path) as store:
            assert sum(store.info(t).length for t in threads_) == 2 * len(threads_) + total
            store.verify(threads_[0])
    else:
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == (
            2 * len(threads_) + total
        )
        db.close()
    return (last - first) / total, sum(r[2] for r in results)


def _bench_concurrent(folder: Path, *, repeat: int, saves: int) -> list[dict[str, Any]]:
    procs = 4
    rows = []
    for shape, label in (("own", "own thread each"), ("race", "racing on one thread")):
        convo_s: list[float] = []
        raw_s: list[float] = []
        convo_conflicts: list[int] = []
        raw_conflicts: list[int] = []
        for n in range(repeat):
            seconds, conflicts = _concurrent_once(folder, f"convo-{shape}", procs, saves, n)
            convo_s.append(seconds)
            convo_conflicts.append(conflicts)
            seconds, conflicts = _concurrent_once(folder, f"raw-{shape}", procs, saves, n)
            raw_s.append(seconds)
            raw_conflicts.append(conflicts)
        convo_stat, raw_stat = Stat(convo_s), Stat(raw_s)
        result = row(
            f"concurrent saves: {procs} processes, {label}", convo_stat, raw_stat,
            baseline_name="sqlite3 INSERT+COMMIT, same processes" + (
                " (conflict: duplicate seq)" if shape == "race" else ""),
            processes=procs,
            saves_per_process=saves,
            convo_saves_per_s=round(1 / convo_stat.median),
            baseline_saves_per_s=round(1 / raw_stat.median),
            convo_conflicts=sorted(convo_conflicts)[len(convo_conflicts) // 2],
            baseline_conflicts=sorted(raw_conflicts)[len(raw_conflicts) // 2],
        )
        result["note"] = (
            f"convo {result['convo_saves_per_s']}/s, {result['convo_conflicts']} conflicts; "
            f"raw {result['baseline_saves_per_s']}/s, {result['baseline_conflicts']} conflicts"
        )
        rows.append(result)
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the store benchmarks; one row per workload (medians of several runs)."""
    repeat = 7 if quick else 15
    number = {"FULL": 3 if quick else 8, "NORMAL": 30 if quick else 100}
    # --quick keeps the shapes (a long thread, three lengths) at a fifth of
    # the longest length, to stay within its 2 minutes on a shared machine.
    big = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="convo-bench-store-") as tmp:
        folder = Path(tmp)
        fixtures = [_Thread(folder, 10), _Thread(folder, 1_000)]
        # The middle thread is the longest one's prefix: grown once.
        long = _grow(big)
        middle = _Thread(folder, big // 10, long.fork(big // 10))
        fixtures.append(_Thread(folder, big, long))
        del long
        try:
            rows = _bench_saves([fixtures[0], fixtures[1], fixtures[2]], repeat=repeat,
                                number=number)
            rows += _bench_save_only(folder, 1_000, repeat=repeat, number=number["NORMAL"])
            rows += _bench_wal(fixtures[1])
            rows += _bench_load([fixtures[1], middle, fixtures[2]],
                                repeat=5 if quick else 11)
            rows += _bench_fork(fixtures[2], repeat=repeat, number=10 if quick else 40)
            rows.append(_bench_memory(fixtures[2]))
        finally:
            for fixture in (*fixtures, middle):
                fixture.close()
        rows += _bench_postgres(repeat=repeat, number=number["NORMAL"], length=1_000)
        rows += _bench_concurrent(folder, repeat=3 if quick else 5, saves=100 if quick else 400)
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

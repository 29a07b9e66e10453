"""Store costs against the baselines a user would otherwise write, in the same run.

Two baselines, each doing the same job without convo:

* **raw sqlite3**: a flat ``messages(thread_id, seq, role, content, meta)``
  table, WAL + ``synchronous=NORMAL`` (the store's settings).  A save is
  ``json.dumps`` + one INSERT + COMMIT (autocommit); a load is one SELECT ...
  ORDER BY seq (an index range scan) + ``json.loads``; a fork copies rows.
  It hashes nothing, keeps no thread row, checks no compare-and-set.
* **SQLAlchemy Core, same schema**: ``convo.store.schema``'s tables through
  ``engine.begin()`` / ``Connection.execute`` (what a user writing the
  store with SQLAlchemy would do): a save computes the row key (sha256 over
  the parent key and the JSON), INSERTs the turn and UPDATEs the thread's
  head and version; a load runs the same recursive CTE + ``json.loads``.

Workloads (realistic turns: ~300-character user questions, ~900-character
assistant answers as block arrays with response metadata):

* ``save append@N``: one turn appended to a thread of N turns and saved.
  convo: ``c = c.append(...)`` + ``store.save(t, c)``.  Target <= 3x raw,
  and flat in N (``save append@10000 vs save append@10`` <= 1.5x).
* ``save only @1000``: the same saves with the appends made beforehand:
  the store's own share (informational).
* ``load 1000 to payload``: ``store.load(t).to_payload(...)`` against
  SELECT + ``json.loads`` + building the same request body (checked equal).
  Target <= 1x raw.  ``load 1000`` alone (lazy turns) is informational.
* ``fork 1000 at 500``: ``store.fork`` against copying 500 rows (raw) /
  inserting a thread row at the ancestor (Core).  Targets: <= 1 ms and
  <= 200 bytes added per fork (SQLite ``dbstat``: rows + index entries).
* ``concurrent``: 4 forked processes, each appending+saving to its own
  thread, and 4 racing on one thread (on ``ConflictError``: reload, append
  again, save again), against the same workloads in raw sqlite3 (racing:
  INSERT of the next ``seq``, a primary-key violation is the conflict,
  re-read ``max(seq)`` and retry).  Reported as saves/s and conflicts.

``python -m benchmarks.bench_store [--quick]`` or ``run(quick)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, event, insert, select, update

from benchmarks._timing import Stat, measure, row
from convo import Conversation, TextBlock
from convo.errors import ConflictError
from convo.store import Store
from convo.store.schema import metadata, threads, turns

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


def _wal(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class _Raw:
    """The hand-written baseline: a flat messages table in raw sqlite3."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.db = _wal(path)
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


class _Core:
    """The SQLAlchemy Core baseline over convo's own schema
    (``convo.store.schema``): what a user writing this store with
    ``Connection.execute`` would do, without the compare-and-set read."""

    def __init__(self, path: Path) -> None:
        self.engine: Engine = create_engine(f"sqlite:///{path}")

        @event.listens_for(self.engine, "connect")
        def _pragmas(dbapi_connection: Any, record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        metadata.create_all(self.engine)
        self.head: bytes | None = None
        self.version = 0
        chain = (
            select(turns.c.key, turns.c.parent_key, turns.c.depth, turns.c.role,
                   turns.c.content, turns.c.meta)
            .where(turns.c.key == bindparam("head"))
            .cte("chain", recursive=True)
        )
        parent = turns.alias("parent")
        chain = chain.union_all(
            select(parent.c.key, parent.c.parent_key, parent.c.depth, parent.c.role,
                   parent.c.content, parent.c.meta)
            .where(parent.c.key == chain.c.parent_key)
        )
        self.chain = select(chain.c.role, chain.c.content, chain.c.meta).order_by(chain.c.depth)
        self.at_depth = select(chain.c.key).where(chain.c.depth == bindparam("depth"))

    def _now(self) -> Any:
        return _utcnow()  # convo's Timestamp type stores it as microseconds

    def save_turn(self, thread: str, seq: int) -> None:
        role, content, meta = _turn(seq)
        content_text = json.dumps(content, separators=(",", ":"))
        meta_text = json.dumps(meta or {}, separators=(",", ":"))
        digest = hashlib.sha256(self.head or b"")
        digest.update(content_text.encode())
        key = digest.digest()
        now = self._now()
        with self.engine.begin() as conn:
            conn.execute(insert(turns), {
                "key": key, "id": "sha256:" + digest.hexdigest(), "parent_key": self.head,
                "depth": seq, "role": role, "origin": "human" if role == "user" else "model",
                "content": content_text, "meta": meta_text, "created_at": now,
            })
            if self.head is None:
                conn.execute(insert(threads), {
                    "id": thread, "head_key": key, "meta": "{}", "version": 1,
                    "system": json.dumps("You are a precise assistant."),
                    "created_at": now, "updated_at": now,
                })
            else:
                conn.execute(
                    update(threads).where(threads.c.id == thread).values(
                        head_key=key, version=threads.c.version + 1, updated_at=now
                    )
                )
        self.head = key

    def fill(self, thread: str, length: int) -> None:
        for seq in range(length):
            self.save_turn(thread, seq)

    def load_payload(self, thread: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            head = conn.execute(
                select(threads.c.head_key).where(threads.c.id == thread)
            ).scalar_one()
            rows = conn.execute(self.chain, {"head": head}).all()
        messages = []
        for role, content, meta in rows:
            json.loads(meta)
            messages.append({"role": role, "content": json.loads(content)})
        return _request(messages)

    def fork(self, thread: str, at: int, new: str) -> None:
        now = self._now()
        with self.engine.begin() as conn:
            head = conn.execute(
                select(threads.c.head_key).where(threads.c.id == thread)
            ).scalar_one()
            key = conn.execute(self.at_depth, {"head": head, "depth": at - 1}).scalar_one()
            conn.execute(insert(threads), {
                "id": new, "head_key": key, "meta": "{}", "version": 1, "system": None,
                "forked_from_thread": thread, "forked_at_turn": at,
                "created_at": now, "updated_at": now,
            })

    def close(self) -> None:
        self.engine.dispose()


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _paired(*fns: Callable[[], Any], repeat: int, number: int) -> list[Stat]:
    """Alternate the samples of each contender so that machine noise hits
    all of them alike; one ``Stat`` per function."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            samples[i] += measure(fn, repeat=1, number=number).samples
    return [Stat(s) for s in samples]


_RAW_SAVE = "sqlite3 json.dumps+INSERT+COMMIT (WAL, NORMAL)"
_CORE_SAVE = "SQLAlchemy Core, same schema: INSERT turn + UPDATE head"


def _bench_saves(
    folder: Path, lengths: tuple[int, ...], *, repeat: int, number: int
) -> list[dict[str, Any]]:
    """append+save at each thread length, every contender and length
    sampled in alternation, so that the ratios (and the flatness in the
    length) are taken pair by pair."""
    stores, raws, cores, state = {}, {}, {}, {}
    try:
        for length in lengths:
            stores[length] = Store(folder / f"save-{length}.db")
            raws[length] = _Raw(folder / f"raw-save-{length}.db")
            cores[length] = _Core(folder / f"core-save-{length}.db")
            state[length] = {"c": _grow(length), "n": length, "seq": length, "core": length}
            stores[length].save("t", state[length]["c"])
            raws[length].fill("t", length)
            cores[length].fill("t", length)

        def steps(length: int) -> list[Callable[[], None]]:
            store, raw, core, st = stores[length], raws[length], cores[length], state[length]

            def convo_step() -> None:
                st["c"] = _append(st["c"], st["n"])
                st["n"] += 1
                store.save("t", st["c"])

            def raw_step() -> None:
                raw.insert("t", st["seq"])
                st["seq"] += 1

            def core_step() -> None:
                core.save_turn("t", st["core"])
                st["core"] += 1

            return [convo_step, raw_step, core_step]

        fns = [fn for length in lengths for fn in steps(length)]
        stats = _paired(*fns, repeat=repeat, number=number)
        rows: list[dict[str, Any]] = []
        by_length = {}
        for k, length in enumerate(lengths):
            convo_stat, raw_stat, core_stat = stats[3 * k : 3 * k + 3]
            by_length[length] = convo_stat
            assert stores[length].info("t").length == state[length]["n"]
            rows.append(row(f"save append@{length}", convo_stat, raw_stat, target=3.0,
                            baseline_name=_RAW_SAVE, thread_length=length))
            rows.append(row(f"save append@{length} vs SQLAlchemy Core", convo_stat, core_stat,
                            baseline_name=_CORE_SAVE, thread_length=length))
        longest, shortest = by_length[lengths[-1]], by_length[lengths[0]]
        rows.append(row(f"save append@{lengths[-1]} vs save append@{lengths[0]} (flat)",
                        longest, shortest, target=1.5,
                        baseline_name=f"save append@{lengths[0]}"))
        return rows
    finally:
        for store in stores.values():
            store.close()
        for raw in raws.values():
            raw.close()
        for core in cores.values():
            core.close()


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
        return row(f"save only @{length} (appended before)", convo_stat, raw_stat,
                   baseline_name=_RAW_SAVE)
    finally:
        store.close()
        raw.close()


def _bench_load(folder: Path, *, repeat: int, number: int) -> list[dict[str, Any]]:
    store = Store(folder / "load.db")
    raw = _Raw(folder / "raw-load.db")
    core = _Core(folder / "core-load.db")
    try:
        c = _grow(1000)
        store.save("t", c)
        raw.fill("t", 1000)
        core.fill("t", 1000)
        assert store.load("t") == c

        def convo_payload() -> dict[str, Any]:
            return store.load("t").to_payload(_MODEL, 1024)

        # The three produce the same request body.
        expected = json.loads(json.dumps(raw.load_payload("t")))
        assert json.loads(json.dumps(convo_payload())) == expected
        assert core.load_payload("t") == expected
        assert len(expected["messages"]) == 1000

        payload, raw_payload, core_payload = _paired(
            convo_payload, lambda: raw.load_payload("t"), lambda: core.load_payload("t"),
            repeat=repeat, number=number,
        )
        lazy, raw_load = _paired(
            lambda: store.load("t"), lambda: raw.load("t"), repeat=repeat, number=number
        )
        return [
            row("load 1000 to payload", payload, raw_payload, target=1.0,
                baseline_name="sqlite3 SELECT + json.loads + request body"),
            row("load 1000 to payload vs SQLAlchemy Core", payload, core_payload,
                baseline_name="SQLAlchemy Core recursive CTE + json.loads + body"),
            row("load 1000 (lazy turns, no payload)", lazy, raw_load,
                baseline_name="sqlite3 SELECT + json.loads"),
        ]
    finally:
        store.close()
        raw.close()
        core.close()


def _stored_bytes(path: Path) -> int:
    """Bytes of stored records (rows and index entries) in a SQLite file."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(db.execute("SELECT sum(payload) FROM dbstat").fetchone()[0])
    finally:
        db.close()


def _bench_fork(folder: Path, *, repeat: int, number: int) -> list[dict[str, Any]]:
    store = Store(folder / "fork.db")
    raw = _Raw(folder / "raw-fork.db")
    core = _Core(folder / "core-fork.db")
    try:
        store.save("t", _grow(1000))
        raw.fill("t", 1000)
        core.fill("t", 1000)
        counter = {"convo": 0, "raw": 0, "core": 0}

        def convo_fork() -> None:
            counter["convo"] += 1
            store.fork("t", at=500, new_id=f"f{counter['convo']}")

        def raw_fork() -> None:
            counter["raw"] += 1
            raw.fork("t", 500, f"f{counter['raw']}")

        def core_fork() -> None:
            counter["core"] += 1
            core.fork("t", 500, f"f{counter['core']}")

        convo_before = _stored_bytes(folder / "fork.db")
        raw_before = _stored_bytes(folder / "raw-fork.db")
        convo_stat, raw_stat, core_stat = _paired(
            convo_fork, raw_fork, core_fork, repeat=repeat, number=number
        )
        convo_bytes = (_stored_bytes(folder / "fork.db") - convo_before) / counter["convo"]
        raw_bytes = (_stored_bytes(folder / "raw-fork.db") - raw_before) / counter["raw"]
        assert store.info(f"f{counter['convo']}").length == 500
        timed = row("fork 1000 at 500", convo_stat, raw_stat,
                    baseline_name="sqlite3 copy 500 rows + COMMIT")
        timed.update(target=None, target_text="<= 1 ms", met=convo_stat.median <= 1e-3)
        added = row("fork 1000 at 500: bytes added", Stat([convo_bytes]), Stat([raw_bytes]),
                    baseline_name="sqlite3 copy 500 rows", unit="B")
        added.update(target=None, target_text="<= 200 B", met=convo_bytes <= 200)
        return [
            timed,
            row("fork 1000 at 500 vs SQLAlchemy Core", convo_stat, core_stat,
                baseline_name="SQLAlchemy Core: find ancestor + INSERT thread"),
            added,
        ]
    finally:
        store.close()
        raw.close()
        core.close()


# -- concurrent saves --------------------------------------------------------


def _worker(kind: str, path: str, index: int, saves: int, start: Any, out: Any) -> None:
    """One writing process; puts ``(first, last, conflicts)`` on ``out``."""
    conflicts = 0
    if kind.startswith("convo"):
        store = Store(path)
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
        with Store(path) as store:
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
    repeat = 9 if quick else 15
    appends = 40 if quick else 100
    with tempfile.TemporaryDirectory(prefix="convo-bench-store-") as tmp:
        folder = Path(tmp)
        rows = _bench_saves(folder, (10, 1_000, 10_000), repeat=repeat, number=appends)
        rows.append(_bench_save_only(folder, 1_000, repeat=repeat, number=appends))
        rows += _bench_load(folder, repeat=15 if quick else 31, number=3 if quick else 5)
        rows += _bench_fork(folder, repeat=repeat, number=10 if quick else 40)
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

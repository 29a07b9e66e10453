"""Writers killed with SIGKILL at random points: SQLite stays whole.

Each writer is forked from this process (which has imported convo), opens
the database, and saves pairs of turns (and the odd fork) until it is killed
0-40 ms later: during start-up, a migration, a save or a commit.  After
every batch of kills the database must pass ``PRAGMA integrity_check``,
every thread must load and verify, and no half-saved thread or stray turn
may be visible.  ``CONVO_TEST_STORE_SCALE`` scales the number of kills.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

from convo import Conversation
from convo.errors import ThreadExistsError, ThreadNotFoundError
from convo.store import Store

SCALE = float(os.environ.get("CONVO_TEST_STORE_SCALE", "1"))
KILLS = max(20, int(120 * SCALE))
THREADS = 4


def _writer(path: str, seed: int) -> None:
    rnd = random.Random(seed)
    store = Store(path)
    thread = f"crash{seed % THREADS}"
    try:
        c = store.load(thread)
    except ThreadNotFoundError:
        c = Conversation("crash test")
    while True:
        n = len(c)
        c = c.user(f"{thread} turn {n} " + "x" * rnd.randint(0, 3000))
        c = c.assistant(f"{thread} turn {n + 1} " + "y" * rnd.randint(0, 3000))
        store.save(thread, c)
        if rnd.random() < 0.1:
            with contextlib.suppress(ThreadExistsError):
                store.fork(thread, at=rnd.randint(0, len(c) // 2) * 2, new_id=f"{thread}-f{n}")


def _check(path: Path) -> int:
    """Assert the database is whole; return the number of turns it holds."""
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()
    with Store(path) as store:
        for info in store.threads():
            c = store.load(info.id)
            assert store.verify(info.id) == len(c) == info.length
            assert len(c) % 2 == 0  # saves add pairs: never half a save
            origin = info.id.split("-f")[0]
            for i, turn in enumerate(c.turns):
                assert turn.text.startswith(f"{origin} turn {i} ")
        assert store.gc() == 0  # nothing stored outside a committed save
        with store.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM turns").scalar() or 0)


def test_sigkilled_writers_never_corrupt_or_half_save(tmp_path):
    """120 writers killed at random points; the database stays whole."""
    path = tmp_path / "crash.db"
    Store("sqlite://").close()  # warm this process (compiled SQL, Alembic) for the forks
    context = multiprocessing.get_context("fork")
    rnd = random.Random(20260311)
    killed_alive = 0
    for k in range(KILLS):
        writer = context.Process(target=_writer, args=(str(path), k))
        writer.start()
        time.sleep(rnd.uniform(0.0, 0.04))
        if writer.is_alive():
            killed_alive += 1
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(10)
        assert writer.exitcode == -signal.SIGKILL
        if k % 20 == 19:
            _check(path)
    assert killed_alive == KILLS  # each one died by the signal, mid-work
    if _check(path) == 0:
        # On a loaded machine 40 ms may not reach a first save: one more
        # writer is killed only once it has committed, so the last check
        # always runs on saved turns.
        writer = context.Process(target=_writer, args=(str(path), KILLS))
        writer.start()
        deadline = time.monotonic() + 30
        while _turns(path) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(writer.pid, signal.SIGKILL)  # type: ignore[arg-type]
        writer.join(10)
    assert _check(path) > 0  # and between them they saved something


def _turns(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM turns").fetchone()[0])
    except sqlite3.OperationalError:  # no table yet, or mid-migration
        return 0
    finally:
        db.close()

"""Real processes writing at once: nothing lost, nothing duplicated.

Counts follow the issue (8 writers x 500 saves; 4 racers on one thread) and
take about 10 s here.  ``CONVO_TEST_STORE_SCALE`` (read at import, e.g. 0.2
or 4) scales them.  Processes are forked from this one, which has already
imported convo, so starting one costs milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import traceback
from collections import Counter
from typing import Any

import pytest

from convo import Conversation
from convo.errors import ConflictError
from convo.store import Store

from .conftest import FILE_BACKENDS, chat

SCALE = float(os.environ.get("CONVO_TEST_STORE_SCALE", "1"))
WRITERS = 8
SAVES = max(10, int(500 * SCALE))
RACERS = 4
RACE_ATTEMPTS = max(10, int(150 * SCALE))

_FORK = multiprocessing.get_context("fork")


def _collect(target: Any, args: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(*a, queue)`` in one forked process per ``a``; return
    what each put on the queue, in order of ``a``."""
    queue = _FORK.Queue()
    workers = [_FORK.Process(target=target, args=(*a, queue)) for a in args]
    for worker in workers:
        worker.start()
    results = dict(queue.get(timeout=240) for _ in workers)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    failed = {k: v for k, v in results.items() if isinstance(v, str)}
    assert not failed, failed
    return [results[i] for i in range(len(args))]


def _writer(url: str, index: int, saves: int, queue: Any) -> None:
    try:
        with Store(url) as store:
            c = Conversation(f"writer {index}")
            heads = []
            for i in range(saves):
                c = c.user(f"w{index} q{i}") if i % 2 == 0 else c.assistant(f"w{index} a{i}")
                info = store.save(f"w{index}", c)
                assert info.head_id == c.head_id and info.length == i + 1
                heads.append(c.head_id)
        queue.put((index, heads))
    except BaseException:
        queue.put((index, traceback.format_exc()))


def test_writers_in_one_sqlite_file_lose_nothing(tmp_path):
    """8 processes x 500 saves to their own threads in one SQLite file: every
    save is there exactly once, and every thread verifies."""
    path = tmp_path / "many.db"
    url = f"sqlite:///{path}"
    Store(url).close()  # migrate once, then race on data only
    heads = _collect(_writer, [(url, i, SAVES) for i in range(WRITERS)])
    with Store(url) as store:
        for index, saved in enumerate(heads):
            loaded = store.load(f"w{index}")
            assert [t.id for t in loaded.turns] == saved  # 0 lost, in order
            assert store.verify(f"w{index}") == SAVES
        with store.engine.connect() as conn:
            total = conn.exec_driver_sql("SELECT count(*) FROM turns").scalar()
        assert total == WRITERS * SAVES  # 0 duplicated, 0 stray
        assert store.gc() == 0
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()


def _racer(url: str, index: int, attempts: int, queue: Any) -> None:
    try:
        outcomes: list[tuple[str, str | None, str | None]] = []
        with Store(url) as store:
            for i in range(attempts):
                c = store.load("race")
                text = f"racer {index} attempt {i}"
                nxt = c.user(text) if c.turns[-1].role == "assistant" else c.assistant(text)
                try:
                    store.save("race", nxt)
                    outcomes.append(("won", nxt.head_id, c.head_id))
                except ConflictError as exc:
                    assert exc.attempted_head == nxt.head_id
                    assert exc.stored_head != c.head_id
                    outcomes.append(("lost", nxt.head_id, exc.stored_head))
        queue.put((index, outcomes))
    except BaseException:
        queue.put((index, traceback.format_exc()))


@pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)
def test_racers_on_one_thread_lose_nothing(db_url):
    """4 processes load, append and save the same thread: every save either
    moved the head by exactly its turn or raised ConflictError, and every
    attempted turn is stored once."""
    with Store(db_url) as store:
        store.save("race", chat(1))
    outcomes = [
        o
        for per in _collect(_racer, [(db_url, i, RACE_ATTEMPTS) for i in range(RACERS)])
        for o in per
    ]
    kinds = Counter(kind for kind, _, _ in outcomes)
    assert kinds["won"] + kinds["lost"] == RACERS * RACE_ATTEMPTS
    assert kinds["lost"] > 0  # they did race
    won = {head for kind, head, _ in outcomes if kind == "won"}
    with Store(db_url) as store:
        chain = [t.id for t in store.load("race").turns]
        assert len(chain) == len(set(chain)) == 1 + kinds["won"]  # one turn per win
        assert won <= set(chain)  # no win was overwritten
        lost = {head for kind, head, _ in outcomes if kind == "lost"}
        assert not lost & set(chain)
        with store.engine.connect() as conn:
            total = conn.exec_driver_sql("SELECT count(*) FROM turns").scalar()
        assert total == 1 + RACERS * RACE_ATTEMPTS  # losers' turns stored, once each
        assert store.verify("race") == len(chain)
        assert store.gc() == kinds["lost"]


def _child_uses_inherited_store(store: Store, queue: Any) -> None:
    try:
        store.save("child", chat(3, tag="child"))
        pooled = store.engine.raw_connection()
        try:
            assert pooled.info["convo_pid"] == os.getpid()
        finally:
            pooled.close()
        queue.put((0, "done"))
    except BaseException:
        queue.put((0, traceback.format_exc() + "!"))


def test_a_forked_child_gets_its_own_connections(tmp_path):
    """A store used before os.fork() works in the child on fresh connections,
    and the parent's keep working."""
    with Store(tmp_path / "f.db") as store:
        store.save("parent", chat(2))
        queue = _FORK.Queue()
        child = _FORK.Process(target=_child_uses_inherited_store, args=(store, queue))
        child.start()
        _, result = queue.get(timeout=60)
        child.join(60)
        assert result == "done", result
        assert child.exitcode == 0
        store.save("parent", chat(4))
        assert store.load("child") == chat(3, tag="child")
        assert store.load("parent") == chat(4)
        pooled = store.engine.raw_connection()
        try:
            assert pooled.info["convo_pid"] == os.getpid()
        finally:
            pooled.close()

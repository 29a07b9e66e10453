"""SQLite done right: pragmas, BEGIN IMMEDIATE, busy waits, the version log."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest

from convo.errors import StoreError
from convo.store import Store
from convo.store._sqlite import sqlite_version_note

from .conftest import chat


def _pragma(store: Store, name: str) -> object:
    pooled = store.engine.raw_connection()
    try:
        return pooled.dbapi_connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        pooled.close()


def test_every_connection_gets_the_pragmas(tmp_path):
    """WAL, foreign keys on, a busy timeout, synchronous=FULL unless asked."""
    with Store(tmp_path / "p.db") as store:
        assert _pragma(store, "journal_mode") == "wal"
        assert _pragma(store, "foreign_keys") == 1
        assert _pragma(store, "busy_timeout") == 30_000
        assert _pragma(store, "synchronous") == 2  # FULL: durable by default
    with Store(tmp_path / "q.db", busy_timeout=1.5, synchronous="normal") as store:
        assert _pragma(store, "busy_timeout") == 1_500
        assert _pragma(store, "synchronous") == 1
    with pytest.raises(ValueError, match="synchronous"):
        Store(tmp_path / "r.db", synchronous="sometimes")


def test_foreign_keys_are_enforced(tmp_path):
    """Foreign keys are on: a fork link to a missing thread is refused."""
    with (
        Store(tmp_path / "fk.db") as store,
        pytest.raises(Exception, match="FOREIGN KEY"),
        store.engine.begin() as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO threads (id, meta, version, forked_from_thread, created_at, "
            "updated_at) VALUES ('f', '{}', 1, 'missing', 0, 0)"
        )


class _Statements(list[str]):
    """The statements the store ran. SQLite's trace also reports what a
    trigger runs (the search index's, migration 0003): as ``-- ...`` lines,
    and by reporting the firing statement again; neither is a statement of
    the store's own, so both are left out."""

    def append(self, sql: str) -> None:
        if sql.startswith("-- ") or (self and self[-1] == sql):
            return
        super().append(sql)


def _traced(store: Store) -> list[str]:
    statements = _Statements()
    pooled = store.engine.raw_connection()
    pooled.dbapi_connection.set_trace_callback(statements.append)
    pooled.close()
    return statements


def test_writes_begin_immediate_and_reads_begin_deferred():
    """Saves take the write lock up front; loads only read."""
    with Store("sqlite://") as store:
        statements = _traced(store)
        store.save("t", chat(2))
        assert statements[0] == "BEGIN IMMEDIATE"
        assert statements[-1] == "COMMIT"
        statements.clear()
        store.load("t")
        assert statements[0] == "BEGIN"


def test_a_save_is_o_new_turns():
    """Appending one turn to a long thread runs a fixed handful of
    statements and writes one turn row; saving a known conversation under a
    new id probes once and writes no turn."""
    with Store("sqlite://") as store:
        c = chat(2000)
        store.save("t", c)
        statements = _traced(store)
        longer = c.user("one more")
        store.save("t", longer)
        inserts = [s for s in statements if s.startswith("INSERT INTO turns")]
        assert len(statements) <= 5 and len(inserts) == 1
        statements.clear()
        store.save("copy", longer)
        assert [s for s in statements if s.startswith("INSERT INTO turns")] == []
        probes = [s for s in statements if s.startswith('SELECT turns."key"')]
        assert len(probes) == 1
        statements.clear()
        store.save("t", longer)
        assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]


def test_a_writer_waits_for_the_lock_then_fails_clearly(tmp_path):
    """busy_timeout: a save waits for another writer, and past the timeout
    raises StoreError (caused by the driver's error), not a raw one."""
    path = tmp_path / "busy.db"
    with Store(path, busy_timeout=5) as store:
        store.save("t", chat(1))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, other.execute, args=("COMMIT",))
        release.start()
        started = time.monotonic()
        store.save("t", chat(2))  # waits, then succeeds
        assert time.monotonic() - started >= 0.2
        release.join()
        other.close()
    with Store(path, busy_timeout=0.1) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked") as caught:
                store.save("t", chat(3))
            assert isinstance(caught.value.__cause__, Exception)
            assert "OperationalError" in type(caught.value.__cause__).__name__
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.load("t") == chat(2)


def test_reads_do_not_wait_for_a_writer(tmp_path):
    """WAL: a load goes through while another connection holds the write lock."""
    path = tmp_path / "wal.db"
    with Store(path, busy_timeout=0.1) as store:
        store.save("t", chat(2))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            assert store.load("t") == chat(2)
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_threads_share_a_store(tmp_path):
    """A store serves several threads at once (file and memory)."""
    for url in (f"sqlite:///{tmp_path / 'th.db'}", "sqlite://"):
        with Store(url) as store:
            errors: list[BaseException] = []

            def work(
                index: int, store: Store = store, errors: list[BaseException] = errors
            ) -> None:
                try:
                    for n in range(1, 30):
                        store.save(f"t{index}", chat(n, tag=str(index)))
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)

            workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            for i in range(6):
                assert store.load(f"t{i}") == chat(29, tag=str(i))


def test_the_sqlite_version_is_logged(tmp_path, caplog):
    """The library version is logged once per engine, with the WAL note."""
    with caplog.at_level(logging.INFO, logger="convo.store"), Store(tmp_path / "v.db") as store:
        store.save("t", chat(1))
        store.load("t")
    records = [r for r in caplog.records if r.name == "convo.store"]
    assert len(records) == 1
    assert sqlite3.sqlite_version in records[0].getMessage()


def test_version_note_mentions_the_wal_reset_fix():
    """Before 3.51.3 the log says why it matters; from it on, it does not."""
    assert "3.51.3" in sqlite_version_note((3, 40, 1))
    assert "WAL" in sqlite_version_note((3, 51, 2))
    assert sqlite_version_note((3, 51, 3)) == "SQLite 3.51.3"

"""Store(url, read_only=True): opens any valid database and never writes.

The tests run as root in CI, where chmod does not stop a write. So every
test asserts what "never writes" means directly: no file appears in the
directory, and the database's bytes and mtime are unchanged. Where the
process is not root, the chmod'ed directory and file also prove that a
write would have failed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from convo import Conversation
from convo.errors import SchemaVersionError, StoreError
from convo.store import AsyncStore, Store, head_revision, upgrade
from convo.store.migrate import VERSION_TABLE

ROOT = os.geteuid() == 0


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file in ``directory`` with its SHA-256 and mtime."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
    }


def make_db(directory: Path, *, journal: str) -> Path:
    directory.mkdir()
    path = directory / "convo.db"
    with Store(path) as store:
        store.save("t1", Conversation("Be brief.").user("hi").assistant("hello"), title="one")
        store.fork("t1", at=1, new_id="t1-fork")
    if journal != "wal":
        with sqlite3.connect(path) as raw:
            raw.execute(f"PRAGMA journal_mode={journal}")
    return path


@pytest.fixture
def locked_down() -> Iterator[list[Path]]:
    """chmod paths read-only for the test, and give them back afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def lock(paths: list[Path], *targets: Path) -> None:
    for target in targets:
        target.chmod(target.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        paths.append(target)


def read_everything(store: Store) -> None:
    assert {info.id for info in store.threads()} == {"t1", "t1-fork"}
    assert store.load("t1") == Conversation("Be brief.").user("hi").assistant("hello")
    assert store.info("t1").title == "one"
    assert store.verify("t1") == 2
    assert store.history("t1-fork").ids == ("t1", "t1-fork")


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_read_only_store_reads_a_locked_down_file_and_writes_nothing(
    tmp_path, journal, locked_down
):
    """A rollback-journal or WAL file in a read-only directory opens, reads
    completely, and afterwards the directory holds the same bytes, mtimes
    and files (no -wal, -shm or -journal created)."""
    path = make_db(tmp_path / "ro", journal=journal)
    lock(locked_down, path, path.parent)
    if not ROOT:
        with pytest.raises(sqlite3.OperationalError):
            sqlite3.connect(path).execute("CREATE TABLE x (a)")
    before = snapshot(path.parent)
    with Store(path, read_only=True) as store:
        assert store.read_only
        database = store.engine.url.database or ""
        assert database.startswith("file:") and ("mode=ro" in database or "immutable=1" in database)
        read_everything(store)
    assert snapshot(path.parent) == before


def test_read_only_store_sees_a_live_writer(tmp_path):
    """With a writer holding the WAL open, mode=ro is used and its commits are seen."""
    path = make_db(tmp_path / "live", journal="wal")
    with Store(path) as writer:
        writer.save("t2", Conversation().user("new"))
        with Store(path, read_only=True) as reader:
            assert "mode=ro" in (reader.engine.url.database or "")
            assert "t2" in {info.id for info in reader.threads()}
            writer.save("t3", Conversation().user("newer"))
            assert "t3" in {info.id for info in reader.threads()}


def test_read_only_store_refuses_every_write(tmp_path):
    """save, fork, delete and gc raise StoreError saying the store is read-only."""
    path = make_db(tmp_path / "ro", journal="delete")
    before = snapshot(path.parent)
    with Store(path, read_only=True) as store:
        c = store.load("t1")
        for write in (
            lambda: store.save("t1", c.user("more")),
            lambda: store.fork("t1", at=1, new_id="x"),
            lambda: store.delete("t1"),
            store.gc,
        ):
            with pytest.raises(StoreError, match="read-only"):
                write()
    assert snapshot(path.parent) == before


def test_read_only_store_never_creates_a_database(tmp_path):
    """A missing file is an error naming it, and no file appears."""
    with pytest.raises(StoreError, match=r"no database at .*typo\.db"):
        Store(tmp_path / "typo.db", read_only=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", ["empty", "foreign", "not-sqlite"])
def test_read_only_store_refuses_a_database_without_the_schema(tmp_path, content):
    """An empty file, another program's SQLite file, or a non-SQLite file:
    a clear StoreError, and the file is left as it was."""
    path = tmp_path / "x.db"
    if content == "empty":
        path.write_bytes(b"")
    elif content == "foreign":
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE notes (body TEXT)")
    else:
        path.write_bytes(b"hello, this is not a database" * 10)
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match=r"no convo schema|not a SQLite database"):
        Store(path, read_only=True)
    assert snapshot(tmp_path) == before


def test_read_only_store_refuses_a_newer_schema_without_touching_it(tmp_path):
    """A revision this convo does not know: SchemaVersionError(newer=True)."""
    path = make_db(tmp_path / "db", journal="delete")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    before = snapshot(path.parent)
    with pytest.raises(SchemaVersionError) as caught:
        Store(path, read_only=True)
    assert caught.value.newer and caught.value.database_revision == "9999"
    assert snapshot(path.parent) == before


def test_read_only_store_refuses_an_older_schema_without_migrating(tmp_path):
    """An older revision is not upgraded: SchemaVersionError saying to run
    `convo db upgrade`, and the revision stays where it was."""
    if head_revision() == "0001":
        pytest.skip("needs a second migration revision (there is only 0001)")
    path = tmp_path / "old.db"
    upgrade(f"sqlite:///{path}", "0001")
    before = snapshot(tmp_path)
    with pytest.raises(SchemaVersionError, match="convo db upgrade") as caught:
        Store(path, read_only=True)
    assert not caught.value.newer and caught.value.database_revision == "0001"
    assert snapshot(tmp_path) == before


async def test_async_read_only_store_reads_and_writes_nothing(tmp_path, locked_down):
    """AsyncStore(read_only=True) reads a locked-down file and refuses writes."""
    path = make_db(tmp_path / "ro", journal="delete")
    lock(locked_down, path, path.parent)
    before = snapshot(path.parent)
    async with AsyncStore(path, read_only=True) as store:
        assert store.read_only
        assert await store.load("t1") == Conversation("Be brief.").user("hi").assistant("hello")
        assert await store.verify("t1") == 2
        with pytest.raises(StoreError, match="read-only"):
            await store.save("t1", Conversation("Be brief.").user("hi").assistant("x"))
    assert snapshot(path.parent) == before
    with pytest.raises(StoreError, match="no database at"):
        AsyncStore(tmp_path / "missing.db", read_only=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nosuchdialect://x", "SQLite or PostgreSQL, not 'nosuchdialect'"),
        ("mysql://user@host/db", "SQLite or PostgreSQL, not 'mysql'"),
        ("sqlite+nosuchdriver:///x.db", "unknown database driver"),
        ("{tmp}/no/such/dir/x.db", "the directory .*/no/such/dir does not exist"),
        ("sqlite:///{tmp}/no/such/dir/x.db", "the directory .*/no/such/dir does not exist"),
    ],
)
@pytest.mark.parametrize("cls", [Store, AsyncStore])
def test_unusable_urls_are_one_clear_store_error(tmp_path, url, message, cls):
    """What cannot be opened is a StoreError that says what to do, and
    nothing is created."""
    with pytest.raises(StoreError, match=message):
        cls(url.format(tmp=tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_read_only_store_on_postgresql_reads_and_the_server_refuses_writes(pg_admin):
    """On PostgreSQL the sessions are READ ONLY: reads work, writes are refused
    (by the store, and by the server for SQL that gets past it)."""
    from tests.store.conftest import PG_SKIP, pg_schema

    if pg_admin is None:
        pytest.skip(PG_SKIP)
    with pg_schema(pg_admin) as url:
        with Store(url) as writer:
            writer.save("t1", Conversation().user("hi"))
        with Store(url, read_only=True) as store:
            assert store.load("t1") == Conversation().user("hi")
            with pytest.raises(StoreError, match="read-only"):
                store.save("t1", Conversation().user("hi").assistant("x"))
            with (
                store.engine.connect() as connection,
                pytest.raises(Exception, match="read-only transaction"),
            ):
                connection.exec_driver_sql("DELETE FROM threads")


@pytest.mark.postgres
def test_a_search_path_without_a_schema_is_one_clear_error():
    """PostgreSQL with a search_path naming no existing schema: the error
    says so and how to fix it (not 'no schema has been selected')."""
    from tests.store.conftest import PG_SKIP, pg_url, with_search_path

    url = pg_url()
    if url is None:
        pytest.skip(PG_SKIP)
    with pytest.raises(StoreError, match=r"search_path.*CREATE SCHEMA"):
        Store(with_search_path(url, "convo_no_such_schema_here"))

"""Forks share storage: 20 forks of a 1000-turn thread add under 4 kB."""

from __future__ import annotations

import sqlite3

import pytest

from convo.store import Store

from .conftest import chat

FORKS = 20
BUDGET = 4096


def _payload(path: str) -> tuple[int, dict[str, int]]:
    """Bytes of stored records (rows and index entries) per table/index, and
    the file's page count, from SQLite's dbstat table."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = dict(db.execute("SELECT name, sum(payload) FROM dbstat GROUP BY name").fetchall())
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    finally:
        db.close()
    return pages, sizes


def test_twenty_forks_add_under_4kb_in_sqlite(tmp_path):
    """No turn is copied: only 20 small thread rows (and their index
    entries) are added, system prompt included."""
    path = str(tmp_path / "forks.db")
    with Store(path) as store:
        store.save("main", chat(1000, system="You are a careful assistant."))
        pages_before, before = _payload(path)
        for i in range(FORKS):
            store.fork("main", at=50 * i + 7, new_id=f"main-{i:02d}")
        pages_after, after = _payload(path)
        added = {name: after[name] - before.get(name, 0) for name in after}
        assert added["turns"] == 0 and added["sqlite_autoindex_turns_1"] == 0
        assert sum(added.values()) < BUDGET, added
        assert pages_after - pages_before <= 1
        for i in range(FORKS):
            assert store.info(f"main-{i:02d}").length == 50 * i + 7


@pytest.mark.postgres
def test_twenty_forks_add_under_4kb_in_postgres(pg_admin):
    """The same in PostgreSQL, measured as the size of the rows added."""
    from .conftest import PG_SKIP, pg_schema

    if pg_admin is None:
        pytest.skip(PG_SKIP)
    with pg_schema(pg_admin) as url, Store(url) as store:
        store.save("main", chat(1000, system="You are a careful assistant."))
        with store.engine.connect() as conn:
            turns_before = conn.exec_driver_sql("SELECT count(*) FROM turns").scalar()
        for i in range(FORKS):
            store.fork("main", at=50 * i + 7, new_id=f"main-{i:02d}")
        with store.engine.connect() as conn:
            turns_after = conn.exec_driver_sql("SELECT count(*) FROM turns").scalar()
            added = conn.exec_driver_sql(
                "SELECT sum(pg_column_size(t.*)) FROM threads t WHERE forked_from_thread = 'main'"
            ).scalar()
        assert turns_after == turns_before == 1000
        assert added is not None and added < BUDGET

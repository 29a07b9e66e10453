"""The save's fast path: a store remembers the head it last saw of each
thread and extends it without a locking read (on PostgreSQL, a one-turn
save is one statement).  A hint that another writer made stale must still
end in the compare-and-set's verdict: a ConflictError, the attempted turns
stored, the thread unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from convo.errors import ConflictError
from convo.store import Store
from convo.store._sql import Tx

from .conftest import FILE_BACKENDS, chat

pytestmark = pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)


def _turns(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM turns").scalar_one())


def test_a_head_moved_by_another_store_is_a_conflict(db_url: str) -> None:
    """A saved (and so remembers) the head; B moves it; A's one-turn append
    of its stale head conflicts, keeps its turn, and leaves B's head."""
    base = chat(4)
    with Store(db_url) as a, Store(db_url) as b:
        a.save("t", base)
        theirs = b.load("t").user("from b")
        b.save("t", theirs)
        mine = base.user("from a")
        with pytest.raises(ConflictError) as caught:
            a.save("t", mine)
        assert caught.value.stored_head == theirs.head_id
        assert caught.value.attempted_head == mine.head_id
        assert b.load("t") == theirs
        assert _turns(a) == 6  # the loser's turn is stored, once
        assert a.save("mine", mine).length == 5  # ... and found again, not copied
        assert _turns(a) == 6
        assert a.verify("t") == 5 and a.verify("mine") == 5
        # The conflict corrected the hint: A's next save of B's line is fine.
        assert a.save("t", theirs.assistant("ok")).length == 6


def test_a_head_row_collected_behind_the_hint(db_url: str) -> None:
    """B deletes the thread, collects its rows and saves another chat under
    the same id: A's remembered head row is gone (SQLite may even reuse its
    rid), so A's append must not be written under it."""
    mine = chat(4, tag="a")
    with Store(db_url) as a, Store(db_url) as b:
        a.save("t", mine)
        b.delete("t")
        assert b.gc() == 4
        other = chat(6, tag="b")
        b.save("t", other)
        nxt = mine.user("more")
        with pytest.raises(ConflictError) as caught:
            a.save("t", nxt)
        assert caught.value.stored_head == other.head_id
        assert b.load("t") == other
        assert b.verify("t") == 6
        assert a.save("again", nxt).length == 5
        assert a.verify("again") == 5


def test_a_system_prompt_replaced_behind_the_hint(db_url: str) -> None:
    """The fast path's compare-and-set also checks the system prompt."""
    base = chat(2, system="old")
    with Store(db_url) as a, Store(db_url) as b:
        a.save("t", base)
        replaced = chat(2, system="new")
        b.save("t", replaced, replace_system=True)
        with pytest.raises(ConflictError):
            a.save("t", base.user("q"))
        assert b.load("t") == replaced
        assert b.load("t").system_json == "new"


def test_title_and_meta_through_the_fast_path(db_url: str) -> None:
    """Title and meta given on a fast-forward are written; omitted, kept."""
    c = chat(2)
    with Store(db_url) as store:
        store.save("t", c, title="T", meta={"k": 1})
        c = c.user("q")
        info = store.save("t", c)
        assert (info.title, info.meta, info.version, info.length) == ("T", {"k": 1}, 2, 3)
        c = c.assistant("a")
        info = store.save("t", c, title="U", meta={"k": 2})
        assert (info.title, info.meta, info.version, info.length) == ("U", {"k": 2}, 3, 4)
        assert store.info("t") == info
        assert store.load("t") == c


def test_statements_per_fast_forward(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: a one-turn fast-forward is one statement (autocommitted:
    no BEGIN, no COMMIT); several new turns take one per turn and one for
    the head.  SQLite: BEGIN IMMEDIATE, one INSERT per turn, the UPDATE."""
    executed: list[str] = []
    real_execute, real_raw = Tx.execute, Tx.raw

    def execute(self: Tx, statement: Any, params: Any) -> Any:
        executed.append(statement.sql.split()[0])
        return real_execute(self, statement, params)

    def raw(self: Tx, sql: str) -> None:
        executed.append(sql)
        real_raw(self, sql)

    c = chat(4)
    with Store(db_url) as store:
        store.save("t", c)
        monkeypatch.setattr(Tx, "execute", execute)
        monkeypatch.setattr(Tx, "raw", raw)
        c = c.user("one")
        store.save("t", c)
        one = list(executed)
        executed.clear()
        c = c.assistant("two").user("three")
        store.save("t", c)
        two = list(executed)
        monkeypatch.undo()
        assert store.load("t") == c
        assert store.verify("t") == 7
    if store.engine.dialect.name == "postgresql":
        assert one == ["WITH"]
        assert two == ["INSERT", "INSERT", "UPDATE"]
    else:
        assert one == ["BEGIN IMMEDIATE", "INSERT", "UPDATE"]
        assert two == ["BEGIN IMMEDIATE", "INSERT", "INSERT", "UPDATE"]


def _terminate(store_engine: Any, pid: int) -> None:
    with store_engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        conn.commit()


def test_a_dropped_connection_is_replaced_for_the_one_statement_save(db_url: str) -> None:
    """PostgreSQL: the server ends the connection a store keeps; the next
    one-turn save (the autocommitted statement) fails on it, is retried once
    on a fresh connection, and saves exactly once."""
    if not db_url.startswith("postgresql"):
        pytest.skip("terminates a PostgreSQL backend")
    c = chat(4)
    with Store(db_url) as store, Store(db_url) as admin:
        store.save("t", c)
        (kept,) = store._idle
        _terminate(admin.engine, kept.dbapi_connection.info.backend_pid)
        c = c.user("after the drop")
        info = store.save("t", c)
        assert (info.length, info.version) == (5, 2)
        assert store._idle != [kept] and not kept.is_valid  # it was dropped, replaced
        assert store.load("t") == c
        assert store.verify("t") == 5
        assert _turns(store) == 5


async def test_a_dropped_connection_is_replaced_in_an_async_store(db_url: str) -> None:
    """The same for a connection an ``AsyncStore`` keeps between calls."""
    if not db_url.startswith("postgresql"):
        pytest.skip("terminates a PostgreSQL backend")
    from convo.store import AsyncStore

    c = chat(4)
    with Store(db_url) as admin:
        async with AsyncStore(db_url) as store:
            await store.save("t", c)
            (kept,) = store._idle
            raw = await kept.get_raw_connection()
            _terminate(admin.engine, raw.driver_connection.info.backend_pid)
            c = c.user("after the drop")
            info = await store.save("t", c)
            assert (info.length, info.version) == (5, 2)
            assert store._idle != [kept]  # it was dropped, replaced
            assert await store.load("t") == c
            assert await store.verify("t") == 5

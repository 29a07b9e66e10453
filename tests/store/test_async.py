"""AsyncStore: the same behaviour as Store, awaited (aiosqlite, psycopg async)."""

from __future__ import annotations

import asyncio

import pytest

from convo import Conversation
from convo.errors import (
    ConflictError,
    HashMismatchError,
    SchemaVersionError,
    ThreadExistsError,
    ThreadNotFoundError,
)
from convo.store import AsyncStore, Store, ThreadTree

from .conftest import chat, tool_chat


async def test_async_store_does_what_store_does(async_store: AsyncStore):
    """save/load/fork/history/threads/delete/gc/verify, awaited."""
    c = tool_chat()
    info = await async_store.save("t", c, title="T", meta={"k": 1})
    assert (info.length, info.version, info.title) == (4, 1, "T")
    loaded = await async_store.load("t")
    assert loaded == c
    assert [t.meta for t in loaded.turns] == [t.meta for t in c.turns]
    assert await async_store.save("t", c) == info  # a no-op
    longer = c.user("thanks")
    assert (await async_store.save("t", longer)).version == 2
    with pytest.raises(ConflictError) as caught:
        await async_store.save("t", c.user("other"))
    assert caught.value.stored_head == longer.head_id
    fork = await async_store.fork("t", at=2, new_id="f")
    assert fork.forked_from == "t" and await async_store.load("f") == c[:2]
    with pytest.raises(ThreadExistsError):
        await async_store.fork("t", at=1, new_id="f")
    tree = await async_store.history("f")
    assert isinstance(tree, ThreadTree) and tree.ids == ("t", "f")
    assert [t.id for t in await async_store.threads()] == ["f", "t"]
    assert (await async_store.info("t")).length == 5
    assert await async_store.verify("t") == 5
    await async_store.delete("t")
    with pytest.raises(ThreadNotFoundError):
        await async_store.load("t")
    assert await async_store.gc() == 4  # t's last three turns and the loser
    assert await async_store.load("f") == c[:2]


async def test_async_conflicts_between_tasks(async_store: AsyncStore):
    """Concurrent tasks saving different continuations: one wins, the others
    get ConflictError, nothing is lost."""
    base = chat(2)
    await async_store.save("t", base)
    attempts = [base.user(f"task {i}") for i in range(6)]
    results = await asyncio.gather(
        *(async_store.save("t", c) for c in attempts), return_exceptions=True
    )
    won = [c for c, r in zip(attempts, results, strict=True) if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1
    assert all(isinstance(r, ConflictError) for r in lost)
    assert await async_store.load("t") == won[0]
    for i, c in enumerate(attempts):
        await async_store.save(f"copy{i}", c)  # every attempted turn was stored
        assert await async_store.load(f"copy{i}") == c


async def test_async_verify_detects_tampering(async_store: AsyncStore):
    """verify() names the altered turn."""
    c = chat(4)
    await async_store.save("t", c)
    async with async_store.engine.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE turns SET content = '\"x\"' WHERE id = '" + c.turns[2].id + "'"
        )
    with pytest.raises(HashMismatchError) as caught:
        await async_store.verify("t")
    assert caught.value.turn_id == c.turns[2].id


async def test_async_store_opens_lazily_and_shares_the_schema(tmp_path):
    """The schema is made on first use; a sync Store reads what it wrote."""
    path = tmp_path / "a.db"
    store = AsyncStore(path)
    try:
        assert "aiosqlite" in store.url and "AsyncStore" in repr(store)
        await store.save("t", chat(3))
    finally:
        await store.aclose()
    with Store(path) as sync:
        assert sync.load("t") == chat(3)


async def test_async_store_refuses_a_newer_schema(tmp_path):
    """SchemaVersionError surfaces from the first call."""
    path = tmp_path / "n.db"
    with Store(path) as sync, sync.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE convo_alembic_version SET version_num = '9999'")
    store = AsyncStore(path)
    try:
        with pytest.raises(SchemaVersionError) as caught:
            await store.load("t")
        assert caught.value.newer is True
    finally:
        await store.aclose()


async def test_async_empty_conversation(async_store: AsyncStore):
    """An empty thread round-trips."""
    await async_store.save("e", Conversation("only a system prompt"))
    assert await async_store.load("e") == Conversation("only a system prompt")


async def test_async_store_keeps_its_connections(async_store: AsyncStore):
    """Calls one after another reuse one connection (no pool checkout per
    call); tasks running at once each get their own and all succeed; an
    error returns its connection to the pool and the store goes on."""
    from sqlalchemy import event

    checkouts: list[int] = []
    event.listen(async_store.engine.sync_engine.pool, "checkout", lambda *a: checkouts.append(1))
    c = chat(2)
    await async_store.save("t", c)
    checkouts.clear()
    for i in range(5):
        c = c.user(f"q{i}").assistant(f"a{i}")
        await async_store.save("t", c)
        assert await async_store.load("t") == c
    assert checkouts == []
    with pytest.raises(ThreadNotFoundError):
        await async_store.load("missing")
    assert (await async_store.info("t")).length == 12

    started = chat(2, tag="base")
    await async_store.save("base", started)
    conversations = [started.user(f"task {i}").assistant(f"done {i}") for i in range(8)]
    saved = await asyncio.gather(
        *(async_store.save(f"task{i}", x) for i, x in enumerate(conversations)),
        *(async_store.load("t") for _ in range(4)),
    )
    assert [info.length for info in saved[:8]] == [4] * 8
    assert all(loaded == c for loaded in saved[8:])
    for i, x in enumerate(conversations):
        assert await async_store.load(f"task{i}") == x
        assert await async_store.verify(f"task{i}") == 4
    assert len(async_store._idle) <= async_store._idle_max
    checkouts.clear()
    await async_store.save("t", c.user("after"))
    assert checkouts == []


async def test_async_tasks_racing_on_one_thread_through_kept_connections(
    async_store: AsyncStore,
):
    """Many rounds of tasks extending the same head at once (the fast path,
    on connections kept between calls): each round one wins, the others
    conflict, and the thread is the winner's chain."""
    c = chat(2)
    await async_store.save("t", c)
    for round_ in range(4):
        attempts = [c.user(f"r{round_} t{i}") for i in range(5)]
        results = await asyncio.gather(
            *(async_store.save("t", x) for x in attempts), return_exceptions=True
        )
        won = [x for x, r in zip(attempts, results, strict=True) if not isinstance(r, BaseException)]
        assert len(won) == 1
        assert all(isinstance(r, ConflictError) for r in results if isinstance(r, BaseException))
        c = won[0].assistant(f"ok {round_}")
        await async_store.save("t", c)
    assert await async_store.load("t") == c
    assert await async_store.verify("t") == len(c)

"""threads(): cursor pagination, filters and orders, on an index; migrations 0003, 0004."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from convo import Conversation
from convo.errors import StoreError
from convo.store import Store, ThreadPage, current_revision, upgrade

from .conftest import chat


def fill(store: Store, n: int = 23) -> None:
    for i in range(n):
        store.save(
            f"t{i:02d}",
            chat(2, tag=f"{i}-"),
            title="even" if i % 2 == 0 else "odd",
            meta={"user": f"u{i % 3}", "n": i, "pinned": i % 5 == 0},
        )
    store.fork("t00", at=1, new_id="fork-a")
    store.fork("t00", at=2, new_id="fork-b")


def pages(store: Store, **filters) -> list[list[str]]:
    out, cursor = [], None
    while True:
        page = store.threads(limit=5, after=cursor, **filters)
        assert isinstance(page, ThreadPage)
        out.append([info.id for info in page])
        cursor = page.next_cursor
        if cursor is None:
            return out


def test_pages_partition_the_listing_in_every_order(store):
    """Pages of 5 follow each other without gap or repeat, in the order asked."""
    fill(store)
    for order in ("updated", "created", "oldest"):
        everything = [info.id for info in store.threads(order=order)]
        assert len(everything) == 25
        paged = pages(store, order=order)
        assert [i for page in paged for i in page] == everything
        assert all(len(page) == 5 for page in paged[:-1])
    created = [info.created_at for info in store.threads(order="oldest")]
    assert created == sorted(created)


def test_filters_title_meta_and_forked_from(store):
    """title, meta (every key equal, typed) and forked_from narrow the listing."""
    fill(store)
    evens = {info.id for info in store.threads(title="even")}
    assert evens == {f"t{i:02d}" for i in range(0, 23, 2)} | {"fork-a", "fork-b"}
    u1 = {info.id for info in store.threads(meta={"user": "u1"})}
    assert u1 == {f"t{i:02d}" for i in range(23) if i % 3 == 1}
    assert {i.id for i in store.threads(meta={"user": "u0", "pinned": True})} == {
        f"t{i:02d}" for i in range(23) if i % 3 == 0 and i % 5 == 0
    } | {"fork-a", "fork-b"}
    assert [i.id for i in store.threads(meta={"n": 7})] == ["t07"]
    assert store.threads(meta={"n": "7"}) == []  # typed: the string "7" is not 7
    forks = {info.id for info in store.threads(forked_from="t00")}
    assert forks == {"fork-a", "fork-b"}
    paged = pages(store, title="odd", meta={"user": "u2"})
    assert [i for page in paged for i in page] == [
        info.id for info in store.threads(title="odd", meta={"user": "u2"})
    ]


def test_bad_cursor_and_arguments_are_clear_errors(store):
    """A cursor that is not one, or is for another order, is a StoreError."""
    fill(store, 6)
    page = store.threads(limit=2)
    with pytest.raises(StoreError, match="not a threads"):
        store.threads(after="garbage!!")
    with pytest.raises(StoreError, match="order='updated'"):
        store.threads(after=page.next_cursor, order="oldest")
    with pytest.raises(ValueError, match="order"):
        store.threads(order="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="meta filter"):
        store.threads(meta={"user": ["a"]})
    with pytest.raises(ValueError, match="limit"):
        store.threads(limit=0)


def test_a_page_is_read_through_an_index(store):
    """SQLite's plan for a filtered page uses the listing indexes, not a scan
    and a sort of every thread."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    from convo.store._listing import _statement
    from convo.store._sql import Tx

    fill(store, 4)
    raw = store.engine.raw_connection()
    try:
        tx = Tx(raw.driver_connection, store._statements, Exception)
        for order, title, index in (
            ("updated", False, "ix_threads_listing_updated"),
            ("created", False, "ix_threads_listing_created"),
            ("updated", True, "ix_threads_title"),
        ):
            statement = _statement(tx, order=order, limited=True, after=True, title=title,
                                   forked_from=False, meta_keys=())
            params = {"limit": 5, "after_t": 0, "after_id": "", "title": "even"}
            if not title:
                del params["title"]
            plan = " ".join(
                str(row[-1])
                for row in raw.driver_connection.execute(
                    "EXPLAIN QUERY PLAN " + statement.sql, statement.bind(params)
                )
            )
            assert index in plan, (order, title, plan)
            assert "TEMP B-TREE" not in plan, plan
    finally:
        raw.close()


async def test_async_store_pages_the_same(async_store):
    """AsyncStore.threads takes the same arguments and gives the same pages."""
    for i in range(7):
        await async_store.save(f"a{i}", Conversation().user(f"q{i}"), title="x")
    first = await async_store.threads(limit=4, title="x")
    second = await async_store.threads(limit=4, title="x", after=first.next_cursor)
    assert len(first) == 4 and len(second) == 3 and second.next_cursor is None
    assert {i.id for i in [*first, *second]} == {f"a{i}" for i in range(7)}


@pytest.mark.parametrize("backend", ["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_upgrade_0002_to_0003_keeps_a_full_database(db_url):
    """A 0002 database full of threads, forks and turns upgrades to 0003: the
    indexes exist, every thread loads equal, and the listing pages."""
    # Fill at head, then take the schema back to 0002 (dropping only 0003's
    # indexes) and upgrade that full database again.
    with Store(db_url) as store:
        fill(store, 40)
        expected = {info.id: store.load(info.id) for info in store.threads()}
    from convo.store import downgrade

    assert downgrade(db_url, "0002") == "0002"
    assert upgrade(db_url) == "0006" == current_revision(db_url)
    engine = create_engine(db_url)
    try:
        names = {ix["name"] for ix in inspect(engine).get_indexes("threads")}
    finally:
        engine.dispose()
    assert {"ix_threads_listing_updated", "ix_threads_listing_created", "ix_threads_title"} <= names
    with Store(db_url) as store:
        assert {i.id: store.load(i.id) for i in store.threads()} == expected
        assert sum(len(p) for p in pages(store)) == 42


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_postgresql_meta_filter_uses_the_gin_index(db_url):
    """0004: a selective meta filter is served by ix_threads_meta (GIN on
    meta::jsonb, jsonb_path_ops), the plan PostgreSQL picks for the store's
    own listing query on a table of 5000 threads."""
    from types import SimpleNamespace

    from convo.store._listing import _statement

    with Store(db_url) as store:
        fill(store, 6)
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO threads (id, meta, version, created_at, updated_at) "
                "SELECT 'bulk' || g, json_build_object('user', 'b' || g, 'n', g)::text, 1, "
                "now(), now() FROM generate_series(1, 5000) AS g"
            )
            conn.exec_driver_sql("ANALYZE threads")
        statement = _statement(
            SimpleNamespace(s=store._statements),  # type: ignore[arg-type]
            order="updated", limited=True, after=False, title=False, forked_from=False,
            meta_keys=("user",),
        )
        assert "@>" in statement.sql
        with store.engine.connect() as conn:
            plan = "\n".join(
                row[0]
                for row in conn.exec_driver_sql(
                    "EXPLAIN " + statement.sql,
                    {"meta": '{"user": "b42"}', "meta_key0": "user", "meta_real0": False,
                     "limit": 20},
                )
            )
        assert "ix_threads_meta" in plan, plan
        assert [i.id for i in store.threads(meta={"user": "b42"})] == ["bulk42"]
        assert [i.id for i in store.threads(meta={"user": "b42", "n": 42})] == ["bulk42"]
        assert store.threads(meta={"user": "b42", "n": "42"}) == []  # the JSON type counts
        assert {i.id for i in store.threads(meta={"user": "u1"})} == {"t01", "t04"}


@pytest.mark.parametrize(
    "backend", ["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_upgrade_0005_to_0006_keeps_every_title_listing(db_url):
    """0006 makes ix_threads_title partial (titled threads only): a full
    database lists the same threads by title after the upgrade and after a
    downgrade, and at 0006 the index holds no untitled thread."""
    from sqlalchemy import create_engine, text

    from convo.store import current_revision, downgrade, upgrade

    def listings(store: Store) -> list[list[str]]:
        return [[i.id for i in store.threads(title=t)] for t in ("even", "odd", "none")] + [
            [i.id for i in store.threads(title="even", limit=3)]
        ]

    def definition() -> str:
        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_threads_title'"
                else:
                    sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_threads_title' "
                           "AND schemaname = current_schema()")
                return str(conn.execute(text(sql)).scalar())
        finally:
            engine.dispose()

    with Store(db_url) as store:
        for i in range(40):
            title = None if i % 3 == 0 else ("even" if i % 2 == 0 else "odd")
            store.save(f"t{i:02d}", Conversation().user(f"q{i}"), title=title)
        for i in range(0, 40, 9):
            store.fork(f"t{i:02d}", new_id=f"f{i:02d}")
        before = listings(store)
        threads_before = [i.to_dict() for i in store.threads()]
    assert downgrade(db_url, "0005") == "0005"
    assert "IS NOT NULL" not in definition()
    assert upgrade(db_url) == "0006" == current_revision(db_url)
    assert "title IS NOT NULL" in definition()
    with Store(db_url) as store:
        assert listings(store) == before
        assert [i.to_dict() for i in store.threads()] == threads_before
        assert all(len(ids) > 0 for ids in before[:2])
        store.save("t00", store.load("t00").assistant("a"), title="even")  # now titled
        assert "t00" in [i.id for i in store.threads(title="even")]
    assert downgrade(db_url, "0005") == "0005"
    assert "IS NOT NULL" not in definition()
    assert upgrade(db_url) == "0006"

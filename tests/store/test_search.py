"""store.search: the database's full-text search over turn text (migrations 0003, 0004)."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convo import Conversation, TextBlock, ToolUseBlock
from convo.errors import StoreError
from convo.store import SearchHit, Store, downgrade, upgrade
from convo.testing import memory_store

from .conftest import chat


def seed(store: Store) -> Conversation:
    c = Conversation("Be brief.").user("What is the weather in Paris?")
    c = c.append("assistant", [TextBlock("Let me look it up."),
                               ToolUseBlock("toolu_1", "weather", {"city": "Lyon"})], origin="model")
    c = c.tool_results({"toolu_1": "sunny"}).assistant("Sunny in Paris, 18 degrees.")
    store.save("t1", c)
    store.fork("t1", at=2, new_id="t1-alt")
    store.save("other", Conversation().user("Tell me about ants and Paris metro."))
    return c


def test_search_finds_turn_text_and_names_every_thread(store):
    """Every word must match; a turn shared by a thread and its fork is one
    hit naming both; string and block content are both searched."""
    c = seed(store)
    hits = store.search("paris weather")
    assert [h.turn_id for h in hits] == [c[0].id]
    (hit,) = hits
    assert isinstance(hit, SearchHit)
    assert (hit.index, hit.role, hit.origin, hit.threads) == (0, "user", "human", ("t1", "t1-alt"))
    assert "Paris" in hit.snippet and "[" in hit.snippet
    paris = {h.turn_id: h.threads for h in store.search("Paris")}
    assert paris == {c[0].id: ("t1", "t1-alt"), c[3].id: ("t1",),
                     store.load("other")[0].id: ("other",)}
    assert [h.turn_id for h in store.search("look")] == [c[1].id]  # a text block
    assert store.search("lyon") == []  # tool input is not turn text
    assert store.search("") == [] and store.search("!!!") == []
    assert store.search('" OR 1 NEAR(') == []  # no query syntax leaks through
    assert len(store.search("paris", limit=1)) == 1
    assert hit.to_dict()["threads"] == ["t1", "t1-alt"]


def test_search_follows_saves_deletes_and_gc(store):
    """New turns are found at once; a deleted thread's turns stop matching
    (they have no thread), and gc removes them from the index."""
    seed(store)
    store.save("other", store.load("other").assistant("Ants build nests."))
    assert [h.threads for h in store.search("nests")] == [("other",)]
    store.delete("other")
    assert store.search("nests") == []
    store.gc()
    assert store.search("nests") == []


def test_search_on_a_read_only_store(tmp_path):
    """Search only reads: it works on a read-only store."""
    path = tmp_path / "s.db"
    with Store(path) as store:
        seed(store)
    with Store(path, read_only=True) as reader:
        assert reader.search("metro")[0].threads == ("other",)


@pytest.mark.parametrize("backend", ["sqlite-file", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_upgrade_from_0002_indexes_every_existing_turn(db_url):
    """A database full of turns, taken back to 0002 and upgraded: every turn
    written before the search index existed is found."""
    with Store(db_url) as store:
        for i in range(30):
            store.save(f"t{i}", chat(6, tag=f"zebra{i}-"))
    assert downgrade(db_url, "0002") == "0002"
    assert upgrade(db_url) == "0006"
    with Store(db_url) as store:
        hits = store.search("zebra7", limit=50)
        assert {h.threads for h in hits} == {("t7",)} and len(hits) == 6
        assert len(store.search("question", limit=500)) == 30 * 3


async def test_async_index_search(async_store):
    """AsyncStore.index_search: the same count (0 on PostgreSQL, which
    indexes on write)."""
    await async_store.save("a", chat(2, tag="emu"))
    expected = 2 if async_store.engine.dialect.name == "sqlite" else 0
    assert await async_store.index_search() == expected
    assert await async_store.index_search() == 0


async def test_async_search(async_store):
    """AsyncStore.search gives the same hits."""
    await async_store.save("a", Conversation().user("hello async world"))
    (hit,) = await async_store.search("async")
    assert hit.threads == ("a",)


def _indexed(path) -> int:
    """How many turns the SQLite search index holds."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM turns_search_content").fetchone()[0])
    finally:
        db.close()


def test_saves_do_not_index_and_search_catches_up(tmp_path):
    """SQLite (0004): a save writes no index row; the next search indexes
    every turn saved since the last one, and finds them."""
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save("a", Conversation().user("first giraffe"))
        assert _indexed(path) == 0
        assert [h.threads for h in store.search("giraffe")] == [("a",)]
        assert _indexed(path) == 1
        store.save("a", store.load("a").assistant("second giraffe, an okapi"))
        assert _indexed(path) == 1  # the save left the index alone
        assert [h.index for h in store.search("okapi")] == [1]
        assert sorted(h.index for h in store.search("giraffe")) == [0, 1]
        assert _indexed(path) == 2


def test_a_read_only_store_finds_turns_not_indexed_yet(tmp_path):
    """A read-only store cannot index: it scans the unindexed tail with the
    same tokenizer, ranks it with the index's hits, and writes nothing."""
    path = tmp_path / "s.db"
    with Store(path) as store:
        seed(store)
        store.search("paris")  # indexes the seed
        before = _indexed(path)
        store.save("late", Conversation().user("Paris café at night").assistant("Très bien."))
    with Store(path, read_only=True) as reader:
        found = {h.threads for h in reader.search("paris")}
        assert ("late",) in found and ("other",) in found and ("t1", "t1-alt") in found
        (hit,) = reader.search("cafe")  # unicode61 drops diacritics, as the index does
        assert hit.threads == ("late",) and "[café]" in hit.snippet
        assert [h.index for h in reader.search("tres bien")] == [1]
        assert reader.search("lyon") == []
    assert _indexed(path) == before


def test_a_read_only_store_refuses_a_tail_too_long_to_scan(tmp_path, monkeypatch):
    """Past TAIL_SCAN_LIMIT unindexed turns the read-only search says what
    to do; a writable store's search indexes them and it works again."""
    from convo.store import _search

    monkeypatch.setattr(_search, "TAIL_SCAN_LIMIT", 3)
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save("t", chat(4, tag="yak"))
    with (
        Store(path, read_only=True) as reader,
        pytest.raises(StoreError, match=r"not in the search index yet") as refused,
    ):
        reader.search("question")
    assert "`convo db index`" in str(refused.value)
    assert "Store(url).index_search()" in str(refused.value)
    with Store(path) as store:
        assert len(store.search("question")) == 2
    with Store(path, read_only=True) as reader:
        assert len(reader.search("question")) == 2


def test_index_search_indexes_ahead_of_read_only_searches(tmp_path, monkeypatch):
    """Store.index_search() indexes what the saves left unindexed (and says
    how many); a read-only store then needs no tail scan; a read-only store
    cannot index."""
    from convo.store import _search

    monkeypatch.setattr(_search, "TAIL_SCAN_LIMIT", 3)
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save("t", chat(4, tag="yak"))
        assert store.index_search() == 4
        assert store.index_search() == 0
        assert _indexed(path) == 4
        store.save("t", chat(6, tag="yak"))
    with Store(path, read_only=True) as reader:
        with pytest.raises(StoreError, match="read-only"):
            reader.index_search()
        assert len(reader.search("question")) == 3
    with Store(path) as store:
        assert store.index_search() == 2


def test_gc_removes_unindexed_and_indexed_turns(tmp_path):
    """gc's deletes leave the index (delete trigger) and the tail: a
    collected turn is never found, whether it was indexed or not; a rid
    reused after gc is indexed as the new turn."""
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.save("old", Conversation().user("indexed walrus"))
        assert store.search("walrus")
        store.save("new", Conversation().user("unindexed walrus"))
        store.delete("old")
        store.delete("new")
        store.gc()
        with Store(path, read_only=True) as reader:
            assert reader.search("walrus") == []
        assert store.search("walrus") == []
        store.save("again", Conversation().user("a fresh narwhal"))
        assert [h.threads for h in store.search("narwhal")] == [("again",)]
        assert store.search("walrus") == []
        assert _indexed(path) == 1


SEARCH_TRIGGERS = "SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'turns_search%'"


@pytest.mark.parametrize("backend", ["sqlite-file"], indirect=True)
def test_upgrade_from_0003_keeps_every_hit_and_downgrade_restores_the_trigger(db_url, tmp_path):
    """0004 -> 0003 indexes the unindexed tail and brings the insert trigger
    back (0003 saves are indexed on write); 0003 -> 0004 drops it and every
    hit is the same."""
    path = db_url.removeprefix("sqlite:///")
    with Store(db_url) as store:
        for i in range(20):
            store.save(f"t{i}", chat(4, tag=f"emu{i}-"))
        store.search("emu3")  # index some, leave the rest as a tail
        for i in range(20, 30):
            store.save(f"t{i}", chat(4, tag=f"emu{i}-"))
        expected = {h.turn_id: h.threads for h in store.search("question", limit=500)}
    assert len(expected) == 30 * 2
    assert downgrade(db_url, "0003") == "0003"
    db = sqlite3.connect(path)
    try:
        triggers = {r[0] for r in db.execute(SEARCH_TRIGGERS)}
        assert triggers == {"turns_search_insert", "turns_search_delete"}
        assert _indexed(path) == db.execute("SELECT count(*) FROM turns").fetchone()[0]
        # A 0003 writer's insert is indexed by the trigger.
        db.execute(
            "INSERT INTO turns (key, id, parent, depth, jump, role, origin, content, meta, "
            "created_at) VALUES (x'00', 'sha256:x', NULL, 0, NULL, 'user', 'human', "
            "'\"quokka\"', '{}', 0)"
        )
        hit = db.execute("SELECT rowid FROM turns_search WHERE turns_search MATCH 'quokka'")
        assert len(hit.fetchall()) == 1
        db.rollback()
    finally:
        db.close()
    assert upgrade(db_url) == "0006"
    db = sqlite3.connect(path)
    try:
        triggers = {r[0] for r in db.execute(SEARCH_TRIGGERS)}
        assert triggers == {"turns_search_delete"}
    finally:
        db.close()
    with Store(db_url, read_only=True) as reader:
        assert {h.turn_id: h.threads for h in reader.search("question", limit=500)} == expected
    with Store(db_url) as store:
        assert {h.turn_id: h.threads for h in store.search("question", limit=500)} == expected
        assert len(store.search("emu25", limit=50)) == 4


async def test_async_search_indexes_at_search_time_and_reads_the_tail(tmp_path):
    """AsyncStore: the same catch-up on a writable store, the same tail scan
    on a read-only one."""
    from convo.store import AsyncStore

    path = tmp_path / "a.db"
    async with AsyncStore(path) as store:
        await store.save("a", Conversation().user("an early heron"))
        assert [h.threads for h in await store.search("heron")] == [("a",)]
        await store.save("b", Conversation().user("a late heron"))
        assert _indexed(path) == 1
    async with AsyncStore(path, read_only=True) as reader:
        assert sorted(h.threads for h in await reader.search("heron")) == [("a",), ("b",)]
    assert _indexed(path) == 1
    async with AsyncStore(path) as store:
        assert len(await store.search("heron")) == 2
    assert _indexed(path) == 2


def test_search_scoped_to_threads_or_meta(store):
    """threads= and meta= search only those threads; a hit names only the
    threads in scope; an empty scope finds nothing."""
    c = seed(store)
    store.save("u2", Conversation().user("Paris again, for user two."), meta={"user": "u2"})
    store.save("u1", Conversation().user("Paris for user one."), meta={"user": "u1", "n": 1})
    assert [h.threads for h in store.search("paris weather", threads=["t1-alt"])] == [("t1-alt",)]
    assert {h.threads for h in store.search("paris", threads=("t1", "other"))} == {("t1",), ("other",)}
    assert [h.threads for h in store.search("paris", meta={"user": "u1"})] == [("u1",)]
    assert [h.threads for h in store.search("paris", meta={"user": "u1"}, threads=["u1", "u2"])] == [("u1",)]
    assert store.search("paris", meta={"user": "u1"}, threads=["u2"]) == []
    assert store.search("paris", threads=[]) == []
    assert store.search("paris", threads=["no-such-thread"]) == []
    assert store.search("paris", meta={"user": 1}) == []  # 1 is not "1": typed as threads() does
    assert [h.turn_id for h in store.search("paris weather", threads=iter(["t1"]))] == [c[0].id]
    with pytest.raises(TypeError, match="not one str"):
        store.search("paris", threads="t1")
    with pytest.raises(TypeError, match="thread ids"):
        store.search("paris", threads=[1])  # type: ignore[list-item]


def test_scope_of_more_threads_than_one_statement_binds(store):
    """A scope of hundreds of threads is read in chunks; every hit is found."""
    for n in range(450):
        store.save(f"t{n:03}", Conversation().user(f"needle {n}"), meta={"group": n % 2})
    hits = store.search("needle", limit=500, threads=[f"t{n:03}" for n in range(450)])
    assert len(hits) == 450
    evens = store.search("needle", limit=500, meta={"group": 0})
    assert sorted(t for h in evens for t in h.threads) == [f"t{n:03}" for n in range(0, 450, 2)]


def test_matches_no_thread_reaches_do_not_hide_the_ones_it_does(store):
    """Turns no thread reaches any more (awaiting gc) match the index first;
    the search reads on until it has ``limit`` reachable hits."""
    for n in range(60):  # 60 unreachable matches, each ranked above the one kept
        store.save(f"gone{n}", Conversation().user(f"needle needle needle {n}"))
        store.delete(f"gone{n}")
    store.save("kept", Conversation().user("a needle in a long haystack of many other words"))
    assert [h.threads for h in store.search("needle", limit=2)] == [("kept",)]
    assert [h.threads for h in store.search("needle", limit=1, threads=["kept"])] == [("kept",)]


WORDS = ("apple", "birch", "cedar", "delta")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_search_names_exactly_the_threads_that_hold_each_turn(data):
    """Against brute force (load every thread in scope, look at every turn),
    after random saves, appends, forks, saves of another thread's history,
    replaces and deletes: the same turns, each naming the same threads."""
    with memory_store() as store:
        live: dict[str, Conversation] = {}
        for step in range(data.draw(st.integers(1, 12), label="steps")):
            text = " ".join(data.draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)))
            action = data.draw(st.sampled_from(["new", "append", "fork", "copy", "replace", "delete"]))
            name = f"t{step}"
            if action == "new" or not live:
                live[name] = Conversation().user(text)
                store.save(name, live[name], meta={"user": step % 2})
                continue
            source = data.draw(st.sampled_from(sorted(live)))
            c = live[source]
            if action == "append":
                c = c.assistant(text) if c.turns[-1].role == "user" else c.user(text)
                store.save(source, c)
                live[source] = c
            elif action == "fork":
                at = data.draw(st.integers(1, len(c)))
                store.fork(source, at=at, new_id=name)
                live[name] = store.load(name)
            elif action == "copy":  # another thread's history, saved under a new id
                live[name] = c.assistant(text) if c.turns[-1].role == "user" else c.user(text)
                store.save(name, live[name], meta={"user": 1})
            elif action == "replace":
                live[source] = Conversation().user(text + " replaced")
                store.save(source, live[source], expected_head=c.head_id)
            else:
                store.delete(source)
                del live[source]
        scope = data.draw(st.none() | st.lists(st.sampled_from([*sorted(live), "t-none"]), unique=True))
        meta = data.draw(st.none() | st.just({"user": 1}))
        word = data.draw(st.sampled_from(WORDS))
        in_scope = [
            t for t in sorted(live)
            if (scope is None or t in scope) and (meta is None or store.info(t).meta.get("user") == 1)
        ]
        expected: dict[str, set[str]] = {}
        for thread in in_scope:
            for turn in store.load(thread).turns:
                if word in turn.text.split():
                    expected.setdefault(turn.id, set()).add(thread)
        found: dict[str, set[str]] = {}
        for hit in store.search(word, limit=1000, threads=scope, meta=meta):
            found.setdefault(hit.turn_id, set()).update(hit.threads)
        assert found == expected

"""store.search: the database's full-text search over turn text (migration 0003)."""

from __future__ import annotations

import pytest

from convo import Conversation, TextBlock, ToolUseBlock
from convo.store import SearchHit, Store, downgrade, upgrade

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
def test_upgrade_to_0003_indexes_every_existing_turn(db_url):
    """A database full of turns, taken back to 0002 and upgraded: every turn
    written before the search index existed is found."""
    with Store(db_url) as store:
        for i in range(30):
            store.save(f"t{i}", chat(6, tag=f"zebra{i}-"))
    assert downgrade(db_url, "0002") == "0002"
    assert upgrade(db_url) == "0003"
    with Store(db_url) as store:
        hits = store.search("zebra7", limit=50)
        assert {h.threads for h in hits} == {("t7",)} and len(hits) == 6
        assert len(store.search("question", limit=500)) == 30 * 3


async def test_async_search(async_store):
    """AsyncStore.search gives the same hits."""
    await async_store.save("a", Conversation().user("hello async world"))
    (hit,) = await async_store.search("async")
    assert hit.threads == ("a",)

"""The store's public methods apply the input policy before any SQL runs.

A NUL in a thread id or title is kept by SQLite and refused by PostgreSQL;
both backends now refuse it the same way, with a ``CodecError`` naming the
argument, and the database is left as it was.
"""

from __future__ import annotations

import math

import pytest

from convo import CodecError, Conversation
from convo.store import AsyncStore, Store

BAD_TEXT = ["a\x00b", "\x00", "lone \ud800"]


def conversation() -> Conversation:
    return Conversation("sys").user("hello")


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_bad_thread_ids_are_refused_by_every_method(store: Store, bad: str):
    """save/fork/delete/load/info/history/verify: CodecError with path thread_id."""
    calls = [
        lambda: store.save(bad, conversation()),
        lambda: store.fork(bad),
        lambda: store.delete(bad),
        lambda: store.load(bad),
        lambda: store.info(bad),
        lambda: store.history(bad),
        lambda: store.verify(bad),
    ]
    for call in calls:
        with pytest.raises(CodecError) as caught:
            call()
        assert caught.value.path == "thread_id"
    assert store.threads() == []


@pytest.mark.parametrize("bad", BAD_TEXT)
def test_bad_titles_and_fork_ids_are_refused(store: Store, bad: str):
    """A title or a fork's new id with a NUL or a lone surrogate is refused."""
    store.save("t", conversation())
    with pytest.raises(CodecError) as caught:
        store.save("t", conversation(), title=bad)
    assert caught.value.path == "title"
    with pytest.raises(CodecError) as caught:
        store.fork("t", new_id=bad)
    assert caught.value.path == "new_id"
    with pytest.raises(CodecError) as caught:
        store.fork("t", title=bad)
    assert caught.value.path == "title"
    assert [info.id for info in store.threads()] == ["t"]
    assert store.info("t").title is None


def test_unsaveable_thread_meta_is_refused(store: Store):
    """Thread meta must be JSON under the policy (NaN, a set: refused up front)."""
    for meta in ({"x": math.nan}, {"x": {1, 2}}, {"x": "\udfff"}):
        with pytest.raises(CodecError) as caught:
            store.save("t", conversation(), meta=meta)
        assert caught.value.path.startswith("meta")
    assert store.threads() == []


def test_nul_inside_content_is_kept(store: Store):
    """A NUL inside turn content is fine: JSON escapes it, every backend keeps it."""
    c = Conversation().user("a\x00b", meta={"k": "\x00"})
    store.save("t", c, title="ok")
    loaded = store.load("t")
    assert loaded.turns[0].content == "a\x00b" and loaded.turns[0].meta["k"] == "\x00"


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_async_store_refuses_the_same(async_store: AsyncStore, bad: str):
    """AsyncStore applies the same checks."""
    with pytest.raises(CodecError):
        await async_store.save(bad, conversation())
    with pytest.raises(CodecError):
        await async_store.save("t", conversation(), title=bad)
    with pytest.raises(CodecError):
        await async_store.load(bad)
    with pytest.raises(CodecError):
        await async_store.fork("t", new_id=bad)
    assert [info.id for info in await async_store.threads()] == []

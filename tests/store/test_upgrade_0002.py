"""Revision 0002 on a database full of 0001 data: nothing lost either way.

The 0001 database is written the way convo's 0001 store wrote it (rows
keyed by ``storage_key``, chained by ``parent_key``, heads by ``head_key``):
threads of several lengths, an empty one, forks and a fork of a fork, a
conflicting save whose turns were stored but never became a head, and two
rows of one turn id with different annotations.  After the upgrade every
thread loads equal, verifies (hashes, parents and jump pointers), forks at
any depth and takes new saves; the downgrade gives back the very rows of
0001, and is refused, changing nothing, when a turn 0001 cannot hold exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from convo import Conversation, TextBlock
from convo.errors import StoreError
from convo.store import Store, current_revision, downgrade, head_revision, upgrade
from convo.store._rows import storage_key
from convo.store.schema import timestamp_to_db

from .conftest import FILE_BACKENDS, chat, tool_chat

pytestmark = pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)

STAMP = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _save_0001(
    conn: Any,
    thread_id: str | None,
    conversation: Conversation,
    *,
    upto: int | None = None,
    forked_from: str | None = None,
    title: str | None = None,
) -> None:
    """Write ``conversation`` as convo 0001 did; a thread row when named."""
    stamp = timestamp_to_db(STAMP, conn.dialect.name)
    parent_key: bytes | None = None
    for depth, turn in enumerate(conversation.turns):
        key = storage_key(parent_key, turn)
        conn.execute(
            text(
                "INSERT INTO turns (key, id, parent_key, depth, role, origin, content, meta, "
                "created_at) VALUES (:key, :id, :parent_key, :depth, :role, :origin, :content, "
                ":meta, :created_at) ON CONFLICT DO NOTHING"
            ),
            {
                "key": key,
                "id": turn.id,
                "parent_key": parent_key,
                "depth": depth,
                "role": turn.role,
                "origin": turn.origin,
                "content": turn.content_text,
                "meta": turn.meta_text,
                "created_at": stamp,
            },
        )
        if upto is not None and depth + 1 == upto:
            break
        parent_key = key
    if thread_id is None:
        return
    if upto is not None:
        parent_key = key if upto else None
    system = None if conversation.system_json is None else conversation.system_json
    conn.execute(
        text(
            "INSERT INTO threads (id, head_key, system, title, meta, version, "
            "forked_from_thread, forked_at_turn, created_at, updated_at) VALUES (:id, :head, "
            ":system, :title, '{\"k\": 1}', 3, :ff, :fa, :ts, :ts)"
        ),
        {
            "id": thread_id,
            "head": parent_key,
            "system": None if system is None else _json(system),
            "title": title,
            "ff": forked_from,
            "fa": upto if forked_from is not None else None,
            "ts": stamp,
        },
    )


def _json(value: Any) -> str:
    from convo.codec import dumps

    return dumps(value)


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


TURNS_0001 = (
    "SELECT key, id, parent_key, depth, role, origin, content, meta, created_at FROM turns "
    "ORDER BY key"
)
THREADS_0001 = (
    "SELECT id, head_key, system, title, meta, version, forked_from_thread, forked_at_turn, "
    "created_at, updated_at FROM threads ORDER BY id"
)


def _annotated(c: Conversation) -> Conversation:
    """``c`` with the same content but other metadata on its last turn."""
    last = c.turns[-1]
    return c.fork(len(c) - 1).append(
        last.role, list(last.blocks), origin="synthetic", meta={"edited": True}
    )


def _fixture(url: str) -> dict[str, Conversation]:
    """Fill a 0001 database; return what each thread must load as."""
    assert upgrade(url, "0001") == "0001"
    long = chat(300, tag="L")
    expected = {
        "short": chat(1),
        "mid": chat(7, tag="m"),
        "long": long,
        "tools": tool_chat(),
        "empty": Conversation("You are terse."),
        "plain": chat(4, system=None, tag="p"),
        "blocks": chat(3, system=[TextBlock("sys a"), TextBlock("sys b")], tag="b"),
        "fork": long.fork(120),
        "fork2": long.fork(37),
        "annot": _annotated(chat(7, tag="m")),
    }
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for name in ("short", "mid", "long", "tools", "empty", "plain", "blocks", "annot"):
                _save_0001(conn, name, expected[name], title=f"title {name}")
            _save_0001(conn, "fork", long, upto=120, forked_from="long")
            _save_0001(conn, "fork2", long, upto=37, forked_from="fork")
            # A conflicting save: its turns were stored, the head never moved.
            _save_0001(conn, None, chat(9, tag="m").fork(4).user("the loser's question"))
    finally:
        engine.dispose()
    return expected


def test_upgrade_keeps_every_thread_and_turn(db_url):
    """0001 -> 0002: every thread loads equal and verifies; nothing is lost."""
    expected = _fixture(db_url)
    turns_before = _rows(db_url, TURNS_0001)
    threads_before = _rows(db_url, THREADS_0001)
    assert len(turns_before) == 300 + 1 + 7 + 4 + 4 + 3 + 1 + 1  # + loser's turn, + annot
    assert upgrade(db_url, "0002") == "0002"
    with Store(db_url) as store:  # and on to the head revision
        for name, conversation in expected.items():
            loaded = store.load(name)
            assert loaded == conversation, name
            assert loaded.system == conversation.system, name
            assert [t.meta for t in loaded.turns] == [t.meta for t in conversation.turns], name
            assert [t.origin for t in loaded.turns] == [t.origin for t in conversation.turns]
            assert store.verify(name) == len(conversation), name
            info = store.info(name)
            assert info.created_at == STAMP and info.version == 3 and info.meta == {"k": 1}
        assert store.info("fork").forked_from == "long" and store.info("fork").forked_at == 120
        assert store.info("fork2").forked_from == "fork"
        assert store.info("mid").title == "title mid"
        (count,) = _rows(db_url, "SELECT count(*) FROM turns")[0]
        assert count == len(turns_before)
        # The jump pointers the migration computed find every depth.
        long = expected["long"]
        for at in (1, 2, 3, 7, 8, 64, 150, 255, 256, 299, 300):
            info = store.fork("long", at=at, new_id=f"long@{at}")
            assert info.head_id == long.turns[at - 1].id
            assert store.load("long", upto=at) == long.fork(at)
        # New saves go on from the upgraded rows; the loser's turn is garbage.
        grown = expected["mid"].assistant("after the upgrade")
        store.save("mid", grown)
        assert store.load("mid") == grown and store.verify("mid") == 8
        assert store.gc() == 1
    # And back: the rows of 0001, exactly.
    with Store(db_url) as store:
        store.delete("mid")
        for at in (1, 2, 3, 7, 8, 64, 150, 255, 256, 299, 300):
            store.delete(f"long@{at}")
        store.gc()
    assert downgrade(db_url, "0001") == "0001"
    turns_after = _rows(db_url, TURNS_0001)
    assert set(turns_after) <= set(turns_before)
    gone = {row[1] for row in turns_before if row not in turns_after}
    loser = chat(9, tag="m").fork(4).user("the loser's question").head_id
    assert gone == {loser, expected["mid"].head_id}  # gc: only what no thread reaches
    threads_after = _rows(db_url, THREADS_0001)
    assert [t for t in threads_before if t[0] != "mid"] == threads_after
    assert current_revision(db_url) == "0001"


def test_downgrade_round_trips_the_rows(db_url):
    """0001 -> 0002 -> 0001 gives back every row, byte for byte."""
    _fixture(db_url)
    turns_before = _rows(db_url, TURNS_0001)
    threads_before = _rows(db_url, THREADS_0001)
    assert upgrade(db_url, "0002") == "0002"
    assert downgrade(db_url, "0001") == "0001"
    assert _rows(db_url, TURNS_0001) == turns_before
    assert _rows(db_url, THREADS_0001) == threads_before
    assert upgrade(db_url, "0002") == "0002"
    with Store(db_url) as store:  # and on to the head revision
        assert store.verify("long") == 300


def test_downgrade_that_would_lose_a_system_turn_is_refused(db_url):
    """A turn revision 0001 cannot hold: the downgrade says so, changes nothing."""
    with Store(db_url) as store:
        store.save("t", chat(2))
        rid = _rows(db_url, "SELECT max(rid) FROM turns")[0][0]
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE turns SET role = 'system' WHERE rid = :rid"), {"rid": rid})
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=r"cannot downgrade below revision 0002.*system"):
        downgrade(db_url, "0001")
    assert current_revision(db_url) == head_revision()  # one transaction: nothing moved
    assert _rows(db_url, "SELECT count(*) FROM turns")[0][0] == 2

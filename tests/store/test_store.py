"""Store behaviour on every backend: save/load, fast-forward, forks, gc, verify."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import attrs
import pytest
from sqlalchemy import text

from convo import Conversation, TextBlock
from convo.errors import (
    ConflictError,
    ForkPointError,
    HashMismatchError,
    StoreError,
    ThreadExistsError,
    ThreadNotFoundError,
    TurnNotFoundError,
)
from convo.store import Store, ThreadInfo, ThreadTree

from .conftest import chat, tool_chat


def scalar(store: Store, sql: str, **params: object) -> object:
    """One value from ad-hoc SQL on the store's database."""
    with store.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def execute(store: Store, sql: str, **params: object) -> None:
    """Run ad-hoc DML on the store's database."""
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


def turn_count(store: Store) -> int:
    """How many turn rows the database holds."""
    return int(scalar(store, "SELECT count(*) FROM turns"))  # type: ignore[arg-type]


# -- save and load -------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: chat(6), tool_chat, lambda: chat(3, system=None)])
def test_load_returns_what_was_saved(store, make):
    """Ids, roles, origins, content, meta and the system prompt round-trip."""
    c = make()
    store.save("t", c)
    loaded = store.load("t")
    assert loaded == c
    assert loaded.system_json == c.system_json
    assert [t.id for t in loaded.turns] == [t.id for t in c.turns]
    assert [t.origin for t in loaded.turns] == [t.origin for t in c.turns]
    assert [t.meta for t in loaded.turns] == [t.meta for t in c.turns]
    assert [t.content for t in loaded.turns] == [t.content for t in c.turns]
    assert loaded.to_payload("m", 10) == c.to_payload("m", 10)


def test_save_returns_the_thread_info(store):
    """The info of a new thread says what was stored."""
    c = chat(4)
    info = store.save("t", c, title="Weather", meta={"model": "claude-x"})
    assert info.id == "t"
    assert info.head_id == c.head_id
    assert info.length == 4
    assert info.version == 1
    assert info.title == "Weather"
    assert info.meta == {"model": "claude-x"}
    assert info.created_at == info.updated_at
    assert info.created_at.tzinfo is not None
    assert info.forked_from is None and info.forked_at is None
    assert store.info("t") == info


def test_save_twice_writes_nothing(store):
    """Saving the same conversation again changes no row."""
    c = chat(4)
    first = store.save("t", c, title="x")
    before = turn_count(store)
    second = store.save("t", c)
    assert second == first
    assert store.info("t").version == 1
    assert turn_count(store) == before


def test_fast_forward_moves_the_head_and_bumps_the_version(store):
    """A save that extends the stored head succeeds and stores only new turns."""
    c = chat(4)
    store.save("t", c)
    longer = c.user("and now?").assistant("now this.")
    info = store.save("t", longer)
    assert info.version == 2
    assert info.length == 6
    assert info.updated_at >= info.created_at
    assert turn_count(store) == 6
    assert store.load("t") == longer


def test_conflict_when_stored_head_is_not_an_ancestor(store):
    """Two writers from the same base: the second gets ConflictError with both
    heads, its turns are stored, and the thread is unchanged."""
    base = chat(2)
    store.save("t", base)
    mine = base.user("mine")
    theirs = base.user("theirs")
    store.save("t", mine)
    with pytest.raises(ConflictError) as caught:
        store.save("t", theirs)
    err = caught.value
    assert err.thread_id == "t"
    assert err.stored_head == mine.head_id
    assert err.attempted_head == theirs.head_id
    assert store.load("t") == mine
    stored = turn_count(store)
    assert stored == 4  # the losing turn is stored: nothing lost
    assert store.save("t-theirs", theirs).length == 3
    assert turn_count(store) == stored  # so saving it elsewhere writes no turn
    assert store.load("t-theirs") == theirs


def test_saving_a_stale_prefix_is_a_conflict(store):
    """A conversation behind the stored head cannot move it back."""
    c = chat(6)
    store.save("t", c)
    with pytest.raises(ConflictError) as caught:
        store.save("t", c[:4])
    assert caught.value.stored_head == c.head_id
    assert store.load("t") == c


def test_empty_conversation_and_then_turns(store):
    """An empty thread (a system prompt only) can be fast-forwarded."""
    empty = Conversation("sys")
    info = store.save("t", empty)
    assert info.head_id is None and info.length == 0
    assert store.load("t") == empty
    full = empty.user("hi").assistant("hello")
    assert store.save("t", full).length == 2
    assert store.load("t") == full


def test_saving_a_known_conversation_under_a_new_id_copies_nothing(store):
    """Equal turns are stored once, whatever thread they belong to."""
    c = chat(10)
    store.save("a", c)
    store.save("b", c)
    store.save("c", c[:5])
    assert turn_count(store) == 10
    assert store.load("b") == c
    assert store.load("c") == c[:5]


def test_system_prompt_change_is_a_conflict_unless_replaced(store):
    """The system prompt moves only when the save says so."""
    c = chat(2, system="old")
    store.save("t", c)
    changed = c.with_system("new")
    with pytest.raises(ConflictError) as caught:
        store.save("t", changed.user("more"))
    assert "system prompt" in "\n".join(caught.value.__notes__)
    assert store.load("t").system == "old"
    info = store.save("t", changed, replace_system=True)
    assert info.version == 2
    assert store.load("t").system == "new"
    blocks = c.with_system([TextBlock("as blocks")])
    store.save("t", blocks, replace_system=True)
    assert store.load("t").system == (TextBlock("as blocks"),)


def test_expected_head_replaces_the_last_turn(store):
    """expected_head is a compare-and-set that allows a non-descendant head."""
    c = chat(3)
    store.save("t", c)
    replaced = c[:2].user("question 2, rephrased")
    with pytest.raises(ConflictError):
        store.save("t", replaced)
    with pytest.raises(ConflictError) as caught:
        store.save("t", replaced, expected_head=c[:2].head_id)
    assert caught.value.stored_head == c.head_id
    info = store.save("t", replaced, expected_head=c.head_id)
    assert info.head_id == replaced.head_id and info.version == 2
    assert store.load("t") == replaced
    with pytest.raises(ConflictError) as missing:
        store.save("nope", replaced, expected_head=c.head_id)
    assert missing.value.stored_head is None


def test_title_and_meta_are_kept_unless_given(store):
    """None keeps the stored title/meta; a value replaces it (a change)."""
    c = chat(2)
    store.save("t", c, title="first", meta={"a": 1})
    info = store.save("t", c.user("x"))
    assert (info.title, info.meta) == ("first", {"a": 1})
    info = store.save("t", c.user("x"), title="second")
    assert (info.title, info.meta, info.version) == ("second", {"a": 1}, 3)
    info = store.save("t", c.user("x"), meta={"b": [1, 2]})
    assert info.meta == {"b": [1, 2]} and info.version == 4
    assert store.info("t") == info


def test_bad_arguments_are_rejected(store):
    """Thread ids are non-empty strings; save takes a Conversation."""
    with pytest.raises(ValueError):
        store.save("", chat(1))
    with pytest.raises(ValueError):
        store.save("x" * 256, chat(1))
    with pytest.raises(TypeError):
        store.save("t", [chat(1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.save("t", chat(1), meta=["not", "a", "mapping"])  # type: ignore[arg-type]


def test_missing_threads(store):
    """Lookups of unknown ids raise the LookupError subclasses."""
    for call in (store.load, store.info, store.verify, store.delete, store.history):
        with pytest.raises(ThreadNotFoundError) as caught:
            call("nope")
        assert caught.value.thread_id == "nope"
    with pytest.raises(ThreadNotFoundError):
        store.fork("nope", at=1, new_id="x")


def test_annotations_are_kept_per_thread(store):
    """Equal content with other origin/meta has the same Turn.id but is a
    different row: each thread loads its own annotations back."""
    base = chat(1)
    first = base.append("assistant", [TextBlock("OK")], origin="model", meta={"id": "msg_a"})
    second = base.append("assistant", [TextBlock("OK")], origin="model", meta={"id": "msg_b"})
    typed = base.append("assistant", [TextBlock("OK")], origin="synthetic")
    assert first.head_id == second.head_id == typed.head_id
    store.save("a", first)
    store.save("b", second)
    store.save("c", typed)
    assert turn_count(store) == 4  # one shared user turn, three annotated replies
    assert store.load("a").head.meta == {"id": "msg_a"}
    assert store.load("b").head.meta == {"id": "msg_b"}
    assert store.load("c").head.origin == "synthetic"
    for thread in "abc":
        assert store.verify(thread) == 2


def test_fast_forward_keeps_the_stored_annotations(store):
    """A conversation rebuilt from its payload (annotations guessed) saves as
    a no-op over the original: what is stored is not rewritten."""
    c = tool_chat()
    store.save("t", c)
    rebuilt = Conversation.from_payload(c.to_payload("m", 10))
    assert rebuilt == c
    assert store.save("t", rebuilt).version == 1
    assert [t.meta for t in store.load("t").turns] == [t.meta for t in c.turns]


# -- forks ---------------------------------------------------------------------


def test_fork_points_into_the_same_chain(store):
    """fork(at=n) is a new thread over the first n turns; nothing is copied."""
    c = chat(10)
    store.save("t", c, title="main", meta={"k": 1})
    before = turn_count(store)
    info = store.fork("t", at=5, new_id="t-alt")
    assert info.id == "t-alt" and info.length == 5 and info.head_id == c[:5].head_id
    assert (info.forked_from, info.forked_at) == ("t", 5)
    assert (info.title, info.meta) == ("main", {"k": 1})
    assert store.load("t-alt") == c[:5]
    assert turn_count(store) == before
    assert store.load("t") == c


def test_fork_positions(store):
    """at=None keeps everything, 0 nothing, negatives count from the end."""
    c = chat(6)
    store.save("t", c)
    assert store.fork("t", new_id="all").length == 6
    assert store.load("all") == c
    assert store.fork("t", at=0, new_id="none").head_id is None
    assert store.load("none") == c[:0]
    assert store.fork("t", at=-2, new_id="neg").length == 4
    assert store.load("neg") == c[:4]
    assert store.fork("t", at=1, new_id="one").head_id == c.turns[0].id
    for bad in (7, -7):
        with pytest.raises(ForkPointError, match=f"at {bad}: it has 6 turns") as caught:
            store.fork("t", at=bad, new_id=f"bad{bad}")
        assert isinstance(caught.value, IndexError) and caught.value.length == 6


def test_fork_ids(store):
    """A taken id raises ThreadExistsError; no id makes a fresh one."""
    store.save("t", chat(2))
    with pytest.raises(ThreadExistsError) as caught:
        store.fork("t", at=1, new_id="t")
    assert caught.value.thread_id == "t"
    made = store.fork("t", at=1)
    assert made.id.startswith("t-") and made.id != "t"
    assert store.load(made.id) == chat(2)[:1]


def test_forks_diverge_independently(store):
    """Saving on a fork never touches the original, and vice versa."""
    c = chat(4)
    store.save("t", c)
    store.fork("t", at=2, new_id="f")
    other = c[:2].user("a different question")
    store.save("f", other)
    store.save("t", c.user("continue main"))
    assert store.load("f") == other
    assert store.load("t") == c.user("continue main")
    with pytest.raises(ConflictError):
        store.save("f", c)


def test_history_is_the_fork_tree(store):
    """history() returns the tree from the root ancestor down every fork."""
    store.save("root", chat(6))
    store.fork("root", at=4, new_id="a")
    store.fork("a", at=2, new_id="a1")
    store.fork("root", at=1, new_id="b")
    store.save("other", chat(2, tag="o"))
    for asked in ("root", "a", "a1", "b"):
        tree = store.history(asked)
        assert isinstance(tree, ThreadTree)
        assert tree.info.id == "root"
        assert [child.info.id for child in tree.children] == ["a", "b"]
        assert tree.ids == ("root", "a", "a1", "b")
        node = tree.find("a")
        assert node is not None and [n.info.id for n in node.children] == ["a1"]
        assert tree.find("other") is None
    assert store.history("other").ids == ("other",)


def test_threads_lists_most_recent_first(store):
    """threads() reports ids, lengths, titles and fork links, newest first."""
    store.save("a", chat(2), title="A")
    store.save("b", chat(3))
    store.fork("a", at=1, new_id="c")
    store.save("a", chat(4))
    listed = store.threads()
    assert [t.id for t in listed] == ["a", "c", "b"]
    assert [t.length for t in listed] == [4, 1, 3]
    assert listed[0].title == "A"
    assert (listed[1].forked_from, listed[1].forked_at) == ("a", 1)
    assert [t.id for t in store.threads(limit=2)] == ["a", "c"]
    assert all(isinstance(t, ThreadInfo) for t in listed)


# -- delete and gc ---------------------------------------------------------------


def test_delete_keeps_turns_until_gc(store):
    """delete() drops the thread; gc() drops the turns nothing reaches."""
    c = chat(6)
    store.save("t", c)
    store.fork("t", at=3, new_id="f")
    store.delete("t")
    with pytest.raises(ThreadNotFoundError):
        store.load("t")
    assert turn_count(store) == 6
    assert store.info("f").forked_from is None  # the link goes, the fork stays
    assert store.gc() == 3
    assert turn_count(store) == 3
    assert store.load("f") == c[:3]
    assert store.gc() == 0


def test_gc_removes_conflict_leftovers_only(store):
    """Turns stored by a losing save are unreachable until saved elsewhere."""
    base = chat(2)
    store.save("t", base.user("winner"))
    with pytest.raises(ConflictError):
        store.save("t", base.user("loser").assistant("lost"))
    assert turn_count(store) == 5
    assert store.gc() == 2
    assert turn_count(store) == 3
    assert store.load("t") == base.user("winner")
    store.delete("t")
    assert store.gc() == 3
    assert turn_count(store) == 0


# -- verify ------------------------------------------------------------------------


def test_verify_counts_the_turns(store):
    """verify() re-hashes every turn of a healthy thread."""
    store.save("t", tool_chat())
    assert store.verify("t") == 4
    store.save("e", Conversation())
    assert store.verify("e") == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("content", json.dumps("tampered")),
        ("meta", json.dumps({"id": "msg_forged"})),
        ("role", "user"),
        ("origin", "synthetic"),
        ("content", "{not json"),
    ],
)
def test_verify_names_the_altered_turn(store, column, value):
    """Any change to a stored turn is caught, and the error names it."""
    c = chat(6)
    store.save("t", c)
    victim = c.turns[3]
    execute(store, f"UPDATE turns SET {column} = :v WHERE id = :id", v=value, id=victim.id)
    with pytest.raises(HashMismatchError) as caught:
        store.verify("t")
    assert caught.value.turn_id == victim.id
    assert caught.value.thread_id == "t"
    assert caught.value.actual != victim.id


def test_verify_reports_a_broken_chain(store):
    """A depth edited by hand is reported; a head row deleted by hand is a
    missing turn, not a silently shorter thread."""
    c = chat(3)
    store.save("t", c)
    execute(store, "UPDATE turns SET depth = 7 WHERE id = :id", id=c.turns[1].id)
    with pytest.raises(StoreError, match="depth"):
        store.verify("t")
    store.save("u", chat(1, tag="u"))
    execute(store, "DELETE FROM turns WHERE id = :id", id=chat(1, tag="u").head_id)
    with pytest.raises(TurnNotFoundError):
        store.load("u")
    with pytest.raises(TurnNotFoundError):
        store.verify("u")


# -- values --------------------------------------------------------------------------


def test_thread_info_and_tree_are_frozen_values(store):
    """ThreadInfo/ThreadTree are frozen attrs classes with read-only meta."""
    info = store.save("t", chat(2), meta={"k": [1]})
    assert attrs.has(ThreadInfo) and attrs.has(ThreadTree)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.title = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.meta["k"] = 2
    with pytest.raises(TypeError):
        info.meta["k"].append(2)
    tree = store.history("t")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tree.children = ()  # type: ignore[misc]
    assert attrs.evolve(info, title="y").title == "y"
    assert pickle.loads(pickle.dumps(info)) == info
    assert hash(info) == hash(attrs.evolve(info))


def test_conflict_error_pickles_with_its_attributes(store):
    """A ConflictError crosses a process boundary intact."""
    store.save("t", chat(2).user("a"))
    with pytest.raises(ConflictError) as caught:
        store.save("t", chat(2).user("b"))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.thread_id, copy.stored_head, copy.attempted_head) == (
        caught.value.thread_id,
        caught.value.stored_head,
        caught.value.attempted_head,
    )


# -- opening ---------------------------------------------------------------------------


def test_store_urls_and_paths(tmp_path, monkeypatch):
    """A path is a SQLite file; no argument is ./convo.db."""
    monkeypatch.chdir(tmp_path)
    with Store() as default:
        default.save("t", chat(1))
    assert (tmp_path / "convo.db").exists()
    with Store(tmp_path / "p.db") as by_path, Store(str(tmp_path / "s.db")) as by_str:
        by_path.save("t", chat(1))
        by_str.save("t", chat(1))
        assert by_path.url.endswith("p.db")
        assert repr(by_str) == f"Store('sqlite+pysqlite:///{tmp_path / 's.db'}')"
    with Store("sqlite:///convo.db") as again:
        assert again.load("t") == chat(1)


def test_url_resolution():
    """postgresql:// means psycopg 3; async stores get the async drivers;
    passwords never show."""
    from convo.store._engine import resolve_url

    pg = resolve_url("postgresql://u:secret@h/db", asyncio=False)
    assert pg.url.drivername == "postgresql+psycopg"
    assert "secret" not in pg.url.render_as_string(hide_password=True)
    assert resolve_url("sqlite:///x.db", asyncio=True).url.drivername == "sqlite+aiosqlite"
    assert (
        resolve_url("sqlite+aiosqlite:///x.db", asyncio=False).url.drivername == "sqlite+pysqlite"
    )
    assert resolve_url("sqlite://", asyncio=False).memory
    assert resolve_url("sqlite:///file:x?mode=memory&uri=true", asyncio=False).memory
    assert not resolve_url("x.db", asyncio=False).memory


def test_unsupported_dialect_is_refused():
    """Only SQLite and PostgreSQL are supported, and the error says so."""
    from sqlalchemy.dialects import mysql

    from convo.store._sql import Statements

    with pytest.raises(StoreError, match="SQLite and PostgreSQL"):
        Statements(mysql.dialect())


def test_memory_store_is_private_to_its_object():
    """Two in-memory stores are two databases."""
    with Store("sqlite://") as one, Store("sqlite://") as two:
        one.save("t", chat(1))
        with pytest.raises(ThreadNotFoundError):
            two.load("t")


def test_database_file_survives_reopening(tmp_path: Path):
    """What one store saved, another store on the same file loads."""
    path = tmp_path / "db.sqlite"
    with Store(path) as first:
        first.save("t", tool_chat(), title="kept")
    with Store(path) as second:
        assert second.load("t") == tool_chat()
        assert second.info("t").title == "kept"
        assert second.verify("t") == 4

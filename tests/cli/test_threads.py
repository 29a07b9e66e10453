"""convo threads, show, tree, fork, delete, verify, gc and db, on a temp database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from convo import Conversation
from convo.compaction import compact_thread, compaction_link
from convo.store import Store, head_revision


def test_threads_lists_saved_threads(run: Any, seeded: Conversation, store: Store) -> None:
    """The table names each thread with its title and length; --json is one object a line."""
    store.fork("t1", at=2, new_id="t1b")
    result = run("threads")
    assert result.exit_code == 0, result.output
    assert "t1" in result.stdout and "first" in result.stdout and "t1b" in result.stdout
    rows = [json.loads(line) for line in run("threads", "--json").stdout.splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert by_id["t1"]["length"] == 4 and by_id["t1"]["title"] == "first"
    assert (by_id["t1b"]["forked_from"], by_id["t1b"]["forked_at"]) == ("t1", 2)


def test_threads_on_an_empty_database(run: Any, store: Store) -> None:
    """An empty (new) database is not an error."""
    result = run("threads")
    assert result.exit_code == 0 and "no threads yet" in result.stdout


def test_read_commands_never_create_a_database(run: Any, tmp_path: Path, error_line: Any) -> None:
    """threads/show/tree/export/verify/usage/db current on a typo'd --db: one error
    line naming the file, and no file is created."""
    typo = tmp_path / "typo.db"
    for args in (["threads"], ["show", "t1"], ["tree", "t1"], ["export", "t1"], ["verify"],
                 ["usage", "t1"], ["db", "current"]):
        result = run(*args, db_url=f"sqlite:///{typo}")
        assert result.exit_code == 1, (args, result.output)
        assert "no database at" in error_line(result) and "typo.db" in error_line(result)
    assert not typo.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_threads_without_the_default_database_is_friendly(run: Any, tmp_path: Path) -> None:
    """No ./convo.db yet: `convo threads` says how to start, and creates nothing."""
    result = run("threads", db_url="sqlite:///./convo.db")
    assert result.exit_code == 0 and "convo demo" in result.stdout
    assert not (tmp_path / "convo.db").exists()


def test_read_commands_leave_the_database_untouched(run: Any, seeded: Conversation,
                                                     store: Store, db: str) -> None:
    """The read commands open the database read-only: its bytes do not change."""
    import hashlib

    store.close()
    path = Path(db.removeprefix("sqlite:///"))
    before = hashlib.sha256(path.read_bytes()).digest()
    for args in (["threads"], ["show", "t1"], ["tree", "t1"], ["export", "t1"], ["verify"],
                 ["usage", "t1"], ["db", "current"]):
        assert run(*args).exit_code == 0, args
    assert hashlib.sha256(path.read_bytes()).digest() == before


def test_show_prints_turns(run: Any, seeded: Conversation) -> None:
    """show: index, role, origin, tokens, model, stop reason, content, and the system prompt."""
    result = run("show", "t1", "--width", "40", env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Be brief.", "human", "synthetic", "model", "end_turn", "claude-opus-4-6",
                 "Hello, Claude", "4 turns", "input tokens (estimate)", seeded.head_id):
        assert text in out, text
    header = next(line for line in out.splitlines() if "origin" in line)
    assert header.split() == ["#", "role", "origin", "tokens", "model", "stop", "content"]


def test_show_missing_thread_is_exit_3(run: Any, store: Store, error_line: Any) -> None:
    """A missing thread: one line on stderr, exit 3."""
    result = run("show", "nope")
    assert result.exit_code == 3
    assert error_line(result) == "error: no thread 'nope'"


def test_tree_draws_the_fork_tree(run: Any, seeded: Conversation, store: Store) -> None:
    """tree shows the root and every fork with where it forked."""
    store.fork("t1", at=2, new_id="t1b")
    store.fork("t1b", at=1, new_id="t1c")
    result = run("tree", "t1c")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("t1 (4 turns)")
    assert "t1b (2 turns) forked at turn 2" in result.stdout
    assert "t1c (1 turn) forked at turn 1" in result.stdout and "◀" in result.stdout
    assert run("tree", "nope").exit_code == 3


def _six_turns() -> Conversation:
    c = Conversation("Be brief.")
    for i in range(3):
        c = c.user(f"question {i}").assistant(f"answer {i}")
    return c


def test_tree_shows_what_a_compaction_summarises(run: Any, store: Store) -> None:
    """A compacted thread is drawn with the thread that keeps its original
    chain (compact_thread's archive) and how many turns the summary stands for;
    a fork sharing its compaction does not repeat the line."""
    store.save("long", _six_turns())
    compacted = compact_thread(store, "long", "Three questions were answered.", keep_tail=2)
    archive = f"long.before-compaction.{_six_turns().head_id.removeprefix('sha256:')[:12]}"
    assert compaction_link(compacted) is not None and store.load(archive) == _six_turns()
    store.fork("long", at=1, new_id="long-fork")
    result = run("tree", "long", env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("long (2 turns)")
    notes = [line for line in lines if "compacts" in line]
    assert len(notes) == 1, result.stdout
    assert notes[0].split("compacts ", 1)[1] == f"{archive} (summarises 4 of its 6 turns)"
    assert lines.index(notes[0]) < next(i for i, line in enumerate(lines) if "long-fork" in line)
    # Nothing compacted: no line; the archive itself is a thread of its own.
    assert "compacts" not in run("tree", archive).stdout
    # The archive gone (deleted): the line says so and names the head.
    store.delete(archive)
    gone = run("tree", "long", env={"COLUMNS": "160"}).stdout
    assert f"compacts {_six_turns().head_id[:19]}… (summarises 4 turns; no thread has" in gone


def test_fork_command(run: Any, seeded: Conversation, store: Store, error_line: Any) -> None:
    """fork --at N [--as NEW]; a taken id is exit 4, a bad N exit 1."""
    result = run("fork", "t1", "--at", "2", "--as", "b")
    assert result.exit_code == 0, result.output
    assert store.load("b") == seeded[:2]
    assert "-> b (2 turns)" in result.stdout
    assert run("fork", "t1", "--at", "-1").exit_code == 0
    assert store.load("t1-fork") == seeded[:3]
    assert run("fork", "t1", "--at", "1").exit_code == 0
    assert len(store.load("t1-fork-2")) == 1
    taken = run("fork", "t1", "--at", "1", "--as", "b")
    assert taken.exit_code == 4 and error_line(taken) == "error: thread 'b' already exists"
    bad = run("fork", "t1", "--at", "9", "--as", "c")
    assert bad.exit_code == 1 and "cannot fork thread 't1' at 9: it has 4 turns" in error_line(bad)
    assert run("fork", "t1").exit_code == 2  # --at is required: a usage error


def test_delete_and_gc(run: Any, seeded: Conversation, store: Store) -> None:
    """delete removes the thread; gc then removes its unreachable turns."""
    store.fork("t1", at=2, new_id="keep")
    assert run("delete", "t1").exit_code == 0
    assert run("delete", "t1").exit_code == 3
    result = run("gc")
    assert result.exit_code == 0 and "removed 2 unreachable turns" in result.stdout
    assert store.load("keep") == seeded[:2]
    assert "removed 0 unreachable turns" in run("gc").stdout


def tamper(db: str, turn_id: str) -> None:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as connection:
        connection.execute(
            "UPDATE turns SET content = ? WHERE id = ?", (json.dumps("Hello, Mallory"), turn_id)
        )


def test_verify(run: Any, db: str, seeded: Conversation, store: Store, error_line: Any) -> None:
    """verify: ok for intact threads; an altered turn is exit 5 with one line naming it."""
    store.save("t2", Conversation().user("other"))
    ok = run("verify")
    assert ok.exit_code == 0 and "ok: 2 threads, 5 turns verified" in ok.stdout
    assert "ok: 1 thread, 4 turns" in run("verify", "t1").stdout
    tamper(db, seeded[0].id)
    single = run("verify", "t1")
    assert single.exit_code == 5
    assert seeded[0].id in error_line(single) and "altered" in error_line(single)
    every = run("verify")
    assert every.exit_code == 5 and seeded[0].id in error_line(every)
    assert run("verify", "t2").exit_code == 0
    assert run("verify", "nope").exit_code == 3


def test_db_current_and_upgrade(run: Any, tmp_path: Path) -> None:
    """db current names the revision; db upgrade brings a new database to head."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    missing = run("db", "current", db_url=url)
    assert missing.exit_code == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "fresh.db").exists()
    (tmp_path / "fresh.db").write_bytes(b"")
    empty = run("db", "current", db_url=url)
    assert empty.exit_code == 0 and empty.stdout.startswith("- ")
    upgraded = run("db", "upgrade", db_url=url)
    assert upgraded.exit_code == 0 and head_revision() in upgraded.stdout
    current = run("db", "current", db_url=url)
    assert current.stdout.startswith(head_revision()) and "up to date" in current.stdout


def test_plain_path_is_a_sqlite_file(run: Any, tmp_path: Path) -> None:
    """--db accepts a path as well as a URL."""
    path = tmp_path / "plain.db"
    Store(path).close()
    assert run("threads", db_url=str(path)).exit_code == 0
    assert run("fork", "nope", "--at", "0", db_url=str(tmp_path / "other.db")).exit_code == 3
    assert (tmp_path / "other.db").exists()  # a write command creates the database


def test_verify_reports_a_damaged_turn_once_for_all_its_forks(
    run: Any, db: str, seeded: Conversation, store: Store, error_line: Any
) -> None:
    """A damaged turn shared by a thread and its five forks: one error line,
    naming every thread that reaches it."""
    for n in range(5):
        store.fork("t1", at=2, new_id=f"f{n}")
    tamper(db, seeded[0].id)
    every = run("verify")
    assert every.exit_code == 5
    line = error_line(every)  # exactly one line
    assert seeded[0].id in line
    for thread in ("t1", "f0", "f4"):
        assert thread in line


def test_delete_of_a_parent_says_what_happens_to_its_forks(
    run: Any, seeded: Conversation, store: Store
) -> None:
    """Deleting a thread with forks says the forks stay whole and stand alone."""
    store.fork("t1", at=2, new_id="t1b")
    result = run("delete", "t1")
    assert result.exit_code == 0, result.output
    assert "its 1 fork (t1b) keeps every turn and now stands alone" in result.stdout
    assert len(store.load("t1b")) == 2 and store.info("t1b").forked_from is None
    plain = run("delete", "t1b")
    assert plain.stdout.strip() == "deleted t1b"


def test_show_width_holds_when_piped(run: Any, store: Store) -> None:
    """--width N shows N characters of content even on a narrow pipe (folded)."""
    text = "abcdefghij" * 12
    store.save("long", Conversation().user(text))
    result = run("show", "long", "--width", "100", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    shown = "".join(
        line.split()[-1] for line in result.stdout.splitlines() if "abcdefghij"[:3] in line
    )
    assert text[:99] in shown
    assert "1 turn ·" in result.stdout


def test_search_command(run: Any, seeded: Conversation, store: Store) -> None:
    """convo search WORDS prints each matching turn with its threads; --json too."""
    store.fork("t1", at=3, new_id="t1b")
    result = run("search", "describe", "LLMs")
    assert result.exit_code == 0, result.output
    assert "t1, t1b #2 user (human)" in result.stdout and "[describe]" in result.stdout
    as_json = run("search", "tokens", "--json")
    (line,) = as_json.stdout.splitlines()
    assert json.loads(line)["threads"] == ["t1"]
    assert "no turn has" in run("search", "zebra").stdout
    scoped = run("search", "describe", "LLMs", "--thread", "t1b")
    assert "t1b #2 user (human)" in scoped.stdout and "t1," not in scoped.stdout
    assert "no turn has" in run("search", "describe", "--thread", "nope").stdout


def test_db_index_lets_a_read_only_search_past_the_tail_bound(
    run: Any, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error_line: Any
) -> None:
    """convo search opens the database read-only: past TAIL_SCAN_LIMIT
    unindexed turns it refuses with one line naming `convo db index` (and
    the library's index_search()); `convo db index` indexes them, and the
    same search then answers."""
    import convo.store._search as search_module

    monkeypatch.setattr(search_module, "TAIL_SCAN_LIMIT", 3)
    for i in range(3):
        store.save(f"t{i}", Conversation().user(f"walrus {i}").assistant("noted"))
    refused = run("search", "walrus")
    assert refused.exit_code == 1
    line = error_line(refused)
    assert "convo db index" in line and "index_search()" in line
    indexed = run("db", "index")
    assert indexed.exit_code == 0, indexed.output
    assert indexed.stdout.strip() == "indexed 6 turns for search"
    found = run("search", "walrus", "--json")
    assert found.exit_code == 0, found.output
    assert sorted(json.loads(line)["threads"][0] for line in found.stdout.splitlines()) == [
        "t0", "t1", "t2"
    ]
    again = run("db", "index")
    assert again.stdout.strip() == "indexed 0 turns for search"
    missing = run("db", "index", db_url=f"sqlite:///{tmp_path / 'nope.db'}")
    assert missing.exit_code == 1 and "no database at" in missing.stderr
    assert not (tmp_path / "nope.db").exists()

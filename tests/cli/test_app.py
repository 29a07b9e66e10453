"""Exit codes, one-line errors, a locked database, progress bars, global options."""

from __future__ import annotations

import io
import sqlite3
import time
from typing import Any

import pytest
from rich.console import Console

from convo import Conversation
from convo.cli.app import EXIT_CONFLICT, db_url, describe_error
from convo.cli.render import progress
from convo.errors import (
    ConflictError,
    ConvoError,
    DatabaseLockedError,
    HashMismatchError,
    NotSendableError,
    RuleError,
    ThreadExistsError,
    ThreadNotFoundError,
    TurnNotFoundError,
)
from convo.store import Store


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ThreadNotFoundError("t"), 3),
        (TurnNotFoundError("sha256:x"), 3),
        (ConflictError(thread_id="t", stored_head="a", attempted_head="b"), 4),
        (ThreadExistsError("t"), 4),
        (DatabaseLockedError("the SQLite database stayed locked by another writer"), 4),
        (HashMismatchError(turn_id="a", actual="b"), 5),
        (RuleError("roles-alternate", "two user turns", index=3), 1),
        (ConvoError("anything else"), 1),
    ],
)
def test_exit_codes(error: ConvoError, code: int) -> None:
    """Each error family has its documented exit code and a one-line message."""
    got, text = describe_error(error)
    assert got == code and "\n" not in text and text


def test_not_sendable_is_reported_as_its_first_violation() -> None:
    """A multi-line NotSendableError becomes one line: the first rule, and how many more."""
    error = NotSendableError([RuleError("a-rule", "first", index=1),
                              RuleError("b-rule", "second", index=2)])
    assert describe_error(error) == (1, "[a-rule] messages.1: first (and 1 more)")


def test_db_url() -> None:
    """A URL is kept; a path becomes a SQLite URL."""
    assert db_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert db_url("./x.db") == "sqlite:///./x.db"
    assert db_url("/tmp/x.db") == "sqlite:////tmp/x.db"


def test_locked_database_fails_with_one_line_after_the_busy_timeout(
    run: Any, db: str, store: Store, error_line: Any
) -> None:
    """Another connection holding the write lock: exit 4, one line, after --busy-timeout."""
    store.save("t1", Conversation().user("Hello").assistant("Hi"))
    store.close()
    holder = sqlite3.connect(db.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        start = time.monotonic()
        result = run("--busy-timeout", "0.2", "fork", "t1", "--at", "1", "--as", "t2")
        elapsed = time.monotonic() - start
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == EXIT_CONFLICT
    line = error_line(result)
    assert "locked" in line
    assert 0.2 <= elapsed < 5
    assert run("fork", "t1", "--at", "1", "--as", "t2").exit_code == 0


def test_busy_timeout_from_the_environment(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """CONVO_BUSY_TIMEOUT and CONVO_DB configure the command too."""
    monkeypatch.setenv("CONVO_BUSY_TIMEOUT", "-1")
    result = run("threads")
    assert result.exit_code == 2 and "busy-timeout" in result.stderr


def test_unexpected_errors_are_one_line(run: Any, monkeypatch: pytest.MonkeyPatch,
                                        error_line: Any, store: Store) -> None:
    """A bug still prints one line (CONVO_DEBUG=1 re-raises it)."""

    def boom(self: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Store, "threads", boom)
    result = run("threads")
    assert result.exit_code == 1
    assert error_line(result).startswith("error: RuntimeError: boom")
    monkeypatch.setenv("CONVO_DEBUG", "1")
    assert isinstance(run("threads").exception, RuntimeError)


def test_usage_errors_are_exit_2(run: Any) -> None:
    """Bad options are click usage errors: exit 2."""
    assert run("export", "t1", "--format", "yaml").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_help_and_version(run: Any) -> None:
    """--help lists the commands; --version prints the version."""
    result = run("--help")
    for name in ("demo", "threads", "show", "tree", "fork", "export", "import", "verify", "gc",
                 "db", "chat"):
        assert name in result.stdout
    assert "0.1.0" in run("--version").stdout


def test_progress_shows_only_on_a_terminal() -> None:
    """The progress helper draws on a terminal and stays silent otherwise."""
    quiet = io.StringIO()
    with progress(Console(file=quiet), "work", 2) as advance:
        advance(1)
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    console = Console(file=shown, force_terminal=True, width=60)
    with progress(console, "work", 2) as advance:
        advance(2)
    with progress(console, "spinning", None) as advance:
        advance(1)
    assert "work" in shown.getvalue()

"""Fixtures for the ``convo`` command tests: a temp database and a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from convo import Conversation
from convo.cli import main
from convo.store import Store

Run = Callable[..., Result]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite URL in a fresh temporary directory."""
    return f"sqlite:///{tmp_path / 'cli.db'}"


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    """A store on the same database the command uses."""
    with Store(db) as s:
        yield s


@pytest.fixture
def run(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``convo --db <db> ARGS``; stdout and stderr are kept apart."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, db_url: str | None = None, **kw: Any) -> Result:
        return runner.invoke(main, ["--db", db_url or db, *args], input=input, **kw)

    return invoke


def one_error_line(result: Result) -> str:
    """The single ``error: ...`` line a failing command prints on stderr."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def error_line() -> Callable[[Result], str]:
    """See ``one_error_line``."""
    return one_error_line


def response(text: str, stop: str = "end_turn", model: str = "claude-opus-4-6") -> dict[str, Any]:
    """A Messages API response with one text block."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 4},
    }


@pytest.fixture
def seeded(store: Store) -> Conversation:
    """Thread ``t1``: four turns, with a system prompt and a model reply."""
    conversation = (
        Conversation(system="Be brief.")
        .user("Hello, Claude")
        .assistant("Hello!")
        .user("Can you describe LLMs to me?")
        .append_response(response("Sure: they predict tokens."))
    )
    store.save("t1", conversation, title="first")
    return conversation


@pytest.fixture
def reply() -> Callable[..., dict[str, Any]]:
    """See ``response``."""
    return response

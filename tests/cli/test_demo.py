"""convo demo (in process and as the installed command) and a few real subprocess runs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from convo.cli import main
from convo.cli.demo import DEMO_THREADS, demo_png, demo_reply
from convo.images import image_size, sniff_media_type
from convo.store import Store


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"the demo tried to use the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_demo_runs_offline_and_twice(run: Any, db: str, no_network: None) -> None:
    """The demo needs no key and no network, prints its tour, and can run again."""
    first = run("demo", env={"COLUMNS": "120"})
    assert first.exit_code == 0, first.output
    out = first.stdout
    for text in ("few-shot", "synthetic", "streamed reply (", "[prefill-supported-by-model]",
                 "joined turn 'The answer is (C' (max_tokens)", "8x8 PNG", "get_weather",
                 "tool result sent", "demo-fork",
                 "replay on claude-sonnet-4-5 -> demo-replay: 5 requests, prefill dropped",
                 "the last request body", '"model": "claude-opus-4-6"', "fork tree",
                 "demo-replay (12 turns) forked at turn 3", "11 requests, all offline"):
        assert text in out, text
    second = run("demo")
    assert second.exit_code == 0, second.output
    with Store(db) as store:
        assert sorted(i.id for i in store.threads()) == sorted(DEMO_THREADS)
        for thread in DEMO_THREADS:
            store.verify(thread)
        assert store.history("demo").ids == ("demo", "demo-fork", "demo-replay")
        assert len(store.load("demo")) == 12
        assert store.gc() == 0  # running twice left nothing behind


def test_demo_defaults_to_its_own_file(run: Any, tmp_path: Path) -> None:  # run: chdir
    """Without --db on the command line the demo uses ./convo-demo.db."""
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "convo-demo.db").exists()
    assert not (tmp_path / "convo.db").exists()
    own = CliRunner().invoke(main, ["demo", "--db", str(tmp_path / "own.db")])
    assert own.exit_code == 0 and (tmp_path / "own.db").exists()


def test_demo_png_is_a_real_png() -> None:
    """The demo's image is a real 8x8 PNG."""
    data = demo_png()
    assert sniff_media_type(data) == "image/png" and image_size(data) == (8, 8)


def test_demo_reply_is_deterministic() -> None:
    """The scripted Claude answers the same request the same way."""
    payload = {"model": "m", "messages": [{"role": "user", "content": "hello?"}]}
    assert demo_reply(payload) == demo_reply(payload)
    assert demo_reply(payload)["content"][0]["text"].startswith("(scripted)")


def convo_command() -> list[str]:
    # The running interpreter's own script first: with an unactivated venv,
    # PATH's `convo` may be another installation entirely.
    beside = Path(sys.executable).parent / "convo"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("convo")
    if found is None:  # pragma: no cover - the package is installed in the test env
        return [sys.executable, "-c", "from convo.cli import main; main()"]
    return [found]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CONVO_"))}
    env["HOME"] = str(tmp_path)
    env["COLUMNS"] = "100"
    return env


def test_installed_command_runs_the_demo(tmp_path: Path) -> None:
    """`convo demo` from a fresh directory, then `convo tree demo` on its database."""
    env = clean_env(tmp_path)
    done = subprocess.run([*convo_command(), "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "fork tree" in done.stdout and done.stderr == ""
    tree = subprocess.run([*convo_command(), "--db", "convo-demo.db", "tree", "demo"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert tree.returncode == 0 and "demo-replay" in tree.stdout


def test_installed_command_errors_are_one_line(tmp_path: Path) -> None:
    """Real process: a missing thread is exit 3 and a missing API key exit 1, one line each."""
    env = clean_env(tmp_path)
    no_db = subprocess.run([*convo_command(), "--db", "x.db", "show", "nope"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert no_db.returncode == 1 and no_db.stderr.startswith("error: no database at x.db")
    assert not (tmp_path / "x.db").exists()  # a read command never creates one
    Store(tmp_path / "x.db").close()
    missing = subprocess.run([*convo_command(), "--db", "x.db", "show", "nope"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 3
    assert missing.stderr == "error: no thread 'nope'\n" and missing.stdout == ""
    no_key = subprocess.run([*convo_command(), "--db", "x.db", "chat", "t"], cwd=tmp_path,
                            env=env, input="Hello\n", capture_output=True, text=True, timeout=60,
                            check=False)
    assert no_key.returncode == 1
    assert no_key.stderr.count("\n") == 1 and "ANTHROPIC_API_KEY is not set" in no_key.stderr

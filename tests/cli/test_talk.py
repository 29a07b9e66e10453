"""convo chat: API key check, piped input through a scripted transport, /continue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convo.store import Store


def script(tmp_path: Path, replies: list[Any]) -> str:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(replies), encoding="utf-8")
    return f"scripted:{path}"


def test_chat_without_api_key_says_so(run: Any, store: Store, error_line: Any) -> None:
    """No ANTHROPIC_API_KEY: one clear line, exit 1, nothing saved."""
    result = run("chat", "t1", input="Hello\n")
    assert result.exit_code == 1
    assert error_line(result).startswith("error: ANTHROPIC_API_KEY is not set")
    assert store.threads() == []


def test_chat_saves_each_exchange(run: Any, store: Store, tmp_path: Path) -> None:
    """Each line is sent, the reply streamed to stdout, and the thread saved."""
    spec = script(tmp_path, ["Hello there!", "Twelve."])
    result = run("chat", "c1", "--system", "Be brief.", "--max-tokens", "64",
                 "--transport", spec, input="Hello\n\nHow many?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello there!\nTwelve.\n"
    conversation = store.load("c1")
    assert [t.text for t in conversation] == ["Hello", "Hello there!", "How many?", "Twelve."]
    assert conversation.system == "Be brief."
    assert store.info("c1").meta["model"] == "claude-opus-4-6"


def test_chat_quit_and_resume_a_thread(run: Any, store: Store, tmp_path: Path,
                                       reply: Any) -> None:
    """/quit stops; a later session continues the same thread with its model."""
    spec = script(tmp_path, [reply("One.", model="claude-haiku-4-5")])
    first = run("chat", "c2", "--model", "claude-haiku-4-5", "--transport", spec,
                input="Hi\n/quit\nnever sent\n")
    assert first.exit_code == 0 and len(store.load("c2")) == 2
    spec = script(tmp_path, ["Two."])
    second = run("chat", "c2", "--transport", spec, input="Again\n")
    assert second.exit_code == 0 and len(store.load("c2")) == 4
    requests_model = store.load("c2")[3].meta["model"]
    assert requests_model == "claude-haiku-4-5"


def test_chat_continue_after_max_tokens(run: Any, store: Store, tmp_path: Path,
                                        reply: Any) -> None:
    """A reply cut by max_tokens is flagged on stderr; /continue continues it."""
    spec = script(tmp_path, [reply("Once upon", "max_tokens"), " a time."])
    result = run("chat", "c3", "--transport", spec, input="Story\n/continue\n/continue\n")
    assert result.exit_code == 0, result.output
    assert "stopped: max_tokens; type /continue" in result.stderr
    assert "nothing to continue" in result.stderr
    turns = store.load("c3").turns
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[2].meta["continue"] is True  # claude-opus-4-6 refuses prefill


def test_chat_transport_error_is_one_line(run: Any, store: Store, tmp_path: Path,
                                          error_line: Any) -> None:
    """A script that runs out behaves like a failed request: one line, earlier turns kept."""
    spec = script(tmp_path, ["Only one."])
    result = run("chat", "c4", "--transport", spec, input="One\nTwo\n")
    assert result.exit_code == 1
    assert "the script has 1 replies" in error_line(result)
    assert len(store.load("c4")) == 2


@pytest.mark.parametrize("spec", ["bogus", "scripted:"])
def test_chat_unknown_transport(run: Any, spec: str, error_line: Any) -> None:
    """A bad --transport is a usage error."""
    result = run("chat", "c5", "--transport", spec)
    assert result.exit_code == 2 and "unknown transport" in error_line(result)


def test_chat_other_system_for_existing_thread(run: Any, tmp_path: Path, error_line: Any) -> None:
    """--system that differs from the stored thread's is refused."""
    assert run("chat", "c6", "--system", "A", "--transport", script(tmp_path, ["x"]),
               input="Hi\n").exit_code == 0
    result = run("chat", "c6", "--system", "B", "--transport", script(tmp_path, []))
    assert result.exit_code == 1 and "another system prompt" in error_line(result)


def test_chat_replays_a_cassette(run: Any, store: Store, tmp_path: Path) -> None:
    """--transport cassette:FILE replays recorded exchanges (streamed) without the network."""
    from convo.chat import Chat
    from convo.transport import CassetteTransport, ScriptedTransport

    path = tmp_path / "cassette.json"
    with CassetteTransport(path, mode="record", inner=ScriptedTransport(["Recorded hello."])) as tape:
        Chat(store, tape, "rec", model="claude-opus-4-6").send("Hello", stream=True)
    result = run("chat", "c7", "--transport", f"cassette:{path}", input="Hello\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Recorded hello.\n"
    assert store.load("c7").head_id == store.load("rec").head_id  # same content, same ids


def test_chat_respond_to_an_imported_thread(run: Any, store: Store, tmp_path: Path) -> None:
    """/respond sends a thread that ends with a user turn (e.g. an imported payload)."""
    payload = {"model": "claude-opus-4-6", "max_tokens": 9,
               "messages": [{"role": "user", "content": "Hello, Claude"}]}
    (tmp_path / "p.json").write_text(json.dumps(payload), encoding="utf-8")
    assert run("import", str(tmp_path / "p.json"), "--as", "c8").exit_code == 0
    result = run("chat", "c8", "--transport", script(tmp_path, ["Hello!"]), input="/respond\n")
    assert result.exit_code == 0 and result.stdout == "Hello!\n"
    assert [t.text for t in store.load("c8")] == ["Hello, Claude", "Hello!"]


def test_chat_survives_an_api_error(run: Any, store: Store, tmp_path: Path) -> None:
    """A failed request prints one error line and the session goes on: the
    next message is sent and saved; the exit code says a step failed."""
    broken_stream = [{"type": "ping"}]  # ends before message_stop: a StreamError
    spec = script(tmp_path, [broken_stream, "Fine now."])
    result = run("chat", "c9", "--transport", spec, input="First\nSecond\n")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "type your message again to retry" in errors[0]
    assert result.stdout.strip() == "Fine now."
    assert [t.text for t in store.load("c9")] == ["Second", "Fine now."]


def test_chat_slash_commands_stay_local(run: Any, store: Store, tmp_path: Path) -> None:
    """/foo is an unknown command: never sent, never saved; //foo sends '/foo'."""
    spec = script(tmp_path, ["Got it."])
    result = run("chat", "c10", "--transport", spec, input="/foo bar\n//foo bar\n")
    assert "unknown command /foo" in result.stderr and "nothing was sent" in result.stderr
    assert [t.text for t in store.load("c10")] == ["/foo bar", "Got it."]


def test_chat_speaks_in_cli_words(run: Any, store: Store, tmp_path: Path) -> None:
    """No library words (send(), chat.respond()) in what the command prints."""
    payload = {"model": "claude-opus-4-6", "max_tokens": 9,
               "messages": [{"role": "user", "content": "Hello, Claude"}]}
    (tmp_path / "p.json").write_text(json.dumps(payload), encoding="utf-8")
    assert run("import", str(tmp_path / "p.json"), "--as", "c11").exit_code == 0
    spec = script(tmp_path, ["Hi!"])
    result = run("chat", "c11", "--transport", spec, input="More\n/respond\n/respond\n")
    assert "type /respond to get the reply first" in result.stderr
    assert "nothing to respond to" in result.stderr
    assert "send()" not in result.stderr and "chat.respond" not in result.stderr
    assert [t.text for t in store.load("c11")] == ["Hello, Claude", "Hi!"]

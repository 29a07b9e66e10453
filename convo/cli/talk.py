"""``convo chat THREAD``: talk to the API, one saved exchange per line.

Reads lines from stdin (a prompt is shown on a terminal); each line is
sent with ``Chat.send(stream=True)`` and the reply is printed as it
arrives.  ``/quit`` or end of input stops; ``/continue`` continues a reply
cut off by ``max_tokens`` (or paused by the API); ``/respond`` sends the
thread as it stands (one that ends with a user turn, e.g. imported).

A line starting with ``/`` is a command, handled here and never sent
(``//text`` sends ``/text``).  A failed request, a broken rule or a lost
save prints one ``error:`` line in the user's words and the session goes
on; the exit code is 1 if any step failed.

The transport is the Messages API over HTTP and needs ``ANTHROPIC_API_KEY``.
A hidden ``--transport`` option replaces it for tests:
``scripted:FILE`` (a JSON list of replies for ``ScriptedTransport``) or
``cassette:FILE`` (replay a recorded cassette).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from convo.cli.app import App, fail, main, pass_app
from convo.cli.io import thread_info
from convo.errors import ConvoError

__all__ = ["DEFAULT_CHAT_MODEL", "chat", "make_transport"]

DEFAULT_CHAT_MODEL = "claude-opus-4-6"


def make_transport(spec: str | None, meta: Any = None) -> Any:
    """The transport ``--transport`` names (``None``: HTTP with the API key,
    and the betas and API version saved with the thread, ``meta``)."""
    if spec is None:
        if not os.environ.get("ANTHROPIC_API_KEY"):
            fail(
                "ANTHROPIC_API_KEY is not set: export your API key to chat with Claude "
                "(`convo demo` runs offline without one)"
            )
        from convo.transport import HTTPTransport

        headers: dict[str, Any] = {}
        if meta is not None and meta.get("betas"):
            headers["betas"] = [str(b) for b in meta["betas"]]
        if meta is not None and isinstance(meta.get("api_version"), str):
            headers["api_version"] = meta["api_version"]
        return HTTPTransport(**headers)
    kind, _, target = spec.partition(":")
    if kind == "scripted" and target:
        from convo.transport import ScriptedTransport

        replies = json.loads(Path(target).read_text(encoding="utf-8"))
        if not isinstance(replies, list):
            fail(f"{target}: a script is a JSON list of replies", 2)
        return ScriptedTransport(replies)
    if kind == "cassette" and target:
        from convo.transport import CassetteTransport

        return CassetteTransport(target, mode="replay")
    return fail(f"unknown transport {spec!r} (scripted:FILE or cassette:FILE)", 2)


@main.command()
@click.argument("thread")
@click.option("--model", help=f"The model (default: the thread's, else {DEFAULT_CHAT_MODEL}).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None,
              help="max_tokens (default: the thread's saved setting, else 1024).")
@click.option("--system", help="System prompt of a new thread.")
@click.option("--transport", "transport_spec", hidden=True, envvar="CONVO_TEST_TRANSPORT")
@pass_app
def chat(
    app: App,
    thread: str,
    model: str | None,
    max_tokens: int | None,
    system: str | None,
    transport_spec: str | None,
) -> None:
    """Chat with Claude on THREAD (needs ANTHROPIC_API_KEY); every exchange is saved.

    Type a message per line; `/continue` continues a cut-off reply;
    `/respond` sends a thread that ends with a user turn; `/quit` or end of
    input stops.
    """
    from convo.chat import Chat

    store = app.store()
    info = thread_info(store, thread)
    transport = make_transport(transport_spec, info.meta if info is not None else None)
    if model is None:
        stored = info.meta.get("model") if info is not None else None
        model = stored if isinstance(stored, str) else DEFAULT_CHAT_MODEL
    session = Chat(store, transport, thread, model=model, max_tokens=max_tokens, system=system)
    stdin = sys.stdin
    interactive = stdin.isatty()
    if interactive:
        app.err.print(
            f"[dim]thread [bold]{thread}[/] · {model} · {len(session.conversation)} turns · "
            "/continue, /respond, /quit[/]"
        )
    failed = False
    try:
        while True:
            if interactive:
                click.echo("you> ", nl=False, err=True)
            line = stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text == "/quit":
                break
            try:
                _step(app, session, text)
            except ConvoError as exc:
                failed = True
                click.echo(f"error: {_in_user_words(exc)}", err=True)
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
    if failed:
        raise click.exceptions.Exit(1)


COMMANDS = ("/continue", "/respond", "/quit")


def _step(app: App, session: Any, text: str) -> None:
    """One line: a local command, or a message to send."""
    if text.startswith("//"):
        text = text[1:]  # an escaped slash: a message, not a command
    elif text.startswith("/"):
        command = text.split()[0]
        if command not in COMMANDS:
            click.echo(
                f"error: unknown command {command}: the commands are {', '.join(COMMANDS)} "
                "(start a message with // to send a leading /); nothing was sent",
                err=True,
            )
            return
    head = session.conversation.head
    if text == "/respond" and (head is None or head.role == "assistant"):
        click.echo(
            "error: nothing to respond to: the thread does not end with a message "
            "waiting for a reply; type a message instead",
            err=True,
        )
        return
    if not text.startswith("/") and head is not None and head.role == "user":
        click.echo(
            "error: the thread ends with a message that has no reply yet: type /respond "
            "to get the reply first; your new message was not sent",
            err=True,
        )
        return
    _exchange(app, session, text)


def _in_user_words(exc: ConvoError) -> str:
    """The error as one line, with what to do next, in the CLI's own words."""
    from convo.errors import ConflictError, TransportError

    text = " ".join(str(exc).split())
    if isinstance(exc, TransportError):
        return f"{text} (nothing was saved: type your message again to retry)"
    if isinstance(exc, ConflictError):
        return (
            f"{text} (another program changed this thread: your message and its reply are "
            "stored; run `convo chat` again to continue from the latest turn)"
        )
    return text


def _exchange(app: App, session: Any, text: str) -> None:
    def on_text(delta: str) -> None:
        click.echo(delta, nl=False)

    if text == "/respond":
        turn = session.respond(stream=True, on_text=on_text)
    elif text == "/continue":
        if session.stop_reason == "pause_turn":
            turn = session.resume(stream=True, on_text=on_text)
        elif session.stop_reason == "max_tokens":
            turn = session.continue_(stream=True, on_text=on_text)
        else:
            app.err.print(f"[dim]nothing to continue (last stop: {session.stop_reason or '-'})[/]")
            return
    else:
        turn = session.send(text, stream=True, on_text=on_text)
    click.echo("")
    stop = turn.meta.get("stop_reason")
    usage = turn.meta.get("usage") or {}
    if stop in ("max_tokens", "pause_turn"):
        app.err.print(f"[yellow]stopped: {stop}; type /continue to go on[/]")
    elif stop == "tool_use":
        app.err.print("[yellow]the model asked for a tool; convo chat does not run tools[/]")
    elif stop not in ("end_turn", None):
        app.err.print(f"[yellow]stopped: {stop}[/]")
    if app.err.is_terminal:
        app.err.print(
            f"[dim]{stop} · in {usage.get('input_tokens', '-')} · "
            f"out {usage.get('output_tokens', '-')} · saved[/]"
        )

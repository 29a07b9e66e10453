"""``convo export`` and ``convo import``: threads to and from files.

The formats are defined in ``convo.cli.formats`` (and ``docs/cli.md``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import click
from rich.markup import escape

from convo.cli.app import App, fail, main, pass_app
from convo.cli.formats import EXPORT_FORMATS, export_jsonl, export_payload, read_import
from convo.cli.markdown import export_markdown
from convo.cli.render import progress
from convo.cli.threads import turns
from convo.conversation import Conversation
from convo.inputs import read_document

__all__ = ["DEFAULT_EXPORT_MODEL", "export", "import_", "request_defaults"]

DEFAULT_EXPORT_MODEL = "claude-opus-4-6"
DEFAULT_EXPORT_MAX_TOKENS = 1024


def thread_info(store: Any, thread: str) -> Any:
    """The ``ThreadInfo`` of ``thread`` (``None`` if the store does not list it)."""
    for info in store.threads():
        if info.id == thread:
            return info
    return None


def request_defaults(conversation: Conversation, meta: Any) -> tuple[str, int, dict[str, Any]]:
    """The model, max_tokens and other request fields a payload export uses:
    those an imported payload came with, else the thread's model, else the
    last reply's model."""
    request = dict(meta.get("request") or {}) if meta else {}
    model = request.pop("model", None) or (meta.get("model") if meta else None)
    max_tokens = request.pop("max_tokens", None) or DEFAULT_EXPORT_MAX_TOKENS
    request.pop("stream", None)
    if not isinstance(model, str):
        replies = [t.meta.get("model") for t in conversation.turns if t.origin == "model"]
        named = [m for m in replies if isinstance(m, str)]
        model = named[-1] if named else DEFAULT_EXPORT_MODEL
    return model, int(max_tokens), request


@main.command()
@click.argument("thread")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="jsonl",
              show_default=True, help="payload: the request body; jsonl: lossless; markdown: to read.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              default="-", help="Write to FILE instead of stdout.")
@click.option("--model", help="payload: the model to name (default: the thread's).")
@click.option("--max-tokens", type=click.IntRange(min=1), help="payload: max_tokens (default 1024).")
@pass_app
def export(
    app: App, thread: str, fmt: str, output: str, model: str | None, max_tokens: int | None
) -> None:
    """Write THREAD as a payload, JSONL or Markdown."""
    store = app.store(read_only=True)
    conversation = store.load(thread)
    info = thread_info(store, thread)
    title = info.title if info is not None else None
    meta = dict(info.meta) if info is not None else {}
    if fmt == "payload":
        default_model, default_max, params = request_defaults(conversation, meta)
        lines: Iterable[str] = [
            export_payload(
                conversation,
                model=model or default_model,
                max_tokens=max_tokens or default_max,
                params=params,
            )
        ]
        total = 1
    elif fmt == "jsonl":
        lines = export_jsonl(thread, conversation, title=title, meta=meta)
        total = len(conversation) + 1
    else:
        lines = export_markdown(thread, conversation, title=title)
        total = None
    if output == "-":
        _write(sys.stdout, lines)
        return
    path = Path(output)
    with path.open("w", encoding="utf-8", newline="\n") as handle, progress(
        app.err, f"exporting {thread}", total
    ) as advance:
        for line in lines:
            handle.write(line)
            advance(1)
    app.err.print(f"wrote {turns(len(conversation))} of [bold]{escape(thread)}[/] to {escape(str(path))} ({fmt})")


def _write(stream: IO[str], lines: Iterable[str]) -> None:
    for line in lines:
        stream.write(line)
    stream.flush()


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--as", "thread", metavar="THREAD",
              help="The thread id (default: the JSONL header's, else the file name).")
@click.option("--title", help="The thread's title.")
@pass_app
def import_(app: App, file: str, thread: str | None, title: str | None) -> None:
    """Import a payload JSON or a convo JSONL thread from FILE ('-': stdin).

    The history is validated turn by turn; the first broken rule is
    reported with its index (`error: [rule] messages.N: ...`, exit 1).
    Importing into an existing thread must extend it (exit 4 otherwise).
    """
    with progress(app.err, f"importing {file}", 3) as advance:
        text = _read_text(file)
        advance(1)
        imported = read_import(text)
        advance(1)
        thread_id = thread or imported.thread
        if thread_id is None:
            if file == "-":
                fail("a payload read from stdin needs --as THREAD", 2)
            thread_id = Path(file).stem
        store = app.store()
        before = thread_info(store, thread_id)
        info = store.save(
            thread_id,
            imported.conversation,
            title=title or imported.title,
            meta=imported.meta or None,
        )
        advance(1)
    total = len(imported.conversation)
    had = before.length if before is not None else 0
    added = info.length - had
    where = f"[bold]{escape(thread_id)}[/]"
    if before is not None and added == 0:
        app.out.print(
            f"nothing new: {where} already has these {turns(total)} ({imported.format}); "
            "nothing was written"
        )
    elif before is not None:
        app.out.print(
            f"imported {turns(added)} ({imported.format}) into {where}: "
            f"{turns(had)} were already there (now {turns(info.length)})"
        )
    else:
        app.out.print(f"imported {turns(total)} ({imported.format}) into new thread {where}")


def _read_text(file: str) -> str:
    # Bytes, then convo.inputs' decoding: a non-UTF-8 or oversized file is
    # a CodecError (one "error:" line, exit 1), not a UnicodeDecodeError.
    if file == "-":
        return read_document(sys.stdin.buffer, source="stdin")
    with Path(file).open("rb") as stream:
        return read_document(stream, source=file)

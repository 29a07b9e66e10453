"""Rich renderings shared by the commands: turn tables, thread lists, the
fork tree, abbreviated payloads, and progress bars that only show on a TTY.

Nothing here talks to a store or a transport: the commands pass in what
they loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from convo._frozen import thaw
from convo.cli.markdown import block_summary
from convo.conversation import Conversation
from convo.turns import Turn

__all__ = [
    "abbreviate",
    "compact_json",
    "payload_view",
    "progress",
    "threads_table",
    "token_counts",
    "tree_view",
    "turn_preview",
    "turns_table",
]

ROLE_STYLE = {"user": "cyan", "assistant": "magenta"}
ORIGIN_STYLE = {"human": "green", "model": "magenta", "synthetic": "yellow", "tool": "blue"}


def token_counts(conversation: Conversation) -> list[int | None]:
    """The estimated input tokens each turn adds (``None`` when
    ``convo.tokens`` is not available).

    ``convo.tokens.count`` caches per prefix, so this costs one pass.
    """
    try:
        from convo.tokens import count
    except ImportError:  # pragma: no cover - convo.tokens ships with convo
        return [None] * len(conversation)
    counts: list[int | None] = []
    previous = count(conversation.fork(0))
    for i in range(1, len(conversation) + 1):
        total = count(conversation.fork(i))
        counts.append(total - previous)
        previous = total
    return counts


def turn_preview(turn: Turn, width: int = 60) -> str:
    """The turn's blocks summarised on one line."""
    parts = [block_summary(b, width=width) for b in turn.blocks]
    text = " | ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def _stop(meta: Mapping[str, Any]) -> str:
    value = meta.get("stop_reason")
    if not isinstance(value, str):
        return "-"
    style = {"end_turn": "green", "tool_use": "blue", "max_tokens": "red", "pause_turn": "yellow"}
    return f"[{style.get(value, 'white')}]{value}[/]"


def turns_table(
    conversation: Conversation,
    *,
    title: str | None = None,
    tokens: Sequence[int | None] | None = None,
    start: int = 0,
    width: int = 60,
    models: bool = True,
) -> Table:
    """A table of turns: index, role, origin, tokens, model, stop reason,
    content (``models=False`` leaves the model column out)."""
    table = Table(
        title=title, title_justify="left", expand=True, pad_edge=False, box=box.SIMPLE_HEAD
    )
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("role", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    if models:
        table.add_column("model", no_wrap=True)
    table.add_column("stop", no_wrap=True)
    # Folded, not cut: --width characters of content are shown whatever the
    # terminal (or pipe) width, on as many lines as the column needs.
    table.add_column("content", overflow="fold", ratio=1)
    turns = conversation.turns
    for i in range(start, len(turns)):
        turn = turns[i]
        count = tokens[i] if tokens is not None and i < len(tokens) else None
        model = turn.meta.get("model")
        prefix = "[yellow](prefilled)[/] " if "prefix" in turn.meta else ""
        cells = [
            str(i),
            f"[{ROLE_STYLE[turn.role]}]{turn.role}[/]",
            f"[{ORIGIN_STYLE[turn.origin]}]{turn.origin}[/]",
            "-" if count is None else str(count),
        ]
        if models:
            cells.append(model if isinstance(model, str) else "-")
        cells += [_stop(turn.meta), prefix + _escape(turn_preview(turn, width))]
        table.add_row(*cells)
    return table


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "-" if value is None else str(value)


def threads_table(infos: Sequence[Any]) -> Table:
    """A table of ``ThreadInfo``-like objects (id, title, length, updated, fork origin)."""
    table = Table(expand=False, pad_edge=False, box=box.SIMPLE_HEAD)
    table.add_column("thread", style="bold")
    table.add_column("title")
    table.add_column("turns", justify="right")
    table.add_column("updated")
    table.add_column("forked from")
    for info in infos:
        parent = getattr(info, "forked_from", None)
        at = getattr(info, "forked_at", None)
        origin = "-" if parent is None else (f"{parent} @ {at}" if at is not None else str(parent))
        table.add_row(
            _escape(str(info.id)),
            _escape(getattr(info, "title", None) or "-"),
            str(getattr(info, "length", "-")),
            _when(getattr(info, "updated_at", None)),
            _escape(origin),
        )
    return table


def tree_view(
    root: str, children: Mapping[str, Sequence[tuple[str, int | None]]], lengths: Mapping[str, int],
    *, highlight: str | None = None, notes: Mapping[str, Sequence[str]] | None = None,
) -> Tree:
    """The fork tree as a rich ``Tree``.

    Args:
        root: the thread at the root.
        children: thread -> its forks as ``(thread, forked at turn)``.
        lengths: thread -> its number of turns.
        highlight: a thread to mark (the one asked about).
        notes: thread -> lines (rich markup) shown under it, before its
            forks (what a compaction summarises).
    """

    def label(thread: str, at: int | None) -> str:
        mark = " [bold yellow]◀[/]" if thread == highlight else ""
        where = "" if at is None else f" [dim]forked at turn {at}[/]"
        count = lengths.get(thread)
        size = "" if count is None else f" [dim]({count} turn{'s' if count != 1 else ''})[/]"
        return f"[bold]{_escape(thread)}[/]{size}{where}{mark}"

    tree = Tree(label(root, None), guide_style="dim")

    def grow(node: Tree, thread: str, seen: set[str]) -> None:
        for note in (notes or {}).get(thread, ()):
            node.add(note)
        for child, at in children.get(thread, ()):
            if child in seen:  # pragma: no cover - a store never records a fork cycle
                continue
            grow(node.add(label(child, at)), child, seen | {child})

    grow(tree, root, {root})
    return tree


def abbreviate(value: Any, *, limit: int = 48, text: int | None = None) -> Any:
    """A plain copy of a JSON value with long base64 ``data`` and
    ``signature`` strings shortened (for showing payloads); with ``text``,
    every other string longer than that is clipped too."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("data", "signature") and isinstance(item, str) and len(item) > limit:
                out[key] = f"{item[:limit // 2]}…[{len(item)} chars]"
            else:
                out[key] = abbreviate(item, limit=limit, text=text)
        return out
    if isinstance(value, (list, tuple)):
        return [abbreviate(v, limit=limit, text=text) for v in value]
    if text is not None and isinstance(value, str) and len(value) > text:
        return value[: text - 1] + "…"
    return thaw(value)


def compact_json(payload: Mapping[str, Any], *, text: int = 40, width: int | None = None) -> str:
    """A payload as JSON with one line per top-level field and per message,
    long strings clipped (what the demo shows); with ``width``, lines longer
    than that are cut with an ellipsis (a picture, no longer JSON)."""
    lines = ["{"]
    items = list(payload.items())
    for k, (key, value) in enumerate(items):
        comma = "," if k < len(items) - 1 else ""
        if key == "messages" and isinstance(value, list):
            lines.append('  "messages": [')
            for j, message in enumerate(value):
                inner = "," if j < len(value) - 1 else ""
                short = abbreviate(message, limit=16, text=text)
                lines.append("    " + json.dumps(short, ensure_ascii=False) + inner)
            lines.append("  ]" + comma)
        else:
            short = abbreviate(value, limit=16, text=text)
            lines.append(f"  {json.dumps(key)}: {json.dumps(short, ensure_ascii=False)}{comma}")
    lines.append("}")
    if width is not None:
        lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    return "\n".join(lines)


def payload_view(
    payload: Mapping[str, Any], *, compact: bool = False, width: int | None = None
) -> Syntax:
    """A payload as highlighted, abbreviated JSON (see ``compact_json``)."""
    if compact:
        text = compact_json(payload, width=width)
    else:
        text = json.dumps(abbreviate(payload), ensure_ascii=False, indent=2)
    return Syntax(text, "json", theme="ansi_dark", background_color="default", word_wrap=True)


@contextmanager
def progress(
    console: Console, description: str, total: int | None
) -> Iterator[Callable[..., None]]:
    """Yield ``advance(n)``; shows a rich progress bar on ``console`` only
    when it is a terminal (a spinner when ``total`` is ``None``)."""
    if not console.is_terminal:

        def nothing(n: int = 1) -> None:
            pass

        yield nothing
        return
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance

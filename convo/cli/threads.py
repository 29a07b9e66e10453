"""Commands over stored threads: threads, show, tree, fork, delete,
verify, gc, and ``db upgrade|current``."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.panel import Panel

from convo.chat._core import _unique  # one naming rule for forks, CLI or Chat
from convo.cli.app import DEFAULT_DB, EXIT_INTEGRITY, App, describe_error, fail, main, pass_app
from convo.cli.render import progress, threads_table, token_counts, tree_view, turns_table
from convo.errors import HashMismatchError, TurnNotFoundError

__all__ = ["compaction_notes", "db", "delete", "fork", "gc", "search", "show", "threads", "tree", "tree_of", "verify"]


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def threads(app: App, as_json: bool) -> None:
    """List the threads, most recently updated first."""
    if app.database_missing() and app.db == DEFAULT_DB:
        if not as_json:
            app.out.print(
                "no threads yet (no database at ./convo.db): try `convo demo` or "
                "`convo chat THREAD`"
            )
        return
    infos = app.store(read_only=True).threads()
    if as_json:
        import json

        for info in infos:
            click.echo(json.dumps(info.to_dict(), ensure_ascii=False))
        return
    if not infos:
        app.out.print("no threads yet: try `convo demo` or `convo chat THREAD`")
        return
    app.out.print(threads_table(infos))


@main.command()
@click.argument("thread")
@click.option("--width", type=click.IntRange(min=20), default=70, show_default=True,
              help="Characters of content shown per turn.")
@pass_app
def show(app: App, thread: str, width: int) -> None:
    """Show a thread's turns: role, origin, tokens, model, stop reason."""
    store = app.store(read_only=True)
    conversation = store.load(thread)
    info = _info(store, thread)
    counts = token_counts(conversation)
    title = f"[bold]{escape(thread)}[/]"
    if info is not None and info.title:
        title += f" · {escape(info.title)}"
    if conversation.system is not None:
        system = conversation.system
        text = system if isinstance(system, str) else " ".join(b.text for b in system)
        app.out.print(Panel(escape(text), title="system", title_align="left", expand=False))
    app.out.print(turns_table(conversation, title=title, tokens=counts, width=width))
    known = [c for c in counts if c is not None]
    total = f"~{sum(known)} input tokens (estimate)" if known else "tokens: -"
    head = conversation.head_id or "-"
    app.out.print(f"[dim]{turns(len(conversation))} · {total} · head {head}[/]")


def turns(n: int) -> str:
    """``"1 turn"``, ``"3 turns"``."""
    return f"{n} turn{'s' if n != 1 else ''}"


def _info(store: Any, thread: str) -> Any:
    for info in store.threads():
        if info.id == thread:
            return info
    return None


def tree_of(
    history: Any, highlight: str | None = None, notes: dict[str, list[str]] | None = None
) -> Any:
    """The rich Tree of a ``ThreadTree`` (``notes``: lines under a thread)."""
    children: dict[str, list[tuple[str, int | None]]] = {}
    lengths: dict[str, int] = {}
    for node in history.walk():
        lengths[node.info.id] = node.info.length
        children[node.info.id] = [(c.info.id, c.info.forked_at) for c in node.children]
    return tree_view(history.info.id, children, lengths, highlight=highlight, notes=notes)


def compaction_notes(store: Any, history: Any) -> dict[str, list[str]]:
    """thread -> ``"compacts ARCHIVE (...)"`` for every thread of the tree
    whose chain starts with a compaction (``convo.compaction``), naming the
    thread(s) whose head is the compacted chain's original head (where
    ``compact_thread`` archives it).  A fork that shares its parent's first
    turn shares its compaction too: only the parent gets the line."""
    from convo.compaction import compaction_link

    notes: dict[str, list[str]] = {}
    firsts: dict[str, str | None] = {}
    parents: dict[str, str] = {}
    by_head: dict[str, list[Any]] | None = None
    for node in history.walk():
        info = node.info
        parents.update((child.info.id, info.id) for child in node.children)
        first = store.load(info.id, upto=1) if info.length else None
        firsts[info.id] = first.head_id if first is not None else None
        link = compaction_link(first) if first is not None else None
        parent = parents.get(info.id)
        if link is None or (parent is not None and firsts.get(parent) == firsts[info.id]):
            continue
        if by_head is None:
            by_head = {}
            for other in store.threads():
                by_head.setdefault(other.head_id or "", []).append(other)
        head = link.get("compacted_head")
        summarised = link.get("summarised_turns")
        count = str(summarised) if isinstance(summarised, int) else "?"
        archives = [a for a in by_head.get(head, []) if a.id != info.id] if isinstance(head, str) else []
        if archives:
            for archive in archives:
                notes.setdefault(info.id, []).append(
                    f"[cyan]compacts[/] [bold]{escape(archive.id)}[/] "
                    f"[dim](summarises {count} of its {archive.length} turns)[/]"
                )
        else:
            where = escape(head[:19]) + "…" if isinstance(head, str) else "?"
            notes.setdefault(info.id, []).append(
                f"[cyan]compacts[/] {where} [dim](summarises {count} turns; no thread "
                "has that chain's head)[/]"
            )
    return notes


@main.command()
@click.argument("thread")
@pass_app
def tree(app: App, thread: str) -> None:
    """Draw the fork tree THREAD belongs to, with what each compacted
    thread summarises (the thread that keeps the original chain)."""
    store = app.store(read_only=True)
    history = store.history(thread)
    app.out.print(tree_of(history, highlight=thread, notes=compaction_notes(store, history)))


@main.command()
@click.argument("thread")
@click.option("--at", "at", type=int, required=True,
              help="Keep the first N turns (negative: drop from the end).")
@click.option("--as", "new_id", metavar="NEW", help="The new thread's id (default THREAD-fork).")
@pass_app
def fork(app: App, thread: str, at: int, new_id: str | None) -> None:
    """Fork THREAD after its first N turns into a new thread."""
    store = app.store()
    if new_id is None:
        taken = {info.id for info in store.threads()}
        new_id = _unique(f"{thread}-fork", taken)
    info = store.fork(thread, at=at, new_id=new_id)
    app.out.print(f"forked [bold]{escape(thread)}[/] at turn {info.forked_at} -> "
                  f"[bold]{escape(info.id)}[/] ({turns(info.length)})")


@main.command()
@click.argument("thread")
@pass_app
def delete(app: App, thread: str) -> None:
    """Delete THREAD (its turns stay until `convo gc`).

    Its forks are kept whole (they share the turns, not the thread): each
    becomes a thread of its own, no longer "forked from" THREAD.
    """
    store = app.store()
    node = store.history(thread).find(thread)
    forks = [child.info.id for child in node.children] if node is not None else []
    store.delete(thread)
    app.out.print(f"deleted [bold]{escape(thread)}[/]")
    if forks:
        names = ", ".join(escape(f) for f in forks)
        app.out.print(
            f"its {len(forks)} fork{'s' if len(forks) != 1 else ''} ({names}) "
            f"{'keep' if len(forks) != 1 else 'keeps'} every turn and now "
            f"{'stand' if len(forks) != 1 else 'stands'} alone (no longer forked from "
            f"{escape(thread)})"
        )


@main.command()
@click.argument("thread", required=False)
@pass_app
def verify(app: App, thread: str | None) -> None:
    """Recompute every turn hash of THREAD (default: of every thread).

    Exits 5 when a turn no longer hashes to its id.
    """
    store = app.store(read_only=True)
    ids = [thread] if thread is not None else [info.id for info in store.threads()]
    # One line per damaged turn: a turn shared by a thread and its forks is
    # reported once, naming every thread that reaches it.
    damaged: dict[str, tuple[str, list[str]]] = {}
    count = 0
    with progress(app.err, "verifying", len(ids)) as advance:
        for thread_id in ids:
            try:
                count += _verified(store.verify(thread_id), store, thread_id)
            except (HashMismatchError, TurnNotFoundError) as exc:
                if thread is not None:
                    raise
                key = getattr(exc, "turn_id", None) or thread_id
                line, threads = damaged.setdefault(key, (describe_error(exc)[1], []))
                threads.append(thread_id)
            advance(1)
    if damaged:
        for line, threads in damaged.values():
            also = f" (threads: {', '.join(threads)})" if len(threads) > 1 else ""
            click.echo(f"error: {line}{also}", err=True)
        raise click.exceptions.Exit(EXIT_INTEGRITY)
    app.out.print(
        f"ok: {len(ids)} thread{'s' if len(ids) != 1 else ''}, {turns(count)} verified"
    )


def _verified(result: Any, store: Any, thread_id: str) -> int:
    if isinstance(result, int):
        return result
    return len(store.load(thread_id))


@main.command()
@pass_app
def gc(app: App) -> None:
    """Delete the turns no thread reaches any more."""
    with progress(app.err, "collecting unreachable turns", None):
        removed = app.store().gc()
    app.out.print(f"removed {removed} unreachable turn{'s' if removed != 1 else ''}")


@main.group()
def db() -> None:
    """Database schema and indexes: `convo db upgrade`, `convo db current`, `convo db index`."""


@db.command()
@pass_app
def upgrade(app: App) -> None:
    """Upgrade the database schema to this convo's revision."""
    from convo.store import upgrade as do_upgrade

    revision = do_upgrade(app.db)
    app.out.print(f"database at revision {revision if revision else 'head'}")


@db.command()
@pass_app
def current(app: App) -> None:
    """Print the database's schema revision (and this convo's)."""
    from convo.store._open import read_only_revision
    from convo.store.migrate import head_revision

    revision = read_only_revision(app.db)
    head = head_revision()
    state = "up to date" if revision == head else "needs `convo db upgrade`"
    if revision is None:
        state = "no convo schema yet (created by the first command that writes)"
    click.echo(f"{revision or '-'} (convo head {head}: {state})")


@db.command()
@pass_app
def index(app: App) -> None:
    """Index the turns saved since the last search (SQLite; `convo search` reads
    the database without writing, so it cannot)."""
    if app.database_missing():
        fail(f"no database at {app.db}: nothing to index")
    with progress(app.err, "indexing turns for search", None):
        count = app.store().index_search()
    app.out.print(f"indexed {count} turn{'s' if count != 1 else ''} for search")


@main.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many turns.")
@click.option("--thread", "scope", multiple=True, metavar="THREAD",
              help="Search only this thread (repeat for several).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def search(
    app: App, words: tuple[str, ...], limit: int, scope: tuple[str, ...], as_json: bool
) -> None:
    """Find the turns whose text has every one of WORDS (full-text search)."""
    hits = app.store(read_only=True).search(
        " ".join(words), limit=limit, threads=scope or None
    )
    if as_json:
        import json

        for hit in hits:
            click.echo(json.dumps(hit.to_dict(), ensure_ascii=False))
        return
    if not hits:
        app.out.print(f"no turn has {escape(' '.join(words))!r}")
        return
    for hit in hits:
        where = ", ".join(escape(t) for t in hit.threads)
        app.out.print(
            f"[bold]{where}[/] #{hit.index} [dim]{hit.role} ({hit.origin})[/] "
            f"{escape(' '.join(hit.snippet.split()))}"
        )

"""The store's operations, written once over a ``Tx``.

Each public operation of ``Store``/``AsyncStore`` is one function here that
runs inside one transaction (``run`` opens and closes it).  ``Store`` calls
them on a pooled DBAPI connection; ``AsyncStore`` calls the very same
functions inside ``AsyncConnection.run_sync``.  Operations return values;
an error that must not roll the transaction back (a lost compare-and-set:
the attempted turns stay stored) is *returned* and raised after commit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Dialect
from sqlalchemy.exc import DBAPIError

from convo.conversation import Conversation
from convo.errors import (
    ConflictError,
    ForkPointError,
    HashMismatchError,
    StoreError,
    ThreadExistsError,
    ThreadNotFoundError,
    TurnNotFoundError,
)
from convo.store._info import ThreadInfo, ThreadTree
from convo.store._rows import (
    ThreadRow,
    frozen_meta_from_text,
    info_from_row,
    key_text,
    length_from_depth,
    links_newest_first,
    meta_from_text,
    meta_to_text,
    storage_key,
    system_from_text,
    system_to_text,
    turn_params,
)
from convo.store._sql import PROBE_SIZES, Statements, Tx
from convo.turns import Turn

__all__ = [
    "Chain",
    "Heads",
    "delete",
    "fork",
    "gc",
    "history",
    "info",
    "load",
    "load_chain",
    "remember",
    "remember_loaded",
    "run",
    "run_pooled",
    "save",
    "threads",
    "to_conversation",
    "verify_chain",
]

T = TypeVar("T")

Chain = tuple[bytes | None, str | None, list[Any]]
"""What a thread read returns: ``(head_key, system_text, chain rows)``."""


def run(
    dbapi_connection: Any,
    statements: Statements,
    error: type[Exception],
    op: Callable[[Tx], T],
    *,
    write: bool,
) -> T:
    """Run ``op`` in one transaction on ``dbapi_connection``.

    Commits when ``op`` returns, rolls back when it raises.
    """
    tx = Tx(dbapi_connection, statements, error)
    try:
        tx.begin(write=write)
        result = op(tx)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    finally:
        tx.close()
    return result


def run_pooled(
    pooled: Any,
    dialect: Dialect,
    statements: Statements,
    op: Callable[[Tx], T],
    *,
    write: bool,
) -> T:
    """``run`` on a pooled connection; a connection the database dropped is
    invalidated (the pool replaces it) and the error marked
    ``connection_invalidated`` so that the caller may retry once."""
    dbapi_connection = pooled.dbapi_connection
    try:
        return run(dbapi_connection, statements, dialect.loaded_dbapi.Error, op, write=write)
    except DBAPIError as exc:
        if dialect.is_disconnect(exc.orig, dbapi_connection, None):  # type: ignore[arg-type]
            exc.connection_invalidated = True
            pooled.invalidate(exc)
        raise


# -- save ------------------------------------------------------------------


class _Walker:
    """The conversation's turns newest first, walked lazily and remembered,
    so that a save touches only the turns it needs."""

    __slots__ = ("_iter", "_seen")

    def __init__(self, conversation: Conversation) -> None:
        self._iter = links_newest_first(conversation)
        self._seen: list[tuple[Turn, int]] = []

    def __iter__(self) -> Iterator[tuple[Turn, int]]:
        yield from self._seen
        for link in self._iter:
            self._seen.append(link)
            yield link

    def since(self, turn_id: str) -> list[tuple[Turn, int]] | None:
        """The turns newer than ``turn_id`` (newest first), or ``None`` when
        ``turn_id`` is not one of the conversation's turns."""
        for i, (turn, _) in enumerate(self):
            if turn.id == turn_id:
                return self._seen[:i]
        return None


Row = dict[str, Any]


def _rows_after(
    newest_first: list[tuple[Turn, int]], parent_key: bytes | None, stamp: Any
) -> list[Row]:
    """The rows of turns that follow the row ``parent_key``, oldest first."""
    rows: list[Row] = []
    for turn, length in reversed(newest_first):
        key = storage_key(parent_key, turn)
        rows.append(
            turn_params(turn, key=key, parent_key=parent_key, depth=length - 1, created_at=stamp)
        )
        parent_key = key
    return rows


def _store_missing(tx: Tx, rows: list[Row]) -> None:
    """Insert the rows (a whole chain, oldest first) the database lacks.

    A row is only ever stored after its parent, so the stored rows of a chain
    are a prefix of it: probe newest first, in growing batches, until one
    key is found; everything newer is missing.
    """
    missing = 0
    step = 0
    end = len(rows)
    while end > 0:
        want = PROBE_SIZES[min(step, len(PROBE_SIZES) - 1)]
        step += 1
        batch = [rows[i]["key"] for i in range(end - 1, max(end - want, 0) - 1, -1)]
        size = next(s for s in PROBE_SIZES if s >= len(batch))
        params = {f"p{i}": batch[min(i, len(batch) - 1)] for i in range(size)}
        found = {row[0] for row in tx.rows(tx.s.probes[size], params)}
        if found:
            missing += next(i for i, key in enumerate(batch) if key in found)
            break
        missing += len(batch)
        end -= len(batch)
    tx.many(tx.s.turn_insert, rows[len(rows) - missing :])


def _with_head(tx: Tx, row: ThreadRow) -> ThreadRow:
    """``row`` with its head's id and depth, read again if the join missed
    them (see ``Statements.head_turn``)."""
    if row.head_key is None or row.head_id is not None:
        return row
    head = tx.first(tx.s.head_turn, {"key": row.head_key})
    if head is None:
        raise TurnNotFoundError(key_text(row.head_key))
    return row._replace(head_id=head[0], depth=head[1])


Heads = dict[str, tuple[str, bytes]]
"""Thread id -> ``(head Turn.id, head row key)`` as last seen by this store
(a hint: the fast path's compare-and-set checks it against the database)."""

_MAX_HEADS = 4096


def remember(heads: Heads | None, thread_id: str, head_id: str | None, key: bytes | None) -> None:
    """Note a thread's head for the next save's fast path."""
    if heads is None:
        return
    if head_id is None or key is None:
        heads.pop(thread_id, None)
        return
    if len(heads) >= _MAX_HEADS:
        heads.clear()
    heads[thread_id] = (head_id, key)


def _advance(
    tx: Tx,
    heads: Heads,
    thread_id: str,
    conversation: Conversation,
    walker: _Walker,
    system: str | None,
    title: str | None,
    meta_text: str | None,
    stamp: Any,
    now: datetime,
) -> ThreadInfo | None:
    """The fast path of a fast-forward: when the head this store last saw
    for the thread is one of the conversation's turns, key the new turns
    from its row and move the head with one compare-and-set UPDATE (BEGIN,
    UPDATE ... RETURNING, INSERT, COMMIT: no locking SELECT).  ``None``
    (nothing written) when the hint does not apply or the thread moved."""
    hint = heads.get(thread_id)
    if hint is None:
        return None
    seen_id, seen_key = hint
    if seen_id == conversation.head_id:
        return None  # nothing new: the full path decides what (not) to write
    new = walker.since(seen_id)
    if not new:
        return None
    s = tx.s
    rows = _rows_after(new, seen_key, stamp)
    head_key = rows[-1]["key"]
    found = tx.first(
        s.thread_advance,
        {
            "tid": thread_id,
            "old_head": seen_key,
            "system": system,
            "head_key": head_key,
            "title": title,
            "meta": meta_text,
            "updated_at": stamp,
        },
    )
    if found is None:
        return None
    tx.many(s.turn_insert, rows)
    remember(heads, thread_id, conversation.head_id, head_key)
    version, new_title, new_meta, created_at, forked_from, forked_at = found
    return ThreadInfo(
        id=thread_id,
        head_id=conversation.head_id,
        length=len(conversation),
        title=new_title,
        meta=frozen_meta_from_text(new_meta),
        version=version,
        created_at=s.ts_from(created_at),
        updated_at=now,
        forked_from=forked_from,
        forked_at=forked_at,
    )


def save(
    tx: Tx,
    thread_id: str,
    conversation: Conversation,
    *,
    title: str | None,
    meta: Mapping[str, Any] | None,
    replace_system: bool,
    now: datetime,
    expected_head: str | None = None,
    heads: Heads | None = None,
) -> ThreadInfo | ConflictError:
    """Fast-forward ``thread_id`` to ``conversation`` (see ``Store.save``);
    with ``expected_head``, move it there iff that is the stored head.

    ``heads`` remembers the head each thread had when this process last
    saved or loaded it; a save that extends that head tries the fast path
    first (``_advance``), and falls back to the full one, in the same
    transaction, when the thread has moved since.
    """
    s = tx.s
    system = system_to_text(conversation)
    meta_text = None if meta is None else meta_to_text(meta)
    head_id = conversation.head_id
    walker = _Walker(conversation)
    stamp = s.ts(now)
    whole: list[Row] | None = None

    if heads is not None and expected_head is None and not replace_system:
        advanced = _advance(
            tx, heads, thread_id, conversation, walker, system, title, meta_text, stamp, now
        )
        if advanced is not None:
            return advanced

    def store_all() -> bytes | None:
        # Every row of the conversation, keyed from the root: O(length)
        # hashing, O(new turns) queries.  New threads, conflicts, leases.
        nonlocal whole
        if whole is None:
            whole = _rows_after(list(walker), None, stamp)
            _store_missing(tx, whole)
        return whole[-1]["key"] if whole else None

    def conflict(stored_head: str | None) -> ConflictError:
        store_all()
        return ConflictError(thread_id=thread_id, stored_head=stored_head, attempted_head=head_id)

    for _ in range(3):
        found = tx.first(s.thread_for_update, {"tid": thread_id})
        if found is None:
            if expected_head is not None:
                return conflict(None)
            head_key = store_all()
            created = tx.count(
                s.thread_insert,
                {
                    "id": thread_id,
                    "head_key": head_key,
                    "system": system,
                    "title": title,
                    "meta": "{}" if meta_text is None else meta_text,
                    "version": 1,
                    "forked_from_thread": None,
                    "forked_at_turn": None,
                    "created_at": stamp,
                    "updated_at": stamp,
                },
            )
            if created:
                remember(heads, thread_id, head_id, head_key)
                return ThreadInfo(
                    id=thread_id,
                    head_id=head_id,
                    length=len(conversation),
                    title=title,
                    meta=meta if meta is not None else {},
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            # PostgreSQL: another transaction created the thread since our
            # SELECT; the row is committed now, so read it again.
            continue

        row = _with_head(tx, ThreadRow(*found))
        stored_head = row.head_id
        if row.system != system and not replace_system:
            error = conflict(stored_head)
            error.add_note(
                "the system prompt differs from the stored one: save with "
                "replace_system=True to change it, or under a new thread id"
            )
            return error
        if expected_head is not None:
            # A compare-and-set on the head ("force with lease"): the new
            # head need not descend from the old one.
            if stored_head != expected_head:
                return conflict(stored_head)
            head_key = store_all()
        elif stored_head is None:
            head_key = store_all()  # an empty thread: the rows may exist already
        else:
            new = walker.since(stored_head)
            if new is None:
                return conflict(stored_head)
            # Fast-forward: only the turns after the stored head, keyed from
            # its row (the stored prefix keeps its annotations).
            rows = _rows_after(new, row.head_key, stamp)
            tx.many(s.turn_insert, rows)
            head_key = rows[-1]["key"] if rows else row.head_key

        new_title = row.title if title is None else title
        new_meta = row.meta if meta_text is None else meta_text
        if (
            head_key == row.head_key
            and row.system == system
            and new_title == row.title
            and new_meta == row.meta
        ):
            remember(heads, thread_id, row.head_id, row.head_key)
            return info_from_row(row, ts=s.ts_from)
        changed = tx.count(
            s.thread_update,
            {
                "tid": thread_id,
                "expected": row.version,
                "head_key": head_key,
                "system": system,
                "title": new_title,
                "meta": new_meta,
                "updated_at": stamp,
            },
        )
        if changed != 1:
            continue  # unreachable under the row lock; re-read if it happens
        remember(heads, thread_id, head_id, head_key)
        return ThreadInfo(
            id=thread_id,
            head_id=head_id,
            length=len(conversation),
            title=new_title,
            meta=meta_from_text(new_meta),
            version=row.version + 1,
            created_at=s.ts_from(row.created_at),
            updated_at=now,
            forked_from=row.forked_from,
            forked_at=row.forked_at,
        )
    raise StoreError(f"thread {thread_id!r} kept changing while it was being saved")


# -- reading ---------------------------------------------------------------


def load_chain(tx: Tx, thread_id: str) -> Chain:
    """The head key, system prompt and chain rows (oldest first) of a thread."""
    s = tx.s
    found = tx.first(s.thread_system, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    head_key, system = found
    rows = [] if head_key is None else tx.rows(s.chain, {"head": head_key})
    return head_key, system, rows


def _check_complete(thread_id: str, head_key: bytes | None, rows: list[Any]) -> None:
    """The walk from the head reached a first turn, and depths order it."""
    if head_key is None:
        return
    if not rows:
        raise TurnNotFoundError(key_text(head_key))
    if rows[-1][0] != head_key:
        raise StoreError(f"thread {thread_id!r}: the stored depths of its turns are inconsistent")
    if rows[0][2] is not None:
        raise TurnNotFoundError(key_text(rows[0][2]))


_FULL = (1, 4, 5, 6, 7)
"""Where id, role, origin, content and meta sit in a ``CHAIN_COLUMNS`` row."""
_LEAN = (1, 2, 3, 4, 5)
"""... and in a ``LEAN_COLUMNS`` row."""


def _turns(rows: list[Any], at: tuple[int, int, int, int, int] = _FULL) -> list[Turn]:
    """Lazy turns from chain rows, oldest first (a turn's parent id is the id
    of the row before it).  The hot loop of ``load``: kept flat."""
    make = Turn.from_stored
    i, r, o, c, m = at
    parents = [None, *(row[i] for row in rows)]
    return [
        make(
            id=row[i],
            parent_id=parent,
            role=row[r],
            origin=row[o],
            content_text=row[c],
            meta_text=row[m],
        )
        for row, parent in zip(rows, parents, strict=False)
    ]


_DEPTH = operator.itemgetter(0)

Loaded = tuple[bytes | None, int | None, str | None, list[Any]]
"""What ``load`` reads: ``(head_key, head_depth, system_text, lean rows)``."""


def load(tx: Tx, thread_id: str) -> Loaded:
    """A thread's head, system prompt and chain, with only the columns a
    ``Turn`` needs (``_sql.LEAN_COLUMNS``), oldest first."""
    s = tx.s
    found = tx.first(s.thread_head, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    head_key, system, depth = found
    rows = [] if head_key is None else tx.rows(s.chain_lean, {"head": head_key})
    rows.sort(key=_DEPTH)  # O(n): already in order, or in reverse order
    return head_key, depth, system, rows


def remember_loaded(heads: Heads | None, thread_id: str, loaded: Loaded) -> None:
    """Note the head of a loaded thread for the next save's fast path."""
    head_key, _, _, rows = loaded
    remember(heads, thread_id, rows[-1][1] if rows else None, head_key)


def to_conversation(thread_id: str, loaded: Loaded) -> Conversation:
    """Build the loaded conversation (lazily decoded turns, O(n)).

    Raises:
        TurnNotFoundError: the chain stops before its first turn.
        StoreError: the stored depths are inconsistent.
    """
    head_key, depth, system, rows = loaded
    if head_key is not None:
        if depth is None or not rows:
            raise TurnNotFoundError(key_text(head_key))
        if rows[0][0] != 0:
            raise TurnNotFoundError(f"(the parent of {rows[0][1]})")
        if len(rows) != depth + 1 or rows[-1][0] != depth:
            raise StoreError(
                f"thread {thread_id!r}: the stored depths of its turns are inconsistent"
            )
    try:
        return Conversation.from_turns(
            _turns(rows, _LEAN), system_from_text(system), validate=False
        )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"thread {thread_id!r} is inconsistent: {exc}") from exc


def verify_chain(thread_id: str, chain: Chain) -> int:
    """Recompute every hash of a loaded chain; return the number of turns.

    Each turn's id must hash its content under its parent's id, and each
    row's key must hash the parent row's key, the id and the annotations.

    Raises:
        HashMismatchError: a turn's content, role, origin or metadata no
            longer hash to what was stored (``turn_id`` names it).
        TurnNotFoundError: the chain is missing a turn.
        StoreError: depths or parent links are inconsistent.
    """
    head_key, _, rows = chain
    _check_complete(thread_id, head_key, rows)
    parent_key: bytes | None = None
    for depth, (row, turn) in enumerate(zip(rows, _turns(rows), strict=True)):
        if row[2] != parent_key or row[3] != depth:
            raise StoreError(
                f"thread {thread_id!r}: turn {turn.id} has parent row {key_text(row[2])} and "
                f"depth {row[3]}, expected {key_text(parent_key)} and {depth}"
            )
        try:
            actual = turn.computed_id()
        except (ValueError, TypeError) as exc:
            raise HashMismatchError(
                turn_id=turn.id, actual=f"(unreadable: {exc})", thread_id=thread_id
            ) from exc
        if actual == turn.id:
            key = storage_key(parent_key, turn)
            if key == row[0]:
                parent_key = key
                continue
            # The content is intact but the origin or metadata changed.
            actual = f"{turn.id} with other annotations ({key_text(key)})"
        raise HashMismatchError(turn_id=turn.id, actual=actual, thread_id=thread_id)
    return len(rows)


def _info(s: Statements, row: Any) -> ThreadInfo:
    return info_from_row(ThreadRow(*row), ts=s.ts_from)


def info(tx: Tx, thread_id: str) -> ThreadInfo:
    """One thread's ``ThreadInfo``."""
    row = tx.first(tx.s.thread_info, {"tid": thread_id})
    if row is None:
        raise ThreadNotFoundError(thread_id)
    return _info(tx.s, row)


def threads(tx: Tx, limit: int | None) -> list[ThreadInfo]:
    """Every thread, most recently updated first."""
    s = tx.s
    if limit is None:
        rows = tx.rows(s.thread_list, {})
    else:
        rows = tx.rows(s.thread_list_limit, {"limit": limit})
    return [_info(s, row) for row in rows]


def history(tx: Tx, thread_id: str) -> ThreadTree:
    """The fork tree around ``thread_id``, from its oldest reachable ancestor."""
    s = tx.s
    found = tx.first(s.fork_root, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    root_id = found[0]
    infos = [_info(s, row) for row in tx.rows(s.fork_tree, {"root": root_id})]
    children: dict[str, list[ThreadInfo]] = {}
    for item in infos:
        if item.forked_from is not None and item.id != root_id:
            children.setdefault(item.forked_from, []).append(item)
    by_id = {item.id: item for item in infos}

    def build(node: ThreadInfo) -> ThreadTree:
        return ThreadTree(node, tuple(build(child) for child in children.get(node.id, ())))

    return build(by_id[root_id])


# -- forks and deletion --------------------------------------------------------


def fork(
    tx: Tx,
    thread_id: str,
    *,
    at: int | None,
    new_id: str,
    title: str | None,
    meta: Mapping[str, Any] | None,
    now: datetime,
) -> ThreadInfo:
    """Create ``new_id`` whose head is turn ``at`` of ``thread_id``."""
    s = tx.s
    found = tx.first(s.thread_info_for_share, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    row = _with_head(tx, ThreadRow(*found))
    length = length_from_depth(row.depth)
    n = length if at is None else (at + length if at < 0 else at)
    if not 0 <= n <= length:
        raise ForkPointError(thread_id, at=n if at is None else at, length=length)
    target_key, target_id = row.head_key, row.head_id
    if n == 0:
        target_key = target_id = None
    elif n < length:
        hit = tx.first(s.ancestor_at, {"head": row.head_key, "depth": n - 1})
        if hit is None:
            raise TurnNotFoundError(f"{key_text(row.head_key)} (ancestor at depth {n - 1})")
        target_key, target_id = hit
    new_title = row.title if title is None else title
    new_meta = row.meta if meta is None else meta_to_text(meta)
    stamp = s.ts(now)
    created = tx.count(
        s.thread_insert,
        {
            "id": new_id,
            "head_key": target_key,
            "system": row.system,
            "title": new_title,
            "meta": new_meta,
            "version": 1,
            "forked_from_thread": thread_id,
            "forked_at_turn": n,
            "created_at": stamp,
            "updated_at": stamp,
        },
    )
    if not created:
        raise ThreadExistsError(new_id)
    return ThreadInfo(
        id=new_id,
        head_id=target_id,
        length=n,
        title=new_title,
        meta=meta_from_text(new_meta),
        version=1,
        created_at=now,
        updated_at=now,
        forked_from=thread_id,
        forked_at=n,
    )


def delete(tx: Tx, thread_id: str) -> None:
    """Delete one thread row (its turns stay until ``gc``)."""
    if not tx.count(tx.s.thread_delete, {"tid": thread_id}):
        raise ThreadNotFoundError(thread_id)


def gc(tx: Tx) -> int:
    """Delete every turn no thread's head reaches; return how many."""
    s = tx.s
    if s.lock_threads is not None:
        # PostgreSQL: saves and forks lock thread rows first (ROW SHARE),
        # so this waits for them and they wait for it.
        tx.raw(s.lock_threads)
    return tx.count(s.gc, {})

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

from convo._gcpause import no_gc
from convo.conversation import Conversation
from convo.errors import (
    ConflictError,
    ForkPointError,
    HashMismatchError,
    IntegrityError,
    StoreError,
    ThreadExistsError,
    ThreadNotFoundError,
    TurnNotFoundError,
)
from convo.store._info import ThreadInfo, ThreadTree
from convo.store._jumps import jump_depth, jump_is_parent
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
from convo.turns import Turn, stored_turns

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

Chain = tuple[int | None, str | None, list[Any]]
"""What ``load_chain`` returns: ``(head rid, system_text, chain rows)``."""


_UNREADABLE = (TypeError, AttributeError, KeyError, UnicodeError, OverflowError, RecursionError)
"""What reading a damaged row can raise from Python code (a column of the
wrong type, a value out of range): reported as ``IntegrityError``."""


def guarded(fn: Callable[..., T], thread_id: str, *args: Any) -> T:
    """``fn(thread_id, *args)``, a Python error caused by damaged stored
    data raised as ``IntegrityError`` (every store method raises convo
    errors only)."""
    try:
        return fn(thread_id, *args)
    except _UNREADABLE as exc:
        raise IntegrityError(
            f"thread {thread_id!r}: the database holds data convo cannot read "
            f"({type(exc).__name__}: {str(exc)[:200]})",
            thread_id=thread_id,
        ) from exc


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
    except _UNREADABLE as exc:
        tx.rollback()
        if write:
            raise  # a bad argument (the reads are what meet damaged rows)
        raise IntegrityError(
            f"the database holds data convo cannot read ({type(exc).__name__}: {str(exc)[:200]})"
        ) from exc
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
        rows.append(turn_params(turn, key=key, depth=length - 1, created_at=stamp))
        parent_key = key
    return rows


def _insert_chain(tx: Tx, rows: list[Row], parent: int | None) -> int | None:
    """Insert ``rows`` (a chain, oldest first) under the row ``parent``;
    return the rid of the last one (``parent`` when there are none).

    One statement per row: each needs its parent's rid, which the one
    before returned.  The statement also picks the row's jump pointer.
    """
    inserts = tx.s.turn_insert
    root, to_parent, skip = inserts["root"], inserts["parent"], inserts["skip"]
    for row in rows:
        depth = row["depth"]
        row["parent"] = parent
        statement = root if depth == 0 else to_parent if jump_is_parent(depth) else skip
        parent = tx.first(statement, row)[0]
    return parent


def _store_missing(tx: Tx, rows: list[Row]) -> int | None:
    """Insert the rows (a whole chain, oldest first) the database lacks;
    return the rid of the last row.

    A row is only ever stored after its parent, so the stored rows of a chain
    are a prefix of it: probe newest first, in growing batches, until one
    key is found; everything newer is missing.
    """
    missing = 0
    step = 0
    end = len(rows)
    parent: int | None = None
    while end > 0:
        want = PROBE_SIZES[min(step, len(PROBE_SIZES) - 1)]
        step += 1
        picked = [rows[i] for i in range(end - 1, max(end - want, 0) - 1, -1)]
        batch = [row["key"] for row in picked]
        size = next(s for s in PROBE_SIZES if s >= len(batch))
        params: dict[str, Any] = {}
        for i in range(size):
            probe = picked[min(i, len(picked) - 1)]
            params[f"p{i}"] = probe["key"]
            params[f"d{i}"] = probe["depth"]
        found = dict(tx.rows(tx.s.probes[size], params))
        if found:
            newest = next(i for i, key in enumerate(batch) if key in found)
            missing += newest
            parent = found[batch[newest]]
            break
        missing += len(batch)
        end -= len(batch)
    return _insert_chain(tx, rows[len(rows) - missing :], parent)


def _with_head(tx: Tx, row: ThreadRow) -> ThreadRow:
    """``row`` with its head's id, depth and key, read again if the join
    missed them (see ``Statements.head_turn``)."""
    if row.head is None or row.head_id is not None:
        return row
    head = tx.first(tx.s.head_turn, {"rid": row.head})
    if head is None or head[2] != row.head_key:
        raise TurnNotFoundError(f"(the head of thread {row.id!r}, {key_text(row.head_key)})")
    return row._replace(head_id=head[0], depth=head[1])


Heads = dict[str, tuple[str, bytes, int]]
"""Thread id -> ``(head Turn.id, head row key, head rid)`` as last seen by
this store (a hint: the fast path's compare-and-set checks it against the
database)."""

_MAX_HEADS = 4096


def remember(
    heads: Heads | None,
    thread_id: str,
    head_id: str | None,
    key: bytes | None,
    rid: int | None,
) -> None:
    """Note a thread's head for the next save's fast path."""
    if heads is None:
        return
    if head_id is None or key is None or rid is None:
        heads.pop(thread_id, None)
        return
    if len(heads) >= _MAX_HEADS:
        heads.clear()
    heads[thread_id] = (head_id, key, rid)


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
    seen_id, seen_key, seen_rid = hint
    if seen_id == conversation.head_id:
        return None  # nothing new: the full path decides what (not) to write
    new = walker.since(seen_id)
    if not new:
        return None
    s = tx.s
    rows = _rows_after(new, seen_key, stamp)
    # The first row goes in only if the remembered head row is still the
    # row it was (SQLite reuses the rid of a deleted row): then every new
    # row is a valid row under it, whatever the compare-and-set decides.
    first = rows[0]
    first["parent"] = seen_rid
    first["parent_key"] = seen_key
    mode = "parent" if jump_is_parent(first["depth"]) else "skip"
    if len(rows) == 1 and s.turn_advance and not tx.begun:
        # PostgreSQL, one new turn: the insert and the compare-and-set in
        # one autocommitted statement (one round trip).
        first.update(
            tid=thread_id, system=system, title=title, thread_meta=meta_text, updated_at=stamp
        )
        found = tx.alone(s.turn_advance[mode], first)
        if found is None:
            return None  # the guard or the compare-and-set failed: the full path decides
        head = found[6]
        found = found[:6]
    else:
        inserted = tx.first(s.turn_insert_under[mode], first)
        if inserted is None:
            return None
        head = _insert_chain(tx, rows[1:], inserted[0])
        found = tx.first(
            s.thread_advance,
            {
                "tid": thread_id,
                "old_head": seen_rid,
                "head": head,
                "head_key": rows[-1]["key"],
                "system": system,
                "title": title,
                "meta": meta_text,
                "updated_at": stamp,
            },
        )
        if found is None:
            # The thread moved: the full path decides (the rows just written
            # are valid rows under the old head, reused or collected by gc).
            return None
    remember(heads, thread_id, conversation.head_id, rows[-1]["key"], head)
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

    if heads is not None and expected_head is None and not replace_system:
        advanced = _advance(
            tx, heads, thread_id, conversation, walker, system, title, meta_text, stamp, now
        )
        if advanced is not None:
            return advanced

    stored: list[tuple[int | None, bytes | None]] = []

    def store_all() -> tuple[int | None, bytes | None]:
        # Every row of the conversation, keyed from the root: O(length)
        # hashing, O(new turns) queries.  New threads, conflicts, leases.
        if not stored:
            whole = _rows_after(list(walker), None, stamp)
            stored.append((_store_missing(tx, whole), whole[-1]["key"] if whole else None))
        return stored[0]

    def conflict(stored_head: str | None) -> ConflictError:
        store_all()
        return ConflictError(thread_id=thread_id, stored_head=stored_head, attempted_head=head_id)

    for _ in range(3):
        found = tx.first(s.thread_for_update, {"tid": thread_id})
        if found is None:
            if expected_head is not None:
                return conflict(None)
            head, head_key = store_all()
            created = tx.count(
                s.thread_insert,
                {
                    "id": thread_id,
                    "head": head,
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
                remember(heads, thread_id, head_id, head_key, head)
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
            head, head_key = store_all()
        elif stored_head is None:
            head, head_key = store_all()  # an empty thread: the rows may exist already
        else:
            new = walker.since(stored_head)
            if new is None:
                return conflict(stored_head)
            # Fast-forward: only the turns after the stored head, keyed from
            # its row (the stored prefix keeps its annotations).
            rows = _rows_after(new, row.head_key, stamp)
            head = _insert_chain(tx, rows, row.head)
            head_key = rows[-1]["key"] if rows else row.head_key

        new_title = row.title if title is None else title
        new_meta = row.meta if meta_text is None else meta_text
        if (
            head == row.head
            and row.system == system
            and new_title == row.title
            and new_meta == row.meta
        ):
            remember(heads, thread_id, row.head_id, row.head_key, row.head)
            return info_from_row(row, ts=s.ts_from)
        changed = tx.count(
            s.thread_update,
            {
                "tid": thread_id,
                "expected": row.version,
                "head": head,
                "head_key": head_key,
                "system": system,
                "title": new_title,
                "meta": new_meta,
                "updated_at": stamp,
            },
        )
        if changed != 1:
            continue  # unreachable under the row lock; re-read if it happens
        remember(heads, thread_id, head_id, head_key, head)
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


def _ancestor(tx: Tx, thread_id: str, head: int, depth: int) -> tuple[int, str, bytes]:
    """``(rid, Turn.id, key)`` of the ancestor at ``depth`` of the row ``head``:
    O(log n) rows, through the jump pointers.

    Raises:
        IntegrityError: the walk did not reach that depth (damaged links).
    """
    hit = tx.first(tx.s.ancestor_at, {"head": head, "depth": depth})
    if hit is None or hit[2] != depth:
        raise IntegrityError(
            f"thread {thread_id!r}: the links below its head do not reach depth {depth} "
            f"(stopped at {'nothing' if hit is None else f'turn {hit[1]} at depth {hit[2]}'})",
            thread_id=thread_id,
            turn_id=None if hit is None else hit[1],
        )
    return hit[0], hit[1], hit[3]


def _turns_taken(length: int, upto: int | None) -> int:
    """How many turns ``upto`` keeps of ``length`` (``Conversation.fork``'s
    convention: ``None`` all, a negative number counts from the end)."""
    n = length if upto is None else (upto + length if upto < 0 else upto)
    if not 0 <= n <= length:
        raise IndexError(f"cannot take {upto} turns of a thread of {length}")
    return n


def load_chain(tx: Tx, thread_id: str) -> Chain:
    """The head rid, system prompt and chain rows (``CHAIN_COLUMNS``, oldest
    first) of a thread."""
    s = tx.s
    found = tx.first(s.thread_head, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    head, system, depth, key = found
    if head is not None and depth is None:
        raise TurnNotFoundError(f"(the head of thread {thread_id!r}, {key_text(key)})")
    rows = [] if head is None else tx.rows(s.chain, {"head": head})
    return head, system, rows


_FULL = (2, 6, 7, 8, 9)
"""Where id, role, origin, content and meta sit in a ``CHAIN_COLUMNS`` row."""
_LEAN = (1, 2, 3, 4, 5)
"""... and in a ``LEAN_COLUMNS`` row."""


def _turns(rows: list[Any], at: tuple[int, int, int, int, int] = _FULL) -> list[Turn]:
    """Lazy turns from chain rows, oldest first (a turn's parent id is the id
    of the row before it)."""
    return stored_turns(rows, at)


_DEPTH = operator.itemgetter(0)

Loaded = tuple[int | None, int | None, bytes | None, str | None, list[Any]]
"""What ``load`` reads: ``(rid, depth, key)`` of the last turn read, the
system prompt text and the lean rows."""


def load(tx: Tx, thread_id: str, upto: int | None = None) -> Loaded:
    """A thread's head (or its turn ``upto``: found through the jump
    pointers), system prompt and chain, with only the columns a ``Turn``
    needs (``_sql.LEAN_COLUMNS``), oldest first.  Reads at most as many rows
    as the head's depth claims, whatever the links say."""
    s = tx.s
    found = tx.first(s.thread_head, {"tid": thread_id})
    if found is None:
        raise ThreadNotFoundError(thread_id)
    head, system, depth, key = found
    if head is not None and depth is None:
        raise TurnNotFoundError(f"(the head of thread {thread_id!r}, {key_text(key)})")
    if upto is not None and head is not None:
        n = _turns_taken(length_from_depth(depth), upto)
        if n == 0:
            head = depth = key = None
        elif n - 1 != depth:
            head, _, key = _ancestor(tx, thread_id, head, n - 1)
            depth = n - 1
    elif upto is not None:
        _turns_taken(0, upto)
    rows = [] if head is None else tx.rows(s.chain_lean, {"head": head, "stop": 0})
    rows.sort(key=_DEPTH)  # O(n): already in order, or in reverse order
    return head, depth, key, system, rows


def remember_loaded(heads: Heads | None, thread_id: str, loaded: Loaded) -> None:
    """Note the head of a loaded thread for the next save's fast path."""
    head, _, key, _, rows = loaded
    remember(heads, thread_id, rows[-1][1] if rows else None, key, head)


def _broken(thread_id: str, turn_id: Any, detail: str) -> IntegrityError:
    name = turn_id if isinstance(turn_id, str) else repr(turn_id)
    return IntegrityError(
        f"thread {thread_id!r} is damaged at turn {name}: {detail}",
        thread_id=thread_id,
        turn_id=name,
    )


def to_conversation(thread_id: str, loaded: Loaded) -> Conversation:
    """Build the loaded conversation (lazily decoded turns, O(n)).

    Raises:
        TurnNotFoundError: the head row is missing.
        IntegrityError: the chain stops before its first turn, or a row's
            columns are not what a turn holds.
    """
    head, depth, _, system, rows = loaded
    if head is not None:
        if depth is None or not rows:
            raise TurnNotFoundError(f"(the head row of thread {thread_id!r})")
        if rows[0][0] != 0:
            raise _broken(thread_id, rows[0][1], f"the chain stops at depth {rows[0][0]}")
        if len(rows) != depth + 1 or rows[-1][0] != depth:
            raise _broken(
                thread_id, rows[-1][1], f"{len(rows)} turns reached for a depth of {depth}"
            )
        for row in rows:
            if not (type(row[1]) is type(row[4]) is type(row[5]) is str):
                raise _broken(thread_id, row[1], "a column holds a value of the wrong type")
    try:
        with no_gc(len(rows)):
            return Conversation.from_turns(
                _turns(rows, _LEAN), system_from_text(system), validate=False
            )
    except (ValueError, TypeError) as exc:
        raise StoreError(f"thread {thread_id!r} is inconsistent: {exc}") from exc


def verify_chain(thread_id: str, chain: Chain) -> int:
    """Recompute every hash and link of a loaded chain; return the number of
    turns.

    Each turn's id must hash its content under its parent's id, each row's
    key must hash the parent row's key, the id and the annotations, and
    each row's parent and jump must be the rows at the right depths.

    Raises:
        HashMismatchError: a turn's content, role, origin or metadata no
            longer hash to what was stored (``turn_id`` names it).
        TurnNotFoundError: the head row is missing.
        IntegrityError: depths, parent or jump links are inconsistent, or the
            chain stops before its first turn.
    """
    head, _, rows = chain
    if head is None:
        return 0
    if not rows:
        raise TurnNotFoundError(f"(the head row of thread {thread_id!r})")
    if rows[0][4] != 0:
        raise _broken(thread_id, rows[0][2], f"the chain stops at depth {rows[0][4]!r}")
    if rows[-1][0] != head:
        raise _broken(thread_id, rows[-1][2], "the walk from the head is inconsistent")
    rids: list[int] = []
    parent_key: bytes | None = None
    for depth, row in enumerate(rows):
        rid, key, turn_id, parent, row_depth, jump, role, origin, content, meta = row
        if not (
            type(turn_id) is type(role) is type(origin) is type(content) is type(meta) is str
            and type(key) is bytes
        ):
            raise _broken(thread_id, turn_id, "a column holds a value of the wrong type")
        want_jump = None if depth == 0 else rids[jump_depth(depth)]
        if row_depth != depth or parent != (rids[-1] if rids else None) or jump != want_jump:
            raise _broken(
                thread_id,
                turn_id,
                f"depth {row_depth!r}, parent row {parent!r}, jump row {jump!r}; "
                f"expected {depth}, {rids[-1] if rids else None}, {want_jump}",
            )
        rids.append(rid)
        try:
            turn = Turn.from_stored(
                id=turn_id,
                parent_id=rows[depth - 1][2] if depth else None,
                role=role,
                origin=origin,
                content_text=content,
                meta_text=meta,
            )
            actual = turn.computed_id()
        except (ValueError, TypeError, RecursionError) as exc:
            raise HashMismatchError(
                turn_id=turn_id, actual=f"(unreadable: {exc})", thread_id=thread_id
            ) from exc
        if actual == turn_id:
            computed = storage_key(parent_key, turn)
            if computed == key:
                parent_key = computed
                continue
            # The content is intact but the origin or metadata changed.
            actual = f"{turn_id} with other annotations ({key_text(computed)})"
        raise HashMismatchError(turn_id=turn_id, actual=actual, thread_id=thread_id)
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
    target, target_id, target_key = row.head, row.head_id, row.head_key
    if n == 0:
        target = target_id = target_key = None
    elif n < length:
        assert row.head is not None
        target, target_id, target_key = _ancestor(tx, thread_id, row.head, n - 1)
    new_title = row.title if title is None else title
    new_meta = row.meta if meta is None else meta_to_text(meta)
    stamp = s.ts(now)
    created = tx.count(
        s.thread_insert,
        {
            "id": new_id,
            "head": target,
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

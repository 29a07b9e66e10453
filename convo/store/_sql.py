"""The store's statements, compiled once per dialect, and a thin executor.

Every statement is a SQLAlchemy Core construct over ``convo.store.schema``;
SQLAlchemy compiles it for the engine's dialect (quoting, parameter style,
``ON CONFLICT``, ``FOR UPDATE``) once per process.  The store then runs the
compiled SQL directly on the pooled DBAPI connection.

Why not ``Connection.execute``: measured here, SQLAlchemy's execution layer
costs about 25 us per statement (checkout, events, result set-up), and a
save is five statements (BEGIN IMMEDIATE, SELECT ... FOR UPDATE, INSERT,
UPDATE, COMMIT; four on the fast path: BEGIN IMMEDIATE, INSERT, UPDATE
... RETURNING, COMMIT; on PostgreSQL a one-turn fast path is a single
autocommitted statement, ``turn_advance``) against a baseline of one INSERT + COMMIT that
takes about 30 us in raw ``sqlite3``.  In a prototype of the save, the same statements
took 186 us through ``Connection.execute`` and 66 us run this way (see
``benchmarks/bench_store.py`` and ``docs/performance.md`` for the store's
figures).  The statements stay dialect-neutral Core (but for SQLite's
rowid walk in ``chain_lean``), and DBAPI errors are wrapped into SQLAlchemy's
exception classes here, so the rest of the store sees one error family.

The executor is synchronous.  ``AsyncStore`` runs the same code inside
``AsyncConnection.run_sync``, where the async drivers' DBAPI adapters
(aiosqlite, psycopg async) behave synchronously.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Dialect,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import Compiled as SACompiled

from convo.errors import StoreError
from convo.store._jumps import MAX_HOPS
from convo.store.schema import RowId, threads, timestamp_from_db, timestamp_to_db, turns

__all__ = ["PROBE_SIZES", "Compiled", "Statements", "Tx", "statements_for"]

SUPPORTED_DIALECTS: Final = ("sqlite", "postgresql")

PROBE_SIZES: Final = (1, 8, 64, 512)
"""Sizes of the ``id IN (...)`` probes that find which turns a database
already has (newest first, growing batches: O(new turns) round trips)."""

THREAD_COLUMNS: Final = (
    threads.c.id,
    threads.c.head,
    threads.c.version,
    threads.c.system,
    threads.c.title,
    threads.c.meta,
    threads.c.created_at,
    threads.c.updated_at,
    threads.c.forked_from_thread,
    threads.c.forked_at_turn,
)
"""The columns of a thread row, then the head's id and depth (joined) and
its key, in the order ``ThreadRow`` reads them."""

CHAIN_COLUMNS: Final = (
    "rid", "key", "id", "parent", "depth", "jump", "role", "origin", "content", "meta"
)  # fmt: skip
"""What ``verify`` reads of each row (``_ops.verify_chain`` names the
positions)."""

LEAN_COLUMNS: Final = ("depth", "id", "role", "origin", "content", "meta")
"""What ``load`` reads of each row: only what a ``Turn`` needs."""

_MAX_FORK_DEPTH: Final[ColumnElement[int]] = literal_column("100000")
"""A guard on the walk up forked_from links (they cannot form a cycle)."""


class Compiled:
    """One statement compiled for one dialect."""

    __slots__ = ("_order", "defaults", "names", "sql")

    sql: str
    names: tuple[str, ...] | None
    defaults: dict[str, Any]

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled: SACompiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        positions = getattr(compiled, "positiontup", None)
        self.names = tuple(positions) if positions else None
        bind_names: Mapping[Any, str] = getattr(compiled, "bind_names", {})
        # Literal values inside a construct (``version + 1``, an implicit
        # OFFSET 0) become anonymous parameters: keep their values.
        self.defaults = {
            name: bind.effective_value for bind, name in bind_names.items() if not bind.required
        }
        order: Callable[[Mapping[str, Any]], Any] | None = None
        if self.names:
            getter = operator.itemgetter(*self.names)
            order = getter if len(self.names) > 1 else (lambda values: (getter(values),))
        self._order = order

    def bind(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        """The DBAPI parameters for ``params`` (a tuple or a mapping)."""
        values = {**self.defaults, **params} if self.defaults else params
        if self._order is None:
            return values
        return self._order(values)  # type: ignore[no-any-return]


def _insert(dialect_name: str) -> Any:
    if dialect_name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def _chain(head: Any, *, stop_depth: Any, columns: tuple[str, ...]) -> Any:
    """A recursive CTE: the head row and its ancestors down to ``stop_depth``,
    carrying ``columns`` (which must hold ``rid``, ``parent`` and ``depth``).

    Each step must go exactly one depth down: the walk is bounded by the
    head's depth whatever the rows say (a corrupted ``parent`` that loops
    back, or skips, ends the walk, and the caller sees a chain that does not
    reach its first turn), never by the memory left.
    """
    seed = select(*(turns.c[name] for name in columns)).where(turns.c.rid == head)
    chain = seed.cte("chain", recursive=True)
    parent = turns.alias("parent")
    step = select(*(parent.c[name] for name in columns)).where(
        parent.c.rid == chain.c.parent,
        parent.c.depth == chain.c.depth - literal_column("1"),
        chain.c.depth > stop_depth,
    )
    return chain.union_all(step)


_TURN_COLUMNS: Final = (
    "key", "id", "parent", "depth", "jump", "role", "origin", "content", "meta", "created_at"
)  # fmt: skip


def _insert_turn_under(insert: Any, jump: Any) -> Any:
    """``_insert_turn``, guarded: the row is inserted only if the row
    ``:parent`` still has the key ``:parent_key`` (the save's fast path
    trusts a remembered head; this checks it in the same statement, so a
    row is never written under a parent it was not keyed from)."""
    guard = turns.alias("guard")
    values = [
        jump if name == "jump" else bindparam(name, type_=turns.c[name].type)
        for name in _TURN_COLUMNS
    ]
    source = select(*values).where(
        exists(
            select(guard.c.rid).where(
                guard.c.rid == bindparam("parent", type_=RowId),
                guard.c.key == bindparam("parent_key", type_=turns.c.key.type),
            )
        )
    )
    statement = insert(turns).from_select(list(_TURN_COLUMNS), source)
    return statement.on_conflict_do_update(
        index_elements=[turns.c.depth, turns.c.key], set_={"key": statement.excluded.key}
    ).returning(turns.c.rid)


# What a moved head returns: the thread row's fields a ThreadInfo needs.
_ADVANCED: Final = (
    threads.c.version,
    threads.c.title,
    threads.c.meta,
    threads.c.created_at,
    threads.c.forked_from_thread,
    threads.c.forked_at_turn,
)


def _head_moved(head: Any, head_key: Any, meta: str) -> dict[str, Any]:
    """The thread row's new values when its head moves (``thread_advance``
    and the one-statement save): the head, the title and meta when given
    (``:title``, ``:<meta>``), the next version, ``:updated_at``."""
    return {
        "head": head,
        "head_key": head_key,
        "title": func.coalesce(bindparam("title", type_=Text), threads.c.title),
        "meta": func.coalesce(bindparam(meta, type_=Text), threads.c.meta),
        "version": threads.c.version + literal_column("1"),
        "updated_at": bindparam("updated_at"),
    }


def _advance_one(inserted: Any) -> Any:
    """``thread_advance`` fed by ``inserted`` (``_insert_turn_under``) in one
    statement: insert the turn under the remembered head ``:parent``, then
    move the thread's head from ``:parent`` to it iff ``:parent`` is still
    the head and the system prompt is unchanged (the compare-and-set, which
    PostgreSQL re-checks on the locked row).  When the guard stops the
    insert, nothing moves; when the compare-and-set fails, the row stays
    (a valid row under the old head, reused or collected by ``gc``).
    RETURNING what ``thread_advance`` returns and the new head's rid; no
    row when nothing moved.  The thread's ``meta`` is ``:thread_meta`` (the
    turn's is ``:meta``)."""
    ins = inserted.cte("ins")
    new_rid = select(ins.c.rid).scalar_subquery()
    return (
        update(threads)
        .where(
            threads.c.id == bindparam("tid"),
            threads.c.head == bindparam("parent", type_=RowId),
            threads.c.system.is_not_distinct_from(bindparam("system", type_=Text)),
            exists(select(ins.c.rid)),
        )
        .values(_head_moved(new_rid, bindparam("key", type_=turns.c.key.type), "thread_meta"))
        .returning(*_ADVANCED, threads.c.head)
        .add_cte(ins)
    )


def _insert_turn(insert: Any, jump: Any) -> Any:
    """Insert one turn row, or find the one with its key (a concurrent save
    stored the same turn under the same parent): either way RETURNING its
    rid, which the next row of the chain needs as its parent."""
    statement = insert(turns).values(
        key=bindparam("key"),
        id=bindparam("id"),
        parent=bindparam("parent"),
        depth=bindparam("depth"),
        jump=jump,
        role=bindparam("role"),
        origin=bindparam("origin"),
        content=bindparam("content"),
        meta=bindparam("meta"),
        created_at=bindparam("created_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[turns.c.depth, turns.c.key], set_={"key": statement.excluded.key}
    ).returning(turns.c.rid)


class Statements:
    """Every statement of the store, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        name = dialect.name
        if name not in SUPPORTED_DIALECTS:
            raise StoreError(f"convo's store supports SQLite and PostgreSQL, not {name!r}")
        self.dialect_name = name
        self.dialect = dialect  # convo.store._listing compiles its filtered listings lazily
        self.is_sqlite = name == "sqlite"
        self.is_postgresql = name == "postgresql"

        def c(statement: ClauseElement) -> Compiled:
            return Compiled(statement, dialect)

        tid: ColumnElement[str] = bindparam("tid")
        insert = _insert(name)
        head = turns.alias("head")
        # The head joins on its rid and its key: a damaged rid finds no row.
        info_from = threads.outerjoin(
            head, and_(head.c.rid == threads.c.head, head.c.key == threads.c.head_key)
        )
        info_columns = (*THREAD_COLUMNS, head.c.id, head.c.depth, threads.c.head_key)

        self.thread_for_update = c(
            select(*info_columns)
            .select_from(info_from)
            .where(threads.c.id == tid)
            .with_for_update(of=threads)
        )
        self.thread_info = c(
            select(*info_columns).select_from(info_from).where(threads.c.id == tid)
        )
        self.thread_info_for_share = c(
            select(*info_columns)
            .select_from(info_from)
            .where(threads.c.id == tid)
            .with_for_update(read=True, of=threads)
        )
        listing = (
            select(*info_columns)
            .select_from(info_from)
            .order_by(threads.c.updated_at.desc(), threads.c.id)
        )
        self.thread_list = c(listing)
        self.thread_list_limit = c(listing.limit(bindparam("limit")))
        # PostgreSQL, READ COMMITTED: a row locked FOR UPDATE after waiting is
        # re-read, but a joined row is not, so a head written by the
        # transaction we waited for comes back NULL: look it up afresh.
        self.head_turn = c(
            select(turns.c.id, turns.c.depth, turns.c.key).where(turns.c.rid == bindparam("rid"))
        )
        self.thread_insert = c(
            insert(threads).on_conflict_do_nothing(index_elements=[threads.c.id])
        )
        self.thread_update = c(
            update(threads)
            .where(threads.c.id == tid, threads.c.version == bindparam("expected"))
            .values(
                head=bindparam("head"),
                head_key=bindparam("head_key"),
                system=bindparam("system"),
                title=bindparam("title"),
                meta=bindparam("meta"),
                version=threads.c.version + literal_column("1"),
                updated_at=bindparam("updated_at"),
            )
        )
        # The fast path of a save (see ``_ops.save``): move the head from
        # the one this process last saw, iff it is still the stored head and
        # the system prompt is unchanged: one statement instead of a locking
        # SELECT and an UPDATE (the WHERE is the compare-and-set; PostgreSQL
        # re-checks it on the locked row).  The new turns were inserted just
        # before, under that head (``turn_insert_under`` checked its key).
        self.thread_advance = c(
            update(threads)
            .where(
                threads.c.id == tid,
                threads.c.head == bindparam("old_head"),
                threads.c.system.is_not_distinct_from(bindparam("system", type_=Text)),
            )
            .values(_head_moved(bindparam("head"), bindparam("head_key"), "meta"))
            .returning(*_ADVANCED)
        )
        self.thread_delete = c(threads.delete().where(threads.c.id == tid))

        # A turn's jump (see ``_jumps``): none for a first turn, else its
        # parent, or its parent's jump's jump; the caller knows which from
        # the depth, the database reads the two links it needs.
        above = turns.alias("above")
        jumped = turns.alias("jumped")
        jump_of_jump = (
            select(jumped.c.jump)
            .select_from(above.join(jumped, jumped.c.rid == above.c.jump))
            .where(above.c.rid == bindparam("parent"))
            .scalar_subquery()
        )
        self.turn_insert = {
            "root": c(_insert_turn(insert, null())),
            "parent": c(_insert_turn(insert, bindparam("parent", type_=RowId))),
            "skip": c(_insert_turn(insert, jump_of_jump)),
        }
        self.turn_insert_under = {
            "parent": c(_insert_turn_under(insert, bindparam("parent", type_=RowId))),
            "skip": c(_insert_turn_under(insert, jump_of_jump)),
        }
        # PostgreSQL: the fast path of a one-turn save as ONE statement (a
        # data-modifying CTE), run in autocommit: one round trip instead of
        # four (BEGIN, INSERT, UPDATE, COMMIT).  SQLite has no DML in CTEs.
        self.turn_advance: dict[str, Compiled] = {}
        if self.is_postgresql:
            self.turn_advance = {
                mode: c(_advance_one(_insert_turn_under(insert, jump)))
                for mode, jump in (
                    ("parent", bindparam("parent", type_=RowId)),
                    ("skip", jump_of_jump),
                )
            }
        # (depth, key) pairs: the unique index's order.
        self.probes = {
            size: c(
                select(turns.c.key, turns.c.rid).where(
                    or_(
                        *(
                            and_(
                                turns.c.depth == bindparam(f"d{i}"),
                                turns.c.key == bindparam(f"p{i}"),
                            )
                            for i in range(size)
                        )
                    )
                )
            )
            for size in PROBE_SIZES
        }

        full = _chain(bindparam("head"), stop_depth=literal_column("0"), columns=CHAIN_COLUMNS)
        self.chain = c(select(*(full.c[n] for n in CHAIN_COLUMNS)).order_by(full.c.depth))
        # load(): only what a Turn needs (no keys to turn into bytes objects).
        # Walk carrying the links only, then fetch each row by rid, unsorted
        # (``_ops.load`` sorts by depth in Python: the walk yields them newest
        # first, a reversed run that sorts in O(n)); ``stop`` is the depth of
        # the oldest turn wanted (0: all of them).
        links = _chain(
            bindparam("head"), stop_depth=bindparam("stop"), columns=("rid", "parent", "depth")
        )
        fetched = turns.alias("t")
        self.chain_lean = c(
            select(*(fetched.c[n] for n in LEAN_COLUMNS)).select_from(
                links.join(fetched, fetched.c.rid == links.c.rid)
            )
        )
        self.thread_head = c(
            select(threads.c.head, threads.c.system, head.c.depth, threads.c.head_key)
            .select_from(info_from)
            .where(threads.c.id == tid)
        )
        # The ancestor at depth :depth of the row :head, in O(log n) rows:
        # follow the jump where it does not overshoot, else the parent.  Each
        # step must go down and the walk stops after MAX_HOPS steps, so a
        # damaged row cannot make it loop.
        hop = select(
            turns.c.rid,
            turns.c.depth,
            turns.c.parent,
            turns.c.jump,
            literal_column("0").label("n"),
        ).where(turns.c.rid == bindparam("head"))
        walk = hop.cte("walk", recursive=True)
        nxt = turns.alias("nxt")
        target = turns.alias("target")
        target_depth = select(target.c.depth).where(target.c.rid == walk.c.jump).scalar_subquery()
        want: ColumnElement[int] = bindparam("depth")
        walk = walk.union_all(
            select(
                nxt.c.rid,
                nxt.c.depth,
                nxt.c.parent,
                nxt.c.jump,
                (walk.c.n + literal_column("1")).label("n"),
            ).where(
                nxt.c.rid == case((target_depth >= want, walk.c.jump), else_=walk.c.parent),
                walk.c.depth > want,
                nxt.c.depth < walk.c.depth,
                walk.c.n < literal_column(str(MAX_HOPS)),
            )
        )
        found = turns.alias("found")
        self.ancestor_at = c(
            select(found.c.rid, found.c.id, found.c.depth, found.c.key)
            .select_from(walk.join(found, found.c.rid == walk.c.rid))
            .order_by(walk.c.n.desc())
            .limit(literal_column("1"))
        )

        # gc: every turn reachable from a head; UNION (not ALL) so that a
        # prefix shared by many threads is walked once.
        # SQLite: the CTE goes inside the subquery so that the statement
        # starts with DELETE (Python's sqlite3 reports no rowcount for "WITH").
        seeds = select(threads.c.head.label("rid")).where(threads.c.head.is_not(None))
        reach = seeds.cte("reach", recursive=True, nesting=self.is_sqlite)
        reach = reach.union(
            select(turns.c.parent).where(turns.c.rid == reach.c.rid, turns.c.parent.is_not(None))
        )
        if self.is_postgresql:
            # An anti-join; NOT IN (subquery) degrades to a nested loop in
            # PostgreSQL once the set outgrows work_mem.
            unreachable = ~exists(select(reach.c.rid).where(reach.c.rid == turns.c.rid))
        else:
            # SQLite builds an ephemeral index for NOT IN (subquery).
            unreachable = turns.c.rid.not_in(select(reach.c.rid))
        self.gc = c(turns.delete().where(unreachable))
        self.lock_threads = (
            f"LOCK TABLE {dialect.identifier_preparer.format_table(threads)} IN EXCLUSIVE MODE"
            if self.is_postgresql
            else None
        )

        # history: up the forked_from links to the root, then down again.
        up = (
            select(
                threads.c.id,
                threads.c.forked_from_thread,
                literal_column("0").label("n"),
            )
            .where(threads.c.id == tid)
            .cte("up", recursive=True)
        )
        parent_thread = threads.alias("parent_thread")
        up = up.union_all(
            select(
                parent_thread.c.id,
                parent_thread.c.forked_from_thread,
                (up.c.n + literal_column("1")).label("n"),
            ).where(and_(parent_thread.c.id == up.c.forked_from_thread, up.c.n < _MAX_FORK_DEPTH))
        )
        self.fork_root = c(select(up.c.id).order_by(up.c.n.desc()).limit(literal_column("1")))
        down = (
            select(threads.c.id)
            .where(threads.c.id == bindparam("root"))
            .cte("down", recursive=True)
        )
        child = threads.alias("child")
        down = down.union(select(child.c.id).where(child.c.forked_from_thread == down.c.id))
        self.fork_tree = c(
            select(*info_columns)
            .select_from(info_from)
            .where(threads.c.id.in_(select(down.c.id)))
            .order_by(threads.c.created_at, threads.c.id)
        )

        if self.is_sqlite:
            self.begin_write: str | None = "BEGIN IMMEDIATE"
            self.begin_read: str | None = "BEGIN"
        else:
            # psycopg opens the transaction itself; reads take one snapshot
            # for all their statements.
            self.begin_write = None
            self.begin_read = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"

    def ts(self, value: datetime) -> Any:
        """A datetime as this dialect's timestamp column stores it."""
        return timestamp_to_db(value, self.dialect_name)

    @staticmethod
    def ts_from(value: Any) -> datetime:
        """A stored timestamp as a UTC datetime."""
        return timestamp_from_db(value)


_CACHE: dict[tuple[str, str, str], Statements] = {}


def statements_for(dialect: Dialect) -> Statements:
    """The compiled statements for ``dialect`` (cached per process)."""
    key = (dialect.name, dialect.driver, str(dialect.paramstyle))
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = Statements(dialect)
    return found


class Tx:
    """One transaction on a DBAPI connection, running compiled statements.

    DBAPI errors are re-raised as SQLAlchemy's wrappers
    (``sqlalchemy.exc.OperationalError`` ...), with the driver's exception as
    ``orig``, for ``convo.store._errors`` to translate.
    """

    __slots__ = ("_conn", "_cursor", "_error", "begun", "s")

    def __init__(
        self, dbapi_connection: Any, statements: Statements, error: type[Exception]
    ) -> None:
        self._conn = dbapi_connection
        self._cursor: Any = None
        self.begun = False
        """Whether a statement has run (``alone`` must come first)."""
        self._error = error
        self.s = statements

    def _wrap(self, sql: str, params: Any, exc: Exception) -> StatementError:
        return DBAPIError.instance(sql, params, exc, self._error)

    def _call(self, method: Callable[..., Any], sql: str, params: Any) -> Any:
        try:
            return method(sql, params)
        except self._error as exc:
            raise self._wrap(sql, params, exc) from exc

    @property
    def cursor(self) -> Any:
        """The transaction's DBAPI cursor (created on first use)."""
        if self._cursor is None:
            self._cursor = self._conn.cursor()
        return self._cursor

    def execute(self, statement: Compiled, params: Mapping[str, Any]) -> Any:
        """Run one statement; return the cursor."""
        cursor = self.cursor
        self.begun = True
        self._call(cursor.execute, statement.sql, statement.bind(params))
        return cursor

    def rows(self, statement: Compiled, params: Mapping[str, Any]) -> list[Any]:
        """Every result row, as DBAPI tuples (a row the driver cannot decode,
        e.g. text that is not UTF-8, raises the wrapped driver error)."""
        cursor = self.execute(statement, params)
        try:
            return list(cursor.fetchall())
        except self._error as exc:
            raise self._wrap(statement.sql, None, exc) from exc

    def first(self, statement: Compiled, params: Mapping[str, Any]) -> Any:
        """The first result row, or ``None``."""
        rows = self.rows(statement, params)
        return rows[0] if rows else None

    def count(self, statement: Compiled, params: Mapping[str, Any]) -> int:
        """Run a DML statement; return the number of rows it changed."""
        return int(self.execute(statement, params).rowcount)

    def many(self, statement: Compiled, params: Sequence[Mapping[str, Any]]) -> None:
        """Run one DML statement for each parameter set."""
        if params:
            self.begun = True
            bound = [statement.bind(p) for p in params]
            self._call(self.cursor.executemany, statement.sql, bound)

    def alone(self, statement: Compiled, params: Mapping[str, Any]) -> Any:
        """PostgreSQL: run one statement as its own transaction (autocommit:
        one round trip, no BEGIN or COMMIT) before this transaction has
        begun; return its first row, or ``None``.  Later statements open a
        new transaction as usual."""
        conn = self._conn
        try:
            conn.autocommit = True
        except self._error as exc:  # the connection is not idle after all
            raise self._wrap("SET autocommit", None, exc) from exc
        try:
            return self.first(statement, params)
        finally:
            self.begun = False
            # A broken link fails here too: the caller's error is the one to
            # see, and run_pooled invalidates the connection.
            with contextlib.suppress(self._error):
                conn.autocommit = False

    def raw(self, sql: str) -> None:
        """Run a literal statement without parameters (BEGIN, LOCK ...)."""
        cursor = self.cursor
        self.begun = True
        try:
            cursor.execute(sql)
        except self._error as exc:
            raise self._wrap(sql, None, exc) from exc

    def begin(self, *, write: bool) -> None:
        """Open the transaction (BEGIN IMMEDIATE for SQLite writes)."""
        sql = self.s.begin_write if write else self.s.begin_read
        if sql is not None:
            self.raw(sql)

    def commit(self) -> None:
        """Commit (SQLite: COMMIT; psycopg: ends its implicit transaction)."""
        try:
            self._conn.commit()
        except self._error as exc:
            raise self._wrap("COMMIT", None, exc) from exc

    def rollback(self) -> None:
        """Roll back; errors are swallowed (the connection is discarded on a
        broken link by the caller)."""
        with contextlib.suppress(self._error):
            self._conn.rollback()

    def close(self) -> None:
        """Close the cursor."""
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            with contextlib.suppress(self._error):
                cursor.close()

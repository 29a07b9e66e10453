"""``Store``: threads of conversations in a SQL database (synchronous).

The operations themselves live in ``_ops`` (shared with ``AsyncStore``);
this class owns the engine, runs each operation in one transaction on a
pooled connection, retries what is worth retrying, and translates database
errors into convo errors (with ``_errors.translate``, its one use here).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, TypeVar

from sqlalchemy import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from convo.conversation import Conversation
from convo.errors import ConflictError, StoreError
from convo.inputs import check_store_args
from convo.store import _ops, _usage
from convo.store._engine import (
    DEFAULT_BUSY_TIMEOUT,
    keep_inherited,
    make_sync_engine,
)
from convo.store._errors import MAX_ATTEMPTS, damaged_text, retryable, translate
from convo.store._info import ThreadInfo, ThreadTree
from convo.store._listing import ThreadOrder, ThreadPage, list_threads
from convo.store._open import open_read_only, open_target
from convo.store._search import SearchHit, index_unindexed, scope_ids, unindexed
from convo.store._search import search as search_turns
from convo.store._sql import Tx, statements_for
from convo.store.migrate import ensure_schema
from convo.store.schema import THREAD_ID_LENGTH
from convo.usage import Ledger, PriceTable

__all__ = ["Store", "backoff", "check_conversation", "check_thread_id", "new_fork_id"]

T = TypeVar("T")

_BACKOFF_BASE: Final = 0.005
_BACKOFF_CAP: Final = 0.25


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1`` (exponential, jittered)."""
    return float(min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5))


def check_thread_id(thread_id: str, name: str = "thread_id") -> str:
    """Validate a thread id: a non-empty string of at most 255 characters,
    with no NUL and no lone surrogate (the input policy, ``convo.inputs``;
    ``name`` is the argument an error names)."""
    if not isinstance(thread_id, str) or not thread_id:  # type: ignore[redundant-expr]
        raise ValueError(f"a thread id must be a non-empty string, got {thread_id!r}")
    check_store_args(**{name: thread_id})
    if len(thread_id) > THREAD_ID_LENGTH:
        raise ValueError(f"a thread id has at most {THREAD_ID_LENGTH} characters")
    return thread_id


def check_conversation(conversation: Conversation) -> Conversation:
    """Validate the conversation argument of ``save``."""
    if not isinstance(conversation, Conversation):
        raise TypeError(f"save() takes a Conversation, got {type(conversation).__name__}")
    return conversation


def new_fork_id(thread_id: str) -> str:
    """A fresh id for a fork of ``thread_id``."""
    return f"{thread_id[: THREAD_ID_LENGTH - 9]}-{secrets.token_hex(4)}"


class Store:
    """Conversation threads in SQLite (the default) or PostgreSQL.

    Args:
        url: a SQLAlchemy URL (``"sqlite:///chat.db"``,
            ``"postgresql+psycopg://user@host/db"``; ``postgresql://`` means
            psycopg 3), a filesystem path to a SQLite file, or ``None`` for
            ``./convo.db``.  ``"sqlite://"`` is an in-memory database.
        auto_upgrade: migrate an older database to this convo's schema when
            opening it.  With ``False`` an older database raises
            ``SchemaVersionError`` (run ``convo db upgrade``).  An empty
            database always gets the schema.
        busy_timeout: SQLite: seconds a writer waits for another writer's
            lock before failing.
        synchronous: SQLite's ``PRAGMA synchronous``.  ``"FULL"`` (the
            default): a committed save survives a power loss or an OS crash
            (WAL is synced on every commit).  ``"NORMAL"``: faster commits
            that survive a crash of the process, but a power loss or OS
            crash may lose the last commits (never corrupt the file).
        engine_options: extra ``sqlalchemy.create_engine`` keywords (pool
            size, ``echo``...).
        read_only: open the database without ever writing to it: no schema
            is created and no migration runs (a missing or older schema is
            a ``StoreError``/``SchemaVersionError``), SQLite files open with
            ``mode=ro`` (``immutable=1`` when SQLite cannot share a WAL file
            read-only), and ``save``/``fork``/``delete``/``gc`` raise
            ``StoreError``.  The database must exist.

    Raises:
        SchemaVersionError: the database schema is newer than this convo, or
            older and ``auto_upgrade`` is false.
        StoreError: the database cannot be opened or migrated.

    A store is safe to share between threads (each call takes a pooled
    connection) and across ``os.fork()`` (the child gets fresh connections).
    Close it with ``close()`` or use it as a context manager.
    """

    def __init__(
        self,
        url: str | os.PathLike[str] | URL | None = None,
        *,
        auto_upgrade: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        synchronous: str = "FULL",
        engine_options: Mapping[str, Any] | None = None,
        read_only: bool = False,
    ) -> None:
        target = open_target(url, asyncio=False, read_only=read_only)
        self._read_only = read_only
        self._heads: _ops.Heads = {}
        if read_only:
            engine = open_read_only(
                target,
                lambda candidate: make_sync_engine(
                    candidate,
                    busy_timeout=busy_timeout,
                    synchronous=synchronous,
                    engine_options=engine_options,
                    read_only=True,
                ),
            )
            self._statements = statements_for(engine.dialect)
        else:
            engine = make_sync_engine(
                target,
                busy_timeout=busy_timeout,
                synchronous=synchronous,
                engine_options=engine_options,
            )
            try:
                self._statements = statements_for(engine.dialect)
                with engine.connect() as connection:
                    ensure_schema(connection, auto_upgrade=auto_upgrade)
            except UnicodeDecodeError as exc:
                engine.dispose()
                raise damaged_text(exc) from exc
            except SQLAlchemyError as exc:
                engine.dispose()
                raise translate(exc) from exc
            except UnicodeError as exc:
                engine.dispose()
                raise StoreError(f"the database is damaged (unreadable text: {exc})") from exc
            except BaseException:
                engine.dispose()
                raise
        self._engine = engine
        # Connections this store keeps checked out between calls: the pool's
        # checkout and check-in (events, bookkeeping: ~8% of a save) are paid
        # once per connection, not once per call.  A list is a thread-safe
        # stack (pop and append are atomic); a thread that finds it empty
        # checks one out of the pool.
        self._idle: list[Any] = []
        self._idle_max = max(1, int(getattr(engine.pool, "size", lambda: 1)()))
        self._pid = os.getpid()
        # An in-memory database is one shared connection: take turns.
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if target.memory else nullcontext()
        )

    # -- plumbing ------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for inspection; the store runs its own SQL)."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def read_only(self) -> bool:
        """Whether this store was opened with ``read_only=True``."""
        return self._read_only

    def _checkout(self) -> Any:
        if os.getpid() != self._pid:
            # A forked child: the parent's connections are never touched
            # (see ``_engine``), only kept referenced.
            keep_inherited(self._idle)
            self._idle = []
            self._pid = os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            pass
        try:
            return self._engine.raw_connection()
        except UnicodeDecodeError as exc:
            raise damaged_text(exc) from exc
        except SQLAlchemyError as exc:
            raise translate(exc) from exc

    def _checkin(self, pooled: Any) -> None:
        if pooled.is_valid and len(self._idle) < self._idle_max:
            self._idle.append(pooled)
        else:
            pooled.close()

    def _run(self, op: Callable[[Tx], T], *, write: bool) -> T:
        if write and self._read_only:
            raise StoreError(
                "this store is read-only (opened with read_only=True): "
                "open it without read_only to save, fork, delete or gc"
            )
        dialect = self._engine.dialect
        attempt = 1
        while True:
            with self._serial:
                pooled = self._checkout()
                try:
                    return _ops.run_pooled(pooled, dialect, self._statements, op, write=write)
                except DBAPIError as exc:
                    again = retryable(exc) or (exc.connection_invalidated and attempt == 1)
                    if not again or attempt >= MAX_ATTEMPTS:
                        raise translate(exc, attempts=attempt) from exc
                except UnicodeDecodeError as exc:
                    raise damaged_text(exc) from exc
                except SQLAlchemyError as exc:
                    raise translate(exc) from exc
                finally:
                    self._checkin(pooled)
            time.sleep(backoff(attempt))
            attempt += 1

    def close(self) -> None:
        """Close every pooled connection (a later call would open new ones)."""
        while self._idle:
            with contextlib.suppress(IndexError):
                self._idle.pop().close()
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- writing -------------------------------------------------------------

    def save(
        self,
        thread_id: str,
        conversation: Conversation,
        *,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
        replace_system: bool = False,
        expected_head: str | None = None,
    ) -> ThreadInfo:
        """Save ``conversation`` as thread ``thread_id``, fast-forward only.

        Like ``git push``: the save succeeds when the thread does not exist
        yet, or when its stored head is one of ``conversation``'s turns (an
        ancestor of its head, or the head itself); the head then moves with
        a compare-and-set.  Only the turns the database lacks are written,
        and finding them costs O(new turns), whatever the thread's length.
        Saving the same conversation twice writes nothing.

        The system prompt is part of the thread: a save whose system prompt
        differs from the stored one is a conflict too, unless
        ``replace_system`` says that changing it is the point.

        ``expected_head`` turns the fast-forward rule into a compare-and-set
        on the head ("force with lease"): the save succeeds iff the stored
        head is exactly ``expected_head``, and the new head need not descend
        from it (e.g. a continuation joined into the last turn replaces it).

        Args:
            thread_id: the thread to create or move forward.
            conversation: the conversation to save.
            title: set the thread's title (``None``: keep it).
            meta: set the thread's JSON metadata (``None``: keep it).
            replace_system: allow this save to change the system prompt.
            expected_head: save only if this is the stored head, then move
                the head to ``conversation``'s even if it is not a descendant.

        Returns:
            The thread as saved.

        Raises:
            ConflictError: the stored head is not an ancestor of the
                conversation's head (someone else saved first), or is not
                ``expected_head``, or the system prompt differs.  The conversation's turns ARE stored:
                reload and re-apply, or save under a new thread id.
            StoreError: the database failed.
        """
        check_thread_id(thread_id)
        check_store_args(title=title, meta=meta)  # convo.inputs
        check_conversation(conversation)
        now = datetime.now(UTC)

        def op(tx: Tx) -> ThreadInfo | ConflictError:
            return _ops.save(
                tx,
                thread_id,
                conversation,
                title=title,
                meta=meta,
                replace_system=replace_system,
                now=now,
                expected_head=expected_head,
                heads=self._heads,
            )

        result = self._run(op, write=True)
        if isinstance(result, ConflictError):
            raise result
        return result

    def fork(
        self,
        thread_id: str,
        at: int | None = None,
        *,
        new_id: str | None = None,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ThreadInfo:
        """Create a thread whose head is turn ``at`` of ``thread_id``.

        No turn is copied: the new thread points into the same chain, so
        both share every turn up to the fork.  Turn ``at`` is found through
        the skew-binary jump pointers: O(log n) rows read at any depth.

        Args:
            thread_id: the thread to fork.
            at: how many turns the fork keeps (``None``: all of them; a
                negative number counts from the end, like
                ``Conversation.fork``).
            new_id: the new thread's id (default: ``"<thread_id>-<random>"``).
            title: the fork's title (default: the original's).
            meta: the fork's metadata (default: the original's).

        Returns:
            The new thread (``forked_from`` and ``forked_at`` set).

        Raises:
            ThreadNotFoundError: ``thread_id`` does not exist.
            ThreadExistsError: ``new_id`` exists already.
            ForkPointError: ``at`` is outside ``-length..length`` (also an
                ``IndexError``).
        """
        check_thread_id(thread_id)
        target = check_thread_id(new_id, "new_id") if new_id is not None else new_fork_id(thread_id)
        check_store_args(title=title, meta=meta)  # convo.inputs
        now = datetime.now(UTC)
        return self._run(
            lambda tx: _ops.fork(
                tx, thread_id, at=at, new_id=target, title=title, meta=meta, now=now
            ),
            write=True,
        )

    def delete(self, thread_id: str) -> None:
        """Delete a thread.  Its turns stay until ``gc()``; forks of it keep
        their turns and lose their ``forked_from`` link.

        Args:
            thread_id: the thread to delete.

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        self._run(lambda tx: _ops.delete(tx, thread_id), write=True)

    def gc(self) -> int:
        """Delete every turn that no thread reaches; return how many.

        Turns left behind by ``delete`` or by a conflicting save go here.
        Safe to run while other processes save (it takes the write lock).

        Returns:
            The number of turn rows deleted.
        """
        return self._run(_ops.gc, write=True)

    # -- reading -------------------------------------------------------------

    def load(self, thread_id: str, upto: int | None = None) -> Conversation:
        """The conversation saved as ``thread_id``, or its first ``upto`` turns.

        One recursive query, bounded by the depth the thread's head claims
        (a damaged chain raises, it never loops); turns decode their JSON
        only when asked, so loading costs little more than reading the
        rows.  With ``upto``, turn ``upto`` is found through the jump
        pointers in O(log n) rows, and only the turns kept are read.

        Args:
            thread_id: the thread to load.
            upto: how many turns to load (``None``: all of them; a negative
                number counts from the end, like ``Store.fork``'s ``at``).

        Returns:
            A conversation equal to the one saved, with the same turn ids,
            origins, metadata and system prompt.

        Raises:
            ThreadNotFoundError: no such thread.
            TurnNotFoundError: the head row is missing.
            IntegrityError: the stored chain is damaged (its links or depths
                do not form the thread; ``turn_id`` names where).
            IndexError: ``upto`` is outside ``-length..length``.
            StoreError: the database failed.
        """
        check_thread_id(thread_id)
        loaded = self._run(lambda tx: _ops.load(tx, thread_id, upto), write=False)
        conversation = _ops.guarded(_ops.to_conversation, thread_id, loaded)
        if upto is None:
            _ops.remember_loaded(self._heads, thread_id, loaded)
        return conversation

    def usage(
        self, thread_id: str, *, since: str | None = None, prices: PriceTable | None = None
    ) -> Ledger:
        """The thread's usage ledger: every model response of its chain,
        with its tokens (input, output, cache read, cache write by TTL) and
        cost; the same ledger as ``store.load(thread_id).usage(...)``.

        A fork shares its prefix's requests with the thread it was forked
        from; ``since`` leaves out the requests whose turn is in that
        thread's chain (a fork's own cost: see ``Conversation.usage``).
        Both threads are read in one transaction.

        Args:
            thread_id: the thread.
            since: a thread whose turns (the shared prefix) are left out.
            prices: override the profiles' price tables (one ``Prices``, a
                model -> ``Prices`` mapping, or a function of the model).

        Returns:
            A ``convo.usage.Ledger``: one ``RequestUsage`` per response, and
            the total.

        Raises:
            ThreadNotFoundError: ``thread_id`` or ``since`` does not exist.
            IntegrityError: a stored chain is damaged.
        """
        check_thread_id(thread_id)
        if since is not None:
            check_thread_id(since, "since")
        rows = self._run(lambda tx: _usage.read(tx, thread_id, since), write=False)
        return _usage.ledger_of(thread_id, since, rows, prices)

    def info(self, thread_id: str) -> ThreadInfo:
        """What the store knows about one thread.

        Args:
            thread_id: the thread.

        Returns:
            Its id, head, length, title, metadata, version, times and fork
            origin.

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        return self._run(lambda tx: _ops.info(tx, thread_id), write=False)

    def threads(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
        forked_from: str | None = None,
        order: ThreadOrder = "updated",
    ) -> ThreadPage:
        """The threads, one page at a time, most recently updated first.

        Args:
            limit: at most this many (a page); ``None``: all of them.
            after: the ``next_cursor`` of the previous page.
            title: only threads with exactly this title.
            meta: only threads whose meta has every one of these keys equal
                to these values (str, int, float or bool).
            forked_from: only the forks made directly from this thread.
            order: ``"updated"`` (most recently changed first), ``"created"``
                (newest first) or ``"oldest"`` (oldest first).

        Returns:
            A ``ThreadPage``: a list of ``ThreadInfo`` with ``next_cursor``
            (``None`` on the last page).  Every page is one indexed query.

        Raises:
            StoreError: a cursor that is not one, or is for another order.
            ValueError: a bad ``limit``, ``order`` or meta value.
        """
        return self._run(
            lambda tx: list_threads(
                tx,
                limit=limit,
                after=after,
                title=title,
                meta=meta,
                forked_from=forked_from,
                order=order,
            ),
            write=False,
        )

    def search(
        self,
        text: str,
        *,
        limit: int = 20,
        threads: Iterable[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The turns whose text has every word of ``text``, best match first.

        Uses the database's full-text search (SQLite FTS5, PostgreSQL
        ``tsvector`` with a GIN index); words are matched whole, without
        stemming; the query has no syntax (quotes and operators are text).
        On SQLite, turns are indexed when searching, not when saving: a
        writable store first indexes the turns saved since the last search;
        a read-only one also scans those (at most ``TAIL_SCAN_LIMIT``).

        Args:
            text: the words to look for.
            limit: at most this many hits (fewer only when fewer exist).
            threads: search only these threads (ids).
            meta: search only the threads whose meta has every one of these
                keys equal to these values, as ``threads(meta=...)`` filters
                them (e.g. one user's threads: ``meta={"user": "u1"}``).

        Returns:
            One ``SearchHit`` per matching turn: its id, index, role, origin,
            a snippet with the matches in ``[...]``, and the threads (in
            scope) holding it.

        Cost: the index finds the matching turns; a turn names its threads
        by checking, through the jump pointers (O(log n) rows each), the
        head of every thread in scope: scope a search to a user's threads
        (``meta=``) where there are many threads.
        """
        scope = None if threads is None else scope_ids(threads)
        sqlite = self._engine.dialect.name == "sqlite"
        if sqlite and not self._read_only and self._run(unindexed, write=False):
            # SQLite indexes the turns saved since the last search (0004).
            self._run(index_unindexed, write=True)
        return self._run(lambda tx: search_turns(tx, text, limit=limit, threads=scope, meta=meta), write=False)

    def index_search(self) -> int:
        """Bring SQLite's search index up to date; return how many turns it indexed.

        SQLite indexes turns when searching, not when saving, and a
        writable store's ``search`` does this first. Call it ahead of a
        read-only store's searches (``convo search`` opens the database
        read-only): a read-only store scans the turns not indexed yet, at
        most ``TAIL_SCAN_LIMIT`` of them. The CLI's ``convo db index`` calls
        it. PostgreSQL indexes on write: 0.

        Raises:
            StoreError: the store is read-only.
        """
        if self._engine.dialect.name != "sqlite":
            return 0
        return self._run(index_unindexed, write=True)

    def history(self, thread_id: str) -> ThreadTree:
        """The fork tree around ``thread_id``: from the oldest thread it was
        (transitively) forked from, down through every fork.

        Args:
            thread_id: any thread of the tree.

        Returns:
            The root node; ``tree.find(thread_id)`` is the thread's own node.

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        return self._run(lambda tx: _ops.history(tx, thread_id), write=False)

    def verify(self, thread_id: str) -> int:
        """Recompute the hash of every turn of a thread.

        Both hashes are checked: each ``Turn.id`` (content and role, chained
        through the parents) and each row key (which also covers origin and
        metadata).

        Args:
            thread_id: the thread to check.

        Returns:
            The number of turns verified.

        Raises:
            HashMismatchError: a stored turn no longer hashes to what was
                saved (``turn_id`` and ``thread_id`` name it).
            IntegrityError: depths, parent or jump links were damaged (the
                walk is bounded by the head's depth: a loop ends it).
            TurnNotFoundError: the head row is missing.
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        chain = self._run(lambda tx: _ops.load_chain(tx, thread_id), write=False)
        return _ops.guarded(_ops.verify_chain, thread_id, chain)

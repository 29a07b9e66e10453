"""``AsyncStore``: the same store for asyncio (aiosqlite, psycopg async).

Each operation is the synchronous ``_ops`` function run inside
``AsyncConnection.run_sync``, where the async drivers' DBAPI adapters behave
synchronously on a greenlet: one implementation, two front ends, and no
event-loop blocking (the driver's I/O is awaited underneath).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import URL, Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from convo.conversation import Conversation
from convo.errors import ConflictError, StoreError
from convo.inputs import check_store_args
from convo.store import _ops, _usage
from convo.store._engine import (
    DEFAULT_BUSY_TIMEOUT,
    StoreURL,
    keep_inherited,
    make_async_engine,
)
from convo.store._errors import MAX_ATTEMPTS, damaged_text, retryable, translate
from convo.store._info import ThreadInfo, ThreadTree
from convo.store._listing import ThreadOrder, ThreadPage, list_threads
from convo.store._open import open_read_only_async, open_target, read_only_candidates
from convo.store._search import SearchHit, index_unindexed, scope_ids, unindexed
from convo.store._search import search as search_turns
from convo.store._sql import Statements, Tx, statements_for
from convo.store._sync import backoff, check_conversation, check_thread_id, new_fork_id
from convo.store.migrate import ensure_schema
from convo.usage import Ledger, PriceTable

__all__ = ["AsyncStore"]

T = TypeVar("T")


def _in_greenlet(
    connection: Connection, statements: Statements, op: Callable[[Tx], T], write: bool
) -> T:
    return _ops.run_pooled(connection.connection, connection.dialect, statements, op, write=write)


class AsyncStore:
    """``Store`` for asyncio: the same methods, awaited.

    Args:
        url: as for ``Store``; the driver becomes its async twin
            (``sqlite+aiosqlite``, ``postgresql+psycopg`` in async mode).
        auto_upgrade: as for ``Store``.  The schema is checked on first use
            (or on ``async with``), since a constructor cannot await.
        busy_timeout: as for ``Store``.
        synchronous: as for ``Store``.
        engine_options: extra ``create_async_engine`` keywords.
        read_only: as for ``Store``: never write, never migrate.

    Close it with ``await store.aclose()`` or use ``async with``.
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
        target = open_target(url, asyncio=True, read_only=read_only)
        self._read_only = read_only

        def make(candidate: StoreURL) -> AsyncEngine:
            return make_async_engine(
                candidate,
                busy_timeout=busy_timeout,
                synchronous=synchronous,
                engine_options=engine_options,
                read_only=read_only,
            )

        self._reopen: Callable[[], Awaitable[AsyncEngine]] | None = None
        if read_only:
            # The read-only URL is settled when the store opens (mode=ro,
            # else immutable=1): see convo.store._open.
            self._reopen = lambda: open_read_only_async(target, make)
            target_now = read_only_candidates(target)[0]
        else:
            target_now = target
        self._engine = make(target_now)
        self._heads: _ops.Heads = {}
        self._statements = statements_for(self._engine.dialect)
        # Connections kept open between calls, as ``Store`` keeps its own:
        # ``engine.connect()`` and its close (pool checkout and check-in,
        # events, an AsyncConnection) cost about as much as a save's SQL on
        # a fast database.  Only the event loop's thread touches the stack
        # and a task pops a connection before its first await, so tasks
        # running at once never share one: each takes its own (a new one
        # from the pool when the stack is empty).
        self._idle: list[AsyncConnection] = []
        self._idle_max = max(1, int(getattr(self._engine.pool, "size", lambda: 1)()))
        self._pid = os.getpid()
        self._auto_upgrade = auto_upgrade
        self._ready = False
        self._ready_lock = asyncio.Lock()
        # An in-memory database is one shared connection: take turns.
        self._serial: AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if target.memory else nullcontext()
        )

    # -- plumbing ------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy async engine."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    async def open(self) -> AsyncStore:
        """Check (and create or upgrade) the schema now rather than on first
        use; return the store.

        Raises:
            SchemaVersionError: as for ``Store``.
        """
        if self._ready:
            return self
        async with self._ready_lock:
            if self._reopen is not None:
                await self._engine.dispose()
                self._engine = await self._reopen()
                self._reopen = None
                self._ready = True
            elif not self._ready:
                auto_upgrade = self._auto_upgrade
                try:
                    async with self._serial, self._engine.connect() as connection:
                        await connection.run_sync(
                            lambda sync: ensure_schema(sync, auto_upgrade=auto_upgrade)
                        )
                except UnicodeDecodeError as exc:
                    raise damaged_text(exc) from exc
                except SQLAlchemyError as exc:
                    raise translate(exc) from exc
                except UnicodeError as exc:
                    raise StoreError(f"the database is damaged (unreadable text: {exc})") from exc
                self._ready = True
        return self

    @property
    def read_only(self) -> bool:
        """Whether this store was opened with ``read_only=True``."""
        return self._read_only

    async def _run(self, op: Callable[[Tx], T], *, write: bool) -> T:
        if write and self._read_only:
            raise StoreError(
                "this store is read-only (opened with read_only=True): "
                "open it without read_only to save, fork, delete or gc"
            )
        await self.open()
        attempt = 1
        while True:
            async with self._serial:
                try:
                    connection = await self._checkout()
                    try:
                        result = await connection.run_sync(
                            _in_greenlet, self._statements, op, write
                        )
                    except BaseException:
                        # The connection may be mid-transaction or invalid:
                        # back to the pool, which closes what it must.
                        await connection.close()
                        raise
                    await self._checkin(connection)
                    return result
                except DBAPIError as exc:
                    again = retryable(exc) or (exc.connection_invalidated and attempt == 1)
                    if not again or attempt >= MAX_ATTEMPTS:
                        raise translate(exc, attempts=attempt) from exc
                except UnicodeDecodeError as exc:
                    raise damaged_text(exc) from exc
                except SQLAlchemyError as exc:
                    raise translate(exc) from exc
            await asyncio.sleep(backoff(attempt))
            attempt += 1

    async def _checkout(self) -> AsyncConnection:
        if os.getpid() != self._pid:
            # A forked child: the parent's connections are never touched
            # (see ``_engine``), only kept referenced.
            keep_inherited(self._idle)
            self._idle = []
            self._pid = os.getpid()
        if self._idle:
            return self._idle.pop()
        return await self._engine.connect()

    async def _checkin(self, connection: AsyncConnection) -> None:
        if len(self._idle) < self._idle_max and not connection.invalidated:
            self._idle.append(connection)
        else:
            await connection.close()

    async def aclose(self) -> None:
        """Close every pooled connection (a later call would open new ones)."""
        while self._idle:
            await self._idle.pop().close()
        await self._engine.dispose()

    async def __aenter__(self) -> AsyncStore:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncStore({self.url!r})"

    # -- writing -------------------------------------------------------------

    async def save(
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

        See ``Store.save``.

        Raises:
            ConflictError: the stored head is not an ancestor of the
                conversation's head, or the system prompt differs (the turns
                are stored anyway).
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

        result = await self._run(op, write=True)
        if isinstance(result, ConflictError):
            raise result
        return result

    async def fork(
        self,
        thread_id: str,
        at: int | None = None,
        *,
        new_id: str | None = None,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ThreadInfo:
        """Create a thread whose head is turn ``at`` of ``thread_id``.

        See ``Store.fork``.

        Raises:
            ThreadNotFoundError: ``thread_id`` does not exist.
            ThreadExistsError: ``new_id`` exists already.
            ForkPointError: ``at`` is out of range (also an ``IndexError``).
        """
        check_thread_id(thread_id)
        target = check_thread_id(new_id, "new_id") if new_id is not None else new_fork_id(thread_id)
        check_store_args(title=title, meta=meta)  # convo.inputs
        now = datetime.now(UTC)
        return await self._run(
            lambda tx: _ops.fork(
                tx, thread_id, at=at, new_id=target, title=title, meta=meta, now=now
            ),
            write=True,
        )

    async def delete(self, thread_id: str) -> None:
        """Delete a thread (see ``Store.delete``).

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        await self._run(lambda tx: _ops.delete(tx, thread_id), write=True)

    async def gc(self) -> int:
        """Delete every turn that no thread reaches; return how many."""
        return await self._run(_ops.gc, write=True)

    # -- reading -------------------------------------------------------------

    async def load(self, thread_id: str, upto: int | None = None) -> Conversation:
        """The conversation saved as ``thread_id``, or its first ``upto``
        turns (see ``Store.load``).

        Raises:
            ThreadNotFoundError: no such thread.
            IntegrityError: the stored chain is damaged.
            IndexError: ``upto`` is outside ``-length..length``.
        """
        check_thread_id(thread_id)
        loaded = await self._run(lambda tx: _ops.load(tx, thread_id, upto), write=False)
        conversation = _ops.guarded(_ops.to_conversation, thread_id, loaded)
        if upto is None:
            _ops.remember_loaded(self._heads, thread_id, loaded)
        return conversation

    async def usage(
        self, thread_id: str, *, since: str | None = None, prices: PriceTable | None = None
    ) -> Ledger:
        """The thread's usage ledger (see ``Store.usage``): the same ledger
        as ``(await store.load(thread_id)).usage(...)``, ``since`` a thread
        whose shared prefix is left out.

        Raises:
            ThreadNotFoundError: ``thread_id`` or ``since`` does not exist.
            IntegrityError: a stored chain is damaged.
        """
        check_thread_id(thread_id)
        if since is not None:
            check_thread_id(since, "since")
        rows = await self._run(lambda tx: _usage.read(tx, thread_id, since), write=False)
        return _usage.ledger_of(thread_id, since, rows, prices)

    async def info(self, thread_id: str) -> ThreadInfo:
        """What the store knows about one thread.

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        return await self._run(lambda tx: _ops.info(tx, thread_id), write=False)

    async def threads(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
        forked_from: str | None = None,
        order: ThreadOrder = "updated",
    ) -> ThreadPage:
        """The threads, one page at a time (see ``Store.threads``: the same
        arguments, page and errors)."""
        return await self._run(
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

    async def search(
        self,
        text: str,
        *,
        limit: int = 20,
        threads: Iterable[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> list[SearchHit]:
        """The turns whose text has every word of ``text``, best match first
        (see ``Store.search``: the same arguments, scope and cost)."""
        scope = None if threads is None else scope_ids(threads)
        sqlite = self._engine.dialect.name == "sqlite"
        if sqlite and not self._read_only and await self._run(unindexed, write=False):
            # SQLite indexes the turns saved since the last search (0004).
            await self._run(index_unindexed, write=True)
        return await self._run(lambda tx: search_turns(tx, text, limit=limit, threads=scope, meta=meta), write=False)

    async def index_search(self) -> int:
        """Bring SQLite's search index up to date; return how many turns it
        indexed (see ``Store.index_search``)."""
        if self._engine.dialect.name != "sqlite":
            return 0
        return await self._run(index_unindexed, write=True)

    async def history(self, thread_id: str) -> ThreadTree:
        """The fork tree around ``thread_id`` (see ``Store.history``).

        Raises:
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        return await self._run(lambda tx: _ops.history(tx, thread_id), write=False)

    async def verify(self, thread_id: str) -> int:
        """Recompute the hash of every turn of a thread; return how many.

        Raises:
            HashMismatchError: a stored turn no longer hashes to its id.
            IntegrityError: depths, parent or jump links are damaged.
            ThreadNotFoundError: no such thread.
        """
        check_thread_id(thread_id)
        chain = await self._run(lambda tx: _ops.load_chain(tx, thread_id), write=False)
        return _ops.guarded(_ops.verify_chain, thread_id, chain)

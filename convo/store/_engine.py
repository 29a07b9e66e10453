"""Engines: URL defaults, per-backend setup, and safety across ``os.fork()``.

A pooled connection must never be used by two processes: SQLite's docs list
"carrying an open database connection across a fork()" among the ways to
corrupt a database, and a PostgreSQL socket shared by two processes
interleaves their protocol.  Every engine the store creates is registered
here; in a forked child, each gets a fresh pool before anything can use it
(``os.register_at_fork``).  The inherited pools are kept referenced but
never touched, so that garbage collection does not close the parent's
SQLite handles from the child either.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from convo.store import _sqlite

__all__ = [
    "DEFAULT_URL",
    "StoreURL",
    "keep_inherited",
    "make_async_engine",
    "make_sync_engine",
    "resolve_url",
]

DEFAULT_URL: Final = "sqlite:///convo.db"
"""``./convo.db`` in the current directory."""

DEFAULT_BUSY_TIMEOUT: Final = 30.0

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_INHERITED: list[Any] = []


def _after_fork_in_child() -> None:
    for engine in list(_ENGINES):
        _INHERITED.append(engine.pool)
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def keep_inherited(connections: Any) -> None:
    """Keep a parent's connections referenced in a forked child, never used
    nor closed (closing would close the parent's SQLite handles too)."""
    _INHERITED.append(connections)


class StoreURL:
    """A resolved database URL and what the store needs to know about it."""

    __slots__ = ("backend", "memory", "url")

    def __init__(self, url: URL, *, memory: bool) -> None:
        self.url = url
        self.backend = url.get_backend_name()
        self.memory = memory


def resolve_url(url: str | os.PathLike[str] | URL | None, *, asyncio: bool) -> StoreURL:
    """Normalise what the user passed: ``None`` is ``./convo.db``, a path
    (no ``://``) is a SQLite file, ``postgresql://`` means psycopg 3, and
    the driver is switched to its async twin for ``AsyncStore``."""
    if url is None:
        url = DEFAULT_URL
    if isinstance(url, os.PathLike) or (isinstance(url, str) and "://" not in url):
        url = URL.create("sqlite", database=str(Path(os.fspath(url))))
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name() if "+" in parsed.drivername else ""
    memory = False
    if backend == "sqlite":
        if driver in ("", "pysqlite", "aiosqlite"):
            parsed = parsed.set(drivername="sqlite+aiosqlite" if asyncio else "sqlite+pysqlite")
        database = parsed.database or ""
        memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    elif backend == "postgresql" and driver == "":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return StoreURL(parsed, memory=memory)


def _options(
    target: StoreURL, busy_timeout: float, engine_options: Mapping[str, Any] | None
) -> dict[str, Any]:
    # Every operation ends its own transaction (commit, or rollback on any
    # error), so the pool need not roll back again on check-in.
    options: dict[str, Any] = {"pool_reset_on_return": None}
    if target.backend == "sqlite":
        connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": busy_timeout}
        if target.memory:
            # One shared connection: a second one would be another database.
            options["poolclass"] = StaticPool
        options["connect_args"] = connect_args
    options.update(engine_options or {})
    return options


def make_sync_engine(
    target: StoreURL,
    *,
    busy_timeout: float,
    synchronous: str,
    engine_options: Mapping[str, Any] | None = None,
    read_only: bool = False,
) -> Engine:
    """A configured, fork-safe engine for ``Store``."""
    engine = create_engine(target.url, **_options(target, busy_timeout, engine_options))
    _configure(
        engine, target, busy_timeout=busy_timeout, synchronous=synchronous, read_only=read_only
    )
    return engine


def make_async_engine(
    target: StoreURL,
    *,
    busy_timeout: float,
    synchronous: str,
    engine_options: Mapping[str, Any] | None = None,
    read_only: bool = False,
) -> AsyncEngine:
    """A configured, fork-safe engine for ``AsyncStore``."""
    engine = create_async_engine(target.url, **_options(target, busy_timeout, engine_options))
    _configure(
        engine.sync_engine,
        target,
        busy_timeout=busy_timeout,
        synchronous=synchronous,
        read_only=read_only,
    )
    return engine


def _configure(
    engine: Engine, target: StoreURL, *, busy_timeout: float, synchronous: str, read_only: bool
) -> None:
    if target.backend == "sqlite":
        _sqlite.install(
            engine,
            database=target.url.database or "",
            memory=target.memory,
            busy_timeout=busy_timeout,
            synchronous=synchronous,
            read_only=read_only,
        )
    elif read_only:
        _read_only_sessions(engine)
    _ENGINES.add(engine)


def _read_only_sessions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # PostgreSQL itself refuses every write in these sessions.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        finally:
            cursor.close()
        if not getattr(dbapi_connection, "autocommit", True):
            dbapi_connection.commit()

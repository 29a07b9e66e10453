"""SQLite done right: pragmas on every connection, BEGIN IMMEDIATE for writes.

Every connection gets ``journal_mode=WAL`` (readers never block the writer),
``foreign_keys=ON`` (off by default in SQLite!), a ``busy_timeout`` (a
writer waits for the lock instead of failing at once) and the store's
``synchronous`` mode: ``FULL`` by default (a commit survives a power loss
or an OS crash), or ``NORMAL`` when asked for (in WAL mode a commit
survives a crash of the process; an OS crash or power loss can lose the
last commits, never corrupt the file).

Python's ``sqlite3`` opens transactions itself, lazily and as DEFERRED, so a
read-then-write transaction can fail with "database is locked" without
waiting.  SQLAlchemy's documented recipe turns that off
(``isolation_level = None`` in a ``connect`` hook) and emits BEGIN itself;
the store's executor emits ``BEGIN IMMEDIATE`` for writes (the write lock
is taken up front, through the busy handler) and plain ``BEGIN`` for reads.
The ``begin`` hook below covers transactions opened through SQLAlchemy
(migrations): they are writes, so they BEGIN IMMEDIATE too, unless the
connection carries the execution option ``convo_begin="DEFERRED"``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any, Final

from sqlalchemy import Engine, event

__all__ = ["WAL_RESET_FIX", "install", "sqlite_version_note"]

logger = logging.getLogger("convo.store")

WAL_RESET_FIX: Final = (3, 51, 3)
"""The SQLite release that fixed the WAL-reset race (a corruption that needs
several connections writing and checkpointing at the same time)."""

SYNCHRONOUS_MODES: Final = ("OFF", "NORMAL", "FULL", "EXTRA")


def sqlite_version_note(version: tuple[int, ...] = sqlite3.sqlite_version_info) -> str:
    """A sentence about the SQLite library in use, for the log."""
    text = ".".join(str(part) for part in version)
    if tuple(version) < WAL_RESET_FIX:
        return (
            f"SQLite {text} predates 3.51.3, which fixed a rare WAL-reset corruption "
            "race between connections writing and checkpointing at the same time; "
            "see docs/store.md"
        )
    return f"SQLite {text}"


def install(
    engine: Engine,
    *,
    database: str,
    memory: bool,
    busy_timeout: float,
    synchronous: str,
    read_only: bool = False,
) -> None:
    """Attach the connect and begin hooks to ``engine`` (sync, or an async
    engine's ``sync_engine``).  ``read_only`` sets no pragma that writes
    (``journal_mode``) and makes every connection ``query_only``."""
    if synchronous.upper() not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, got {synchronous!r}")
    sync_mode = synchronous.upper()
    timeout_ms = max(0, int(busy_timeout * 1000))
    logged = False

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        nonlocal logged
        # Stop the driver from opening transactions: we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            elif not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                mode = cursor.fetchall()[0][0]
                if str(mode).lower() != "wal":
                    logger.warning("SQLite refused WAL mode for %s (got %r)", database, mode)
            if not read_only:
                cursor.execute(f"PRAGMA synchronous = {sync_mode}")
        finally:
            cursor.close()
        record.info["convo_pid"] = os.getpid()
        if not logged:
            logged = True
            logger.info("%s; database %s", sqlite_version_note(), database or ":memory:")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Transactions opened through SQLAlchemy are migrations: writes.  The
        # schema check that comes before them reads with convo_begin="DEFERRED".
        mode = connection.get_execution_options().get("convo_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

"""SQLAlchemy and driver errors -> convo errors: the one place it happens.

``Store`` and ``AsyncStore`` catch ``sqlalchemy.exc.SQLAlchemyError`` (the
executor in ``_sql`` wraps raw DBAPI errors into it) and raise
``translate(exc) from exc``.  ``retryable`` says which failures are worth
running the transaction again: PostgreSQL serialization failures and
deadlocks, and SQLite's "busy" codes that come back without waiting.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import exc as sa_exc

from convo.errors import DatabaseLockedError, StoreError

__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_SQLSTATES",
    "damaged_text",
    "retryable",
    "sqlstate",
    "translate",
]

MAX_ATTEMPTS: Final = 5
"""How many times a transaction runs before a retryable failure is raised."""

RETRY_SQLSTATES: Final = frozenset({"40001", "40P01"})
"""serialization_failure, deadlock_detected."""

_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SQLITE_BUSY_RECOVERY: Final = 5 | (1 << 8)
_SQLITE_BUSY_SNAPSHOT: Final = 5 | (2 << 8)
_SQLITE_RETRY_CODES: Final = frozenset({_SQLITE_BUSY_RECOVERY, _SQLITE_BUSY_SNAPSHOT})
"""Busy codes SQLite returns without running the busy handler: worth a retry.
A plain SQLITE_BUSY already waited for the whole busy timeout."""


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a (wrapped) PostgreSQL error, if any."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _sqlite_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def retryable(exc: BaseException) -> bool:
    """True when running the whole transaction again may succeed."""
    if sqlstate(exc) in RETRY_SQLSTATES:
        return True
    return _sqlite_code(exc) in _SQLITE_RETRY_CODES


def _detail(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_alembic_error(exc: BaseException) -> bool:
    # Imported here: Alembic is loaded only when a migration runs.
    from alembic.util import CommandError

    return isinstance(exc, CommandError)


def translate(exc: BaseException, *, attempts: int = 1) -> StoreError:
    """The convo error for a SQLAlchemy, driver or Alembic error.

    The mapping, most specific first:

    * serialization failure / deadlock (after ``attempts`` tries) -> StoreError
      saying so;
    * SQLite busy/locked -> DatabaseLockedError naming the busy timeout;
    * ``IntegrityError`` -> StoreError "constraint failed";
    * ``OperationalError`` raised while connecting, ``InterfaceError`` ->
      StoreError "cannot use the database";
    * an Alembic ``CommandError`` -> StoreError "migration failed";
    * any other SQLAlchemy error -> StoreError with the driver's message.

    The original is always the ``__cause__`` (``raise translate(e) from e``).
    """
    detail = _detail(exc)
    if isinstance(exc, StoreError):
        return exc
    if sqlstate(exc) in RETRY_SQLSTATES:
        return StoreError(
            f"the database kept aborting the transaction ({detail}) after {attempts} attempts"
        )
    code = _sqlite_code(exc)
    if code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return DatabaseLockedError(
            f"the SQLite database stayed locked by another writer ({detail}); "
            "raise busy_timeout or shorten the other writer's transactions"
        )
    if isinstance(exc, sa_exc.IntegrityError):
        return StoreError(f"a database constraint failed: {detail}")
    if isinstance(exc, sa_exc.InterfaceError) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        return StoreError(f"cannot use the database connection: {detail}")
    if "no schema has been selected to create in" in detail:
        return StoreError(
            "PostgreSQL has no schema to create convo's tables in: no schema on the "
            "connection's search_path exists; create it (CREATE SCHEMA ...) or name an "
            "existing one in the URL (?options=-csearch_path%3Dmyschema)"
        )
    if _is_alembic_error(exc):
        return StoreError(f"migration failed: {detail}")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return StoreError(f"database error: {detail}")
    return StoreError(f"unexpected database error ({type(exc).__name__}): {detail}")


def damaged_text(exc: UnicodeDecodeError) -> StoreError:
    """The error for a damaged SQLite file whose error message, or a text
    value, is not UTF-8 (Python's sqlite3 raises UnicodeDecodeError then)."""
    return StoreError(
        "the database is damaged: SQLite returned text that is not UTF-8 "
        f"({exc.reason} at byte {exc.start}); restore it from a backup, or run "
        "`convo verify` to find the damaged threads"
    )

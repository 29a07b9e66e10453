"""Database errors become convo errors in one place; retries are bounded."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from alembic.util import CommandError
from sqlalchemy import exc as sa_exc

from convo.errors import ConvoError, DatabaseLockedError, SchemaVersionError, StoreError
from convo.store import Store
from convo.store._errors import MAX_ATTEMPTS, retryable, translate
from convo.store._sql import Tx

from .conftest import chat


class _PGError(Exception):
    """Stands in for a psycopg error: what matters is ``sqlstate``."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _sqlite_error(kind: type[sqlite3.Error], message: str, code: int) -> sqlite3.Error:
    error = kind(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


def _wrapped(
    orig: Exception, kind: type[sa_exc.DBAPIError] = sa_exc.OperationalError
) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_wrapped(_PGError("could not serialize access", "40001")), "kept aborting"),
        (_wrapped(_PGError("deadlock detected", "40P01")), "kept aborting"),
        (_wrapped(_sqlite_error(sqlite3.OperationalError, "database is locked", 5)), "locked"),
        (
            _wrapped(_sqlite_error(sqlite3.OperationalError, "database table is locked", 6)),
            "locked",
        ),
        (
            _wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), sa_exc.IntegrityError),
            "constraint failed: UNIQUE",
        ),
        (_wrapped(Exception("gone"), sa_exc.InterfaceError), "cannot use the database"),
        (sa_exc.DBAPIError("x", {}, Exception("reset"), connection_invalidated=True), "cannot use"),
        (CommandError("Can't locate revision"), "migration failed"),
        (sa_exc.NoSuchTableError("turns"), "database error"),
        (
            _wrapped(sqlite3.OperationalError("no such table: turns")),
            "database error: no such table",
        ),
    ],
)
def test_translation_table(error: BaseException, expected: str):
    """Each lower-layer error maps to a StoreError with a useful message."""
    translated = translate(error, attempts=MAX_ATTEMPTS)
    expected_type = DatabaseLockedError if expected == "locked" else StoreError
    assert type(translated) is expected_type
    assert expected in str(translated)


def test_translation_passes_convo_errors_through():
    """A convo error is already translated."""
    error = SchemaVersionError(database_revision="9", head_revision="1", newer=True)
    assert translate(error) is error


def _all_subclasses(cls: type[Any]) -> list[type[Any]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def _instance(cls: type[sa_exc.SQLAlchemyError]) -> sa_exc.SQLAlchemyError:
    if issubclass(cls, sa_exc.DBAPIError):
        return cls("SELECT 1", {}, Exception("boom"))
    if issubclass(cls, sa_exc.StatementError):
        return cls("boom", "SELECT 1", {}, Exception("boom"))
    try:
        return cls("boom")
    except (TypeError, AttributeError):  # constructors that want ORM state
        error = cls.__new__(cls)
        Exception.__init__(error, "boom")
        return error


def test_every_sqlalchemy_error_becomes_a_store_error():
    """Completeness: no SQLAlchemy error escapes as itself."""
    classes = [sa_exc.SQLAlchemyError, *_all_subclasses(sa_exc.SQLAlchemyError)]
    assert len(classes) > 30
    for cls in classes:
        translated = translate(_instance(cls))
        assert isinstance(translated, StoreError), cls
        assert isinstance(translated, ConvoError)


def test_retryable_errors():
    """Serialization failures, deadlocks and SQLite's immediate busy codes."""
    assert retryable(_wrapped(_PGError("x", "40001")))
    assert retryable(_wrapped(_PGError("x", "40P01")))
    assert not retryable(_wrapped(_PGError("x", "23505")))
    assert retryable(_wrapped(_sqlite_error(sqlite3.OperationalError, "busy", 5 | 2 << 8)))
    assert retryable(_wrapped(_sqlite_error(sqlite3.OperationalError, "busy", 5 | 1 << 8)))
    assert not retryable(_wrapped(_sqlite_error(sqlite3.OperationalError, "busy", 5)))
    assert not retryable(ValueError("x"))


def _failing(times: int, sqlstate: str) -> tuple[list[int], Any]:
    calls: list[int] = []

    def op(tx: Tx) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise sa_exc.DBAPIError.instance(
                "UPDATE", {}, _PGError("could not serialize", sqlstate), _PGError
            )
        return "done"

    return calls, op


def test_serialization_failures_are_retried_a_bounded_number_of_times():
    """The whole transaction runs again; after MAX_ATTEMPTS it gives up with
    a StoreError whose cause is the database's error."""
    with Store("sqlite://") as store:
        calls, op = _failing(MAX_ATTEMPTS - 1, "40001")
        assert store._run(op, write=True) == "done"
        assert len(calls) == MAX_ATTEMPTS
        calls, op = _failing(MAX_ATTEMPTS, "40P01")
        with pytest.raises(StoreError, match=f"after {MAX_ATTEMPTS} attempts") as caught:
            store._run(op, write=True)
        assert len(calls) == MAX_ATTEMPTS
        assert isinstance(caught.value.__cause__, sa_exc.DBAPIError)
        calls, op = _failing(1, "23505")  # not retryable: one call
        with pytest.raises(StoreError):
            store._run(op, write=True)
        assert len(calls) == 1


def test_a_failed_operation_rolls_back():
    """An error inside a transaction leaves nothing behind."""
    with Store("sqlite://") as store:
        store.save("t", chat(2))

        def op(tx: Tx) -> None:
            tx.raw("DELETE FROM threads")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            store._run(op, write=True)
        assert store.load("t") == chat(2)


def test_driver_errors_from_the_store_are_translated(tmp_path):
    """A database that is not one surfaces as StoreError, with the cause."""
    path = tmp_path / "not-a-db.sqlite"
    path.write_bytes(b"this is not a database file" * 200)
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert isinstance(caught.value.__cause__, sa_exc.SQLAlchemyError)

"""Schema migrations: Alembic configured in code, never from an ini file.

The Alembic environment lives at the repository's top-level ``migrations/``
and is shipped inside the wheel as ``convo/_migrations``;
``migrations_dir()`` finds whichever exists.  A store checks the schema when
it opens (``ensure_schema``):

* an empty database gets the schema at head;
* an older one is upgraded, or, with ``auto_upgrade=False``, refused with a
  ``SchemaVersionError`` that says to run ``convo db upgrade``;
* a newer one (a revision this convo does not know) is refused with a
  ``SchemaVersionError`` that says to upgrade convo.

Upgrades run in one transaction that holds the write lock (SQLite: BEGIN
IMMEDIATE; PostgreSQL: an advisory lock), so processes opening a new
database at the same time migrate it exactly once.  ``upgrade`` and
``current_revision`` are the helpers behind ``convo db upgrade|current``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import URL, Connection, inspect
from sqlalchemy.exc import SQLAlchemyError

import convo
from convo.errors import SchemaVersionError, StoreError
from convo.store._engine import DEFAULT_BUSY_TIMEOUT, make_sync_engine, resolve_url
from convo.store._errors import translate
from convo.store.schema import VERSION_TABLE

if TYPE_CHECKING:  # Alembic costs ~110 ms to import: only when migrating
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "alembic_config",
    "current_revision",
    "database_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "migrations_dir",
    "upgrade",
]

_ADVISORY_LOCK_KEY: Final = 0x636F6E766F5F6462  # "convo_db": serialises migrators
_CONVO_TABLES: Final = ("threads", "turns")


def migrations_dir() -> Path:
    """The Alembic environment: ``convo/_migrations`` in an installed wheel,
    else the repository's ``migrations/`` (a checkout or editable install).

    Raises:
        StoreError: neither exists.
    """
    package = Path(convo.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise StoreError(
        f"cannot find convo's migrations next to {package} (expected _migrations/env.py)"
    )


def alembic_config(
    *, connection: Connection | None = None, script_location: str | os.PathLike[str] | None = None
) -> Config:
    """An Alembic ``Config`` built in code (no ini file is read).

    Args:
        connection: the connection ``env.py`` migrates (in its transaction).
        script_location: another Alembic environment (tests).
    """
    from alembic.config import Config

    location = Path(script_location) if script_location is not None else migrations_dir()
    config = Config()
    # ConfigParser interpolates "%": escape it (a path may contain one).
    config.set_main_option("script_location", str(location).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.lru_cache(maxsize=8)
def _script(location: str) -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(script_location=location))


def _script_for(script_location: str | os.PathLike[str] | None) -> ScriptDirectory:
    location = Path(script_location) if script_location is not None else migrations_dir()
    return _script(str(location))


def head_revision(script_location: str | os.PathLike[str] | None = None) -> str:
    """The newest revision this convo ships."""
    head = _script_for(script_location).get_current_head()
    if head is None:
        raise StoreError("convo's migrations have no revision")
    return head


def database_revision(connection: Connection) -> str | None:
    """The revision a database is at (``None``: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _check(
    connection: Connection,
    current: str | None,
    head: str,
    script: ScriptDirectory,
    *,
    auto_upgrade: bool,
) -> None:
    """Raise unless migrating from ``current`` to ``head`` is allowed."""
    from alembic.util import CommandError

    if current is None:
        existing = [name for name in _CONVO_TABLES if inspect(connection).has_table(name)]
        if existing:
            raise StoreError(
                f"the database has convo's tables {existing} but no {VERSION_TABLE} table; "
                "it was not created by convo's migrations"
            )
        return
    try:
        script.get_revision(current)
    except CommandError:
        raise SchemaVersionError(
            database_revision=current, head_revision=head, newer=True
        ) from None
    if not auto_upgrade:
        raise SchemaVersionError(database_revision=current, head_revision=head, newer=False)


def ensure_schema(
    connection: Connection,
    *,
    auto_upgrade: bool = True,
    script_location: str | os.PathLike[str] | None = None,
) -> None:
    """Make the schema of ``connection``'s database the head revision.

    Creates it on an empty database; upgrades an older one when
    ``auto_upgrade``.  Reads without the write lock first, so opening a
    store on an up-to-date database never waits for a writer.

    Raises:
        SchemaVersionError: the database is newer than this convo, or older
            and ``auto_upgrade`` is false.
        StoreError: the database has convo's tables but no version table.
    """
    from alembic.util import CommandError

    try:
        _ensure_schema(connection, auto_upgrade=auto_upgrade, script_location=script_location)
    except CommandError as exc:
        raise translate(exc) from exc


def _ensure_schema(
    connection: Connection,
    *,
    auto_upgrade: bool,
    script_location: str | os.PathLike[str] | None,
) -> None:
    from alembic import command

    script = _script_for(script_location)
    head = head_revision(script_location)
    connection.execution_options(convo_begin="DEFERRED")
    with connection.begin():
        current = database_revision(connection)
        if current == head:
            return
        if current is not None:
            _check(connection, current, head, script, auto_upgrade=auto_upgrade)
        # An empty-looking database is only judged under the lock: another
        # process may be creating it right now.
    connection.execution_options(convo_begin="IMMEDIATE")
    with _migrating(connection):
        current = database_revision(connection)
        if current == head:
            return  # another process migrated it meanwhile
        _check(connection, current, head, script, auto_upgrade=auto_upgrade)
        command.upgrade(
            alembic_config(connection=connection, script_location=script_location), "head"
        )


def _pragma(connection: Connection, sql: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


@contextlib.contextmanager
def _migrating(connection: Connection) -> Iterator[None]:
    """One transaction holding the write lock, for a migration.

    SQLite: foreign keys are switched off around it (it can only be done
    outside a transaction) and checked before commit.  Batch migrations
    copy a table, drop it and rename the copy, and with foreign keys on, the
    drop would run ON DELETE actions: SET NULL on every fork link.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _pragma(connection, "PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_KEY})")
            yield
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys = ON")


def _with_connection(url: str | os.PathLike[str] | URL | None, work: Any) -> Any:
    from alembic.util import CommandError

    target = resolve_url(url, asyncio=False)
    engine = make_sync_engine(target, busy_timeout=DEFAULT_BUSY_TIMEOUT, synchronous="NORMAL")
    try:
        with engine.connect() as connection:
            return work(connection)
    except (SQLAlchemyError, CommandError) as exc:
        raise translate(exc) from exc
    finally:
        engine.dispose()


def upgrade(url: str | os.PathLike[str] | URL | None = None, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` to ``revision``; return where it is now.

    This is ``convo db upgrade``.  Safe to run while stores are open: it
    holds the write lock for the duration.

    Raises:
        StoreError: the migration failed (the database is left unchanged).
    """

    from alembic import command

    def work(connection: Connection) -> str | None:
        with _migrating(connection):
            command.upgrade(alembic_config(connection=connection), revision)
            return database_revision(connection)

    return _with_connection(url, work)  # type: ignore[no-any-return]


def downgrade(url: str | os.PathLike[str] | URL | None, revision: str) -> str | None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"``:
    drop convo's tables and every turn in them).

    Raises:
        StoreError: the migration failed.
    """

    from alembic import command

    def work(connection: Connection) -> str | None:
        with _migrating(connection):
            command.downgrade(alembic_config(connection=connection), revision)
            return database_revision(connection)

    return _with_connection(url, work)  # type: ignore[no-any-return]


def current_revision(url: str | os.PathLike[str] | URL | None = None) -> str | None:
    """The revision of the database at ``url`` (``None``: never migrated).

    This is ``convo db current``.
    """

    def work(connection: Connection) -> str | None:
        connection.execution_options(convo_begin="DEFERRED")
        with connection.begin():
            return database_revision(connection)

    return _with_connection(url, work)  # type: ignore[no-any-return]

"""convo's Alembic environment (shipped in the wheel as ``convo/_migrations``).

At runtime ``convo.store.migrate`` passes the connection to migrate in
``config.attributes["connection"]``, inside a transaction that holds the
write lock; nothing here opens one.  For development (``alembic -c
migrations/alembic.ini ...``) the database comes from ``-x url=...``, the
``CONVO_DATABASE_URL`` environment variable, or ``./convo.db``.

Revisions never import convo: only this file does, for the autogenerate
target and the name of the version table.  ``render_as_batch`` makes
autogenerate write ``batch_alter_table`` blocks, which SQLite needs for
most ALTERs.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from convo.store.schema import VERSION_TABLE, include_object, metadata

config = context.config
target_metadata = metadata

if config.config_file_name is not None and "connection" not in config.attributes:
    # The developer CLI (alembic -c migrations/alembic.ini): its logging setup.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
        include_object=include_object,
        **kwargs,  # type: ignore[arg-type]
    )


def _dev_url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("CONVO_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or "sqlite:///convo.db"
    )


def run_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade --sql``)."""
    _configure(url=_dev_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    """Migrate ``connection`` (in the caller's transaction, if it has one)."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the given connection, or open the development database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    from convo.store._engine import make_sync_engine, resolve_url

    engine = make_sync_engine(
        resolve_url(_dev_url(), asyncio=False), busy_timeout=30.0, synchronous="NORMAL"
    )
    try:
        with engine.connect() as conn, conn.begin():
            run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()

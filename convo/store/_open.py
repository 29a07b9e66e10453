"""Opening a database: what the user passed, checked before any driver sees it.

A URL convo cannot use, a driver that is not installed, a SQLite file in a
directory that does not exist: each is one ``StoreError`` that names the
database and says what to do, not a SQLAlchemy plugin error or SQLite's
``unable to open database file``.

Read-only mode (``Store(url, read_only=True)``) opens a database without
ever writing to it: no schema is created, no migration runs, no pragma that
writes (``journal_mode``) is set, and every connection is ``query_only``.
A SQLite file is opened through a URI with ``mode=ro``, which creates
nothing for a rollback-journal file and sees a concurrent writer's commits.
A WAL file that no writer has open (no ``-wal`` file beside it) opens with
``immutable=1`` instead: ``mode=ro`` would create the ``-wal`` and ``-shm``
files and leave them behind. ``immutable=1`` is also the fallback when
``mode=ro`` cannot open a file (a WAL file in a directory SQLite cannot
write to). An immutable read takes no lock, so a writer that starts during
it is not seen: fine for the CLI's short reads. PostgreSQL sessions are
``READ ONLY``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import URL, Connection, Engine, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from convo.errors import SchemaVersionError, StoreError
from convo.store._engine import StoreURL, resolve_url

__all__ = [
    "BACKENDS",
    "check_read_only_schema",
    "open_read_only",
    "open_read_only_async",
    "open_target",
    "read_only_sqlite",
]

BACKENDS: Final = ("sqlite", "postgresql")

_SQLITE_MAGIC: Final = b"SQLite format 3\x00"


def open_target(
    url: str | os.PathLike[str] | URL | None, *, asyncio: bool, read_only: bool
) -> StoreURL:
    """Resolve ``url`` and refuse, with a clear message, what cannot be opened.

    Raises:
        StoreError: an unparsable URL, a backend convo does not support, a
            missing driver, a SQLite file whose directory does not exist, or
            (read-only) a database that does not exist.
    """
    shown = _shown(url)
    try:
        target = resolve_url(url, asyncio=asyncio)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise StoreError(
            f"cannot read the database URL {shown}: use sqlite:///PATH, a file path, "
            "or postgresql://user@host/db"
        ) from exc
    if target.backend not in BACKENDS:
        raise StoreError(
            f"convo stores threads in SQLite or PostgreSQL, not {target.backend!r} "
            f"({shown}): use sqlite:///PATH, a file path, or postgresql://user@host/db"
        )
    _check_driver(target, shown)
    if target.backend == "sqlite" and not target.memory:
        path = Path(target.url.database or "")
        if not path.parent.is_dir():
            raise StoreError(
                f"cannot open the SQLite database {path}: the directory {path.parent} "
                "does not exist (create it, or check the path)"
            )
        if read_only:
            _check_sqlite_file(path)
    elif target.backend == "sqlite" and read_only:
        raise StoreError("an in-memory SQLite database is empty: it cannot be opened read-only")
    return target


def _shown(url: object) -> str:
    if isinstance(url, URL):
        return repr(url.render_as_string(hide_password=True))
    return repr(str(url)) if url is not None else "'sqlite:///convo.db'"


def _check_driver(target: StoreURL, shown: str) -> None:
    try:
        target.url.get_dialect()
    except sa_exc.NoSuchModuleError as exc:
        raise StoreError(
            f"unknown database driver {target.url.drivername!r} ({shown}): use "
            "sqlite:///PATH or postgresql://user@host/db"
        ) from exc
    if target.backend == "postgresql":
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise StoreError(
                'PostgreSQL needs psycopg 3: pip install "convo[postgres]"'
            ) from exc


def _check_sqlite_file(path: Path) -> None:
    if not path.is_file():
        raise StoreError(
            f"no database at {path}: check the path or --db (read commands never create one)"
        )
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    if magic != _SQLITE_MAGIC and path.stat().st_size:
        raise StoreError(f"{path} is not a SQLite database")


def read_only_sqlite(target: StoreURL, *, immutable: bool) -> StoreURL:
    """The same SQLite file as a read-only URI (``mode=ro``, or ``immutable=1``)."""
    path = Path(target.url.database or "").resolve()
    flag = "immutable=1" if immutable else "mode=ro"
    uri = URL.create(
        target.url.drivername, database=f"file:{quote(str(path))}?{flag}", query={"uri": "true"}
    )
    return StoreURL(uri, memory=False)


def check_read_only_schema(connection: Connection, head: str, known: Any) -> None:
    """Refuse a database whose schema is missing, older or newer (never migrate).

    ``known(revision)`` says whether this convo has that revision.
    """
    from convo.store.migrate import database_revision

    current = database_revision(connection)
    if current == head:
        return
    if current is None:
        has_tables = inspect(connection).has_table("threads")
        what = "convo's tables but no schema version" if has_tables else "no convo schema"
        raise StoreError(
            f"the database has {what}: it is empty or was not made by convo "
            "(a read-only store never creates one)"
        )
    raise SchemaVersionError(database_revision=current, head_revision=head, newer=not known(current))


def _known(revision: str) -> bool:
    from alembic.util import CommandError

    from convo.store.migrate import _script_for

    try:
        _script_for(None).get_revision(revision)
    except CommandError:
        return False
    return True


_RETRY_IMMUTABLE: Final = ("unable to open", "readonly", "read-only", "disk i/o")


def read_only_candidates(target: StoreURL) -> list[StoreURL]:
    """The URLs to try, in order: a SQLite file with ``mode=ro`` (it sees a
    concurrent writer's commits), then with ``immutable=1`` (for a WAL file
    whose directory SQLite cannot write its shared-memory file in)."""
    if target.backend != "sqlite":
        return [target]
    path = Path(target.url.database or "")
    if _is_wal(path) and not Path(f"{path}-wal").exists():
        # No writer has it open and nothing waits in a WAL: mode=ro would
        # create the -wal and -shm files (and leave them), immutable=1 reads
        # the file as it is and creates nothing.
        return [read_only_sqlite(target, immutable=True)]
    return [read_only_sqlite(target, immutable=False), read_only_sqlite(target, immutable=True)]


def _is_wal(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    # Bytes 18-19 of the header are the file format's write/read versions: 2 is WAL.
    return len(header) == 20 and header[18] == 2


def worth_another_try(exc: sa_exc.SQLAlchemyError) -> bool:
    """Whether ``immutable=1`` may open what ``mode=ro`` could not."""
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, sa_exc.OperationalError) and any(w in text for w in _RETRY_IMMUTABLE)


def check_in(connection: Connection) -> None:
    """The read-only schema check, in a read transaction (no write lock)."""
    from convo.store.migrate import head_revision

    connection.execution_options(convo_begin="DEFERRED")
    with connection.begin():
        check_read_only_schema(connection, head_revision(), _known)


def open_read_only(target: StoreURL, make: Callable[[StoreURL], Engine]) -> Engine:
    """A checked read-only engine for ``target`` (``make(url)`` builds one)."""
    from convo.store._errors import damaged_text, translate

    candidates = read_only_candidates(target)
    for number, candidate in enumerate(candidates, 1):
        engine = make(candidate)
        try:
            with engine.connect() as connection:
                check_in(connection)
        except UnicodeDecodeError as exc:
            engine.dispose()
            raise damaged_text(exc) from exc
        except sa_exc.SQLAlchemyError as exc:
            engine.dispose()
            if number < len(candidates) and worth_another_try(exc):
                continue
            raise translate(exc) from exc
        except BaseException:
            engine.dispose()
            raise
        return engine
    raise AssertionError("unreachable")


async def open_read_only_async(
    target: StoreURL, make: Callable[[StoreURL], AsyncEngine]
) -> AsyncEngine:
    """The ``AsyncStore`` twin of :func:`open_read_only`."""
    from convo.store._errors import damaged_text, translate

    candidates = read_only_candidates(target)
    for number, candidate in enumerate(candidates, 1):
        engine = make(candidate)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(check_in)
        except UnicodeDecodeError as exc:
            await engine.dispose()
            raise damaged_text(exc) from exc
        except sa_exc.SQLAlchemyError as exc:
            await engine.dispose()
            if number < len(candidates) and worth_another_try(exc):
                continue
            raise translate(exc) from exc
        except BaseException:
            await engine.dispose()
            raise
        return engine
    raise AssertionError("unreachable")


def read_only_revision(url: str | os.PathLike[str] | URL | None) -> str | None:
    """The schema revision of an existing database, read without writing.

    What ``convo db current`` prints; unlike ``current_revision`` it never
    creates the file or switches it to WAL.
    """
    from convo.store._engine import DEFAULT_BUSY_TIMEOUT, make_sync_engine
    from convo.store._errors import damaged_text, translate
    from convo.store.migrate import database_revision

    candidates = read_only_candidates(open_target(url, asyncio=False, read_only=True))
    for number, candidate in enumerate(candidates, 1):
        engine = make_sync_engine(
            candidate, busy_timeout=DEFAULT_BUSY_TIMEOUT, synchronous="NORMAL", read_only=True
        )
        try:
            with engine.connect() as connection:
                connection.execution_options(convo_begin="DEFERRED")
                with connection.begin():
                    return database_revision(connection)
        except UnicodeDecodeError as exc:
            raise damaged_text(exc) from exc
        except sa_exc.SQLAlchemyError as exc:
            if number < len(candidates) and worth_another_try(exc):
                continue
            raise translate(exc) from exc
        finally:
            engine.dispose()
    raise AssertionError("unreachable")

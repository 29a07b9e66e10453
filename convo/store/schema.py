"""The store's schema: two tables, described once for the runtime and Alembic.

``turns`` holds every turn ever saved, content-addressed, so a prefix
shared by several threads (forks, retries, conflicting saves) is stored
once.  ``threads`` holds one row per named thread: a pointer to its head
turn, its system prompt and a little metadata.  A thread's history is the
parent chain of its head, read with a recursive CTE bounded by the head's
depth; the skew-binary ``jump`` column finds any ancestor in O(log n).

This module is the source of truth for ``alembic check`` (see
``migrations/``); the migrations themselves never import it.  The tables are
SQLAlchemy Core ``Table`` objects: the store runs Core statements compiled
once per dialect (see ``convo.store._sql``), it never loads ORM objects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import NullType, TypeEngine

__all__ = [
    "ID_LENGTH",
    "KEY_LENGTH",
    "NAMING_CONVENTION",
    "RowId",
    "THREAD_ID_LENGTH",
    "VERSION_TABLE",
    "Timestamp",
    "metadata",
    "thread_meta",
    "threads",
    "timestamp_from_db",
    "timestamp_to_db",
    "turns",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can refer to them."""

VERSION_TABLE = "convo_alembic_version"
"""Alembic's version table, named so it never collides with an application's
own Alembic history in the same database."""

ID_LENGTH = 128
"""Room for ``"sha256:" + 64 hex`` (71 characters) and a longer future tag."""

KEY_LENGTH = 32
"""A row key is a raw SHA-256 digest: 32 bytes, not a 71-character string
(see ``_rows.storage_key``).  Only its unique index holds it; every link
between rows is an integer ``rid``."""

THREAD_ID_LENGTH = 255

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_to_db(value: datetime, dialect_name: str) -> Any:
    """A UTC datetime as the column stores it (see ``Timestamp``)."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    if dialect_name == "postgresql":
        return value
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def timestamp_from_db(value: Any) -> datetime:
    """The UTC datetime of a stored timestamp."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return _EPOCH + timedelta(microseconds=int(value))


class Timestamp(TypeDecorator[datetime]):
    """A timezone-aware UTC instant.

    PostgreSQL stores ``timestamp with time zone``.  Elsewhere (SQLite) it is
    an integer count of microseconds since the Unix epoch: 8 bytes instead of
    a 26-character string, which keeps a fork's thread row small (the fork
    storage test) and costs no string formatting on the save path.
    """

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return None if value is None else timestamp_to_db(value, dialect.name)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else timestamp_from_db(value)


RowId = BigInteger().with_variant(Integer(), "sqlite")
"""A row's surrogate key: ``INTEGER PRIMARY KEY`` in SQLite (the rowid itself,
so a lookup by it is one b-tree search and the table needs no second index
for it), ``BIGINT`` with a sequence in PostgreSQL."""


turns = Table(
    "turns",
    metadata,
    # The surrogate key every link uses (parent, jump, a thread's head):
    # 8 bytes instead of 32.  Internal: never shown.
    Column("rid", RowId, primary_key=True, autoincrement=True),
    # The row's address: a SHA-256 digest of the parent row's key, the turn's
    # id and its annotations (origin, meta).  A turn's id covers its content and every
    # ancestor's content but not the annotations, so one id can have several
    # rows (the same reply, kept with two different response ids); a key
    # names exactly one.  Equal turns with equal annotations under the same
    # parent share a row: a prefix shared by forks is stored once.
    Column("key", LargeBinary(KEY_LENGTH), nullable=False),
    # Turn.id: the content hash ("sha256:<hex>"), the turn's public id.
    Column("id", String(ID_LENGTH), nullable=False),
    # The parent row's rid.  No foreign key (and so no index) on purpose,
    # as for threads.head: the store writes a row only after its parent, in
    # the same transaction, and gc() deletes only rows no head reaches, so
    # no row loses its parent; verify() re-checks every link.  A foreign key
    # would need an index on this column (an index page written by every
    # save, and looked up by every row gc() deletes).
    Column("parent", RowId, nullable=True),
    # 0 for a first turn: a thread's length is its head's depth + 1.
    Column("depth", Integer, nullable=False),
    # The skew-binary jump pointer (Myers 1983): the ancestor at depth
    # jump_depth(depth) (see convo.store._jumps), NULL for a first turn.
    # Following jumps and parents finds the ancestor at any depth in
    # O(log depth) rows, which is what fork(at=...) and load(upto=...) do.
    Column("jump", RowId, nullable=True),
    Column("role", String(16), nullable=False),
    Column("origin", String(16), nullable=False),
    # Compact JSON text, exactly what Turn.content_text / meta_text give, kept
    # as text (not a JSON type) so that loading can skip decoding it.
    Column("content", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("created_at", Timestamp(), nullable=False),
    CheckConstraint("role IN ('user', 'assistant', 'system')", name="role"),
    CheckConstraint("origin IN ('human', 'model', 'synthetic', 'tool')", name="origin"),
    CheckConstraint("depth >= 0", name="depth"),
    # A key is unique (it hashes the whole chain up to the row), and is
    # indexed after the depth: a key is random, so an index on it alone
    # would put every save's entry on a random page (one more page in the
    # WAL, and one more page to write back at each checkpoint); after the
    # depth, the turns saved one after another land on the same page.
    # Every lookup by key knows the depth (the turn's place in its thread).
    UniqueConstraint("depth", "key", name="uq_turns_depth_key"),
)

threads = Table(
    "threads",
    metadata,
    Column("id", String(THREAD_ID_LENGTH), primary_key=True),
    # The rid of the head row (NULL: an empty thread); the head's Turn.id and
    # depth come from a join.  No foreign key (and so no index) on purpose:
    # the store keeps it valid (a head is written in the same transaction as
    # its turns, and gc() only deletes turns no head reaches), while a foreign
    # key would need an index (an index write on every save) to stop each
    # turn deleted by gc() from scanning threads.
    Column("head", RowId, nullable=True),
    # The head row's key, beside its rid: a rid that changed (a flipped bit,
    # an edited row) would name another valid row, a key cannot.  Reads join
    # on both, so a damaged head is reported, never silently followed.
    Column("head_key", LargeBinary(KEY_LENGTH), nullable=True),
    # The system prompt as compact JSON (a string or an array of text
    # blocks), NULL for none.
    Column("system", Text, nullable=True),
    Column("title", Text, nullable=True),
    Column("meta", Text, nullable=False),
    # Bumped by every change: the compare-and-set that moves the head.
    Column("version", Integer, nullable=False),
    Column(
        "forked_from_thread",
        String(THREAD_ID_LENGTH),
        ForeignKey("threads.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # The number of turns the fork started with (fork(at=n) stores n).
    Column("forked_at_turn", Integer, nullable=True),
    Column("created_at", Timestamp(), nullable=False),
    Column("updated_at", Timestamp(), nullable=False),
    # history() walks down the fork tree, and deleting a thread sets its
    # forks' forked_from_thread to NULL: both look threads up by this column.
    Index("ix_threads_forked_from_thread", "forked_from_thread"),
    # threads() pages by keyset over its order's columns (migration 0003).
    Index("ix_threads_listing_updated", "updated_at", "id"),
    Index("ix_threads_listing_created", "created_at", "id"),
    # Partial (migration 0006): a save moves updated_at, and so every entry
    # of an index holding it; untitled threads are never found by title.
    Index(
        "ix_threads_title",
        "title",
        "updated_at",
        "id",
        sqlite_where=text("title IS NOT NULL"),
        postgresql_where=text("title IS NOT NULL"),
    ),
)


_FTS5_SHADOWS: Final = ("", "_data", "_idx", "_content", "_docsize", "_config")

# SQLite only (migration 0005): the meta filter's index, one row per scalar
# top-level key of a thread's meta, kept by triggers on ``threads``.  Not in
# ``metadata``: PostgreSQL has no such table (its GIN index serves the
# filter).  Described here for the listing query only.
sqlite_only = MetaData()
thread_meta = Table(
    "thread_meta",
    sqlite_only,
    # One b-tree (WITHOUT ROWID): the key finds the threads with one value.
    Column("key", Text, primary_key=True),
    # json_type of the value: true, false, integer, real or text.
    Column("kind", Text, primary_key=True),
    # json_each's atom, in its own storage class (the column has no type).
    Column("value", NullType(), primary_key=True),
    Column("thread", String(THREAD_ID_LENGTH), primary_key=True),
)

SEARCH_OBJECTS: Final = frozenset(
    {
        "ix_turns_search",
        "ix_threads_meta",
        "thread_meta",
        *(f"turns_search{suffix}" for suffix in _FTS5_SHADOWS),
    }
)
"""The search structures outside this metadata: the full-text search of
migration 0003 (an FTS5 table and its shadow tables; an expression index)
PostgreSQL's GIN index on ``meta::jsonb`` (0004, an expression index) and
SQLite's ``thread_meta`` table (0005, kept by triggers):
comparisons of the database with ``metadata`` skip them
(``include_object``)."""


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's autogenerate filter: everything but :data:`SEARCH_OBJECTS`."""
    return name not in SEARCH_OBJECTS

"""Integer row ids, skew-binary jump pointers, system turns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

* ``turns``: an integer ``rid`` primary key; ``parent`` (a rid) replaces
  ``parent_key``, without a foreign key or an index (one index page less
  written by every save; the store keeps the links valid and ``verify``
  checks them); the 32-byte ``key`` stays, unique; a new ``jump`` (a rid:
  the ancestor at depth ``jump_depth(depth)``) gives O(log n) ancestor
  lookups; ``role`` may be ``system``.
* ``threads``: ``head`` (a rid) beside ``head_key`` (kept: reads check
  that the rid still names the row with that key).

Both tables are rebuilt (SQLite cannot change a primary key in place): the
old ones are renamed, the new ones created, filled and the old ones dropped,
all inside the one transaction the migration runs in.  Parents get smaller
rids than their children (rows are numbered by depth), and every jump is
computed here with the same rule the store uses (repeated below: a
revision never imports convo).

The downgrade converts back without loss, and refuses (before changing
anything) when a ``system`` turn exists, which revision 0001 cannot hold.

Self-contained: the tables are described as they are at this revision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 2000


def _timestamp() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")


def _rid() -> sa.types.TypeEngine[Any]:
    # INTEGER PRIMARY KEY is SQLite's rowid itself; BIGINT elsewhere.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _jump_depth(depth: int) -> int:
    """The skew-binary jump depth of a turn at ``depth >= 1`` (as
    ``convo.store._jumps.jump_depth``)."""
    offset = 0
    n = depth
    while True:
        block = (1 << ((n + 1).bit_length() - 1)) - 1
        if n == block:
            return offset
        offset += block
        n -= block


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _drop_0001_names() -> None:
    """Free the names the new tables take: SQLite's index names and
    PostgreSQL's index-backed constraint names are global to the schema."""
    op.drop_index("ix_threads_forked_from_thread", table_name="threads")
    op.drop_index("ix_turns_parent_key", table_name="turns")
    if _is_postgresql():
        op.drop_constraint("fk_threads_forked_from_thread_threads", "threads", type_="foreignkey")
        op.drop_constraint("fk_turns_parent_key_turns", "turns", type_="foreignkey")
        op.drop_constraint("pk_threads", "threads", type_="primary")
        op.drop_constraint("pk_turns", "turns", type_="primary")
    op.rename_table("threads", "threads_0001")
    op.rename_table("turns", "turns_0001")


def _create_0002_tables() -> None:
    op.create_table(
        "turns",
        sa.Column("rid", _rid(), nullable=False, autoincrement=True),
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("parent", _rid(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("jump", _rid(), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint("role IN ('user', 'assistant', 'system')", name="ck_turns_role"),
        sa.CheckConstraint(
            "origin IN ('human', 'model', 'synthetic', 'tool')", name="ck_turns_origin"
        ),
        sa.CheckConstraint("depth >= 0", name="ck_turns_depth"),
        sa.PrimaryKeyConstraint("rid", name="pk_turns"),
        sa.UniqueConstraint("key", name="uq_turns_key"),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("head", _rid(), nullable=True),
        sa.Column("head_key", sa.LargeBinary(32), nullable=True),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("forked_from_thread", sa.String(255), nullable=True),
        sa.Column("forked_at_turn", sa.Integer(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["forked_from_thread"],
            ["threads.id"],
            name="fk_threads_forked_from_thread_threads",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
    )


def _fill_jumps() -> None:
    """Set every row's jump from its parent's links, in rid order (parents
    first: rows were numbered by depth)."""
    bind = op.get_bind()
    jumps: dict[int, int | None] = {}
    depths: dict[int, int] = {}
    updates: list[dict[str, int]] = []
    statement = sa.text("UPDATE turns SET jump = :jump WHERE rid = :rid")
    rows = bind.execute(sa.text("SELECT rid, parent, depth FROM turns ORDER BY rid"))
    for rid, parent, depth in rows:
        depths[rid] = depth
        jump: int | None = None
        if parent is not None and depths.get(parent) == depth - 1:
            if _jump_depth(depth) == depth - 1:
                jump = parent
            else:
                above = jumps.get(parent)
                jump = jumps.get(above) if above is not None else None
        jumps[rid] = jump
        if jump is not None:
            updates.append({"rid": rid, "jump": jump})
        if len(updates) >= _BATCH:
            bind.execute(statement, updates)
            updates = []
    if updates:
        bind.execute(statement, updates)


def upgrade() -> None:
    """Rebuild turns and threads with integer links and jump pointers."""
    _drop_0001_names()
    _create_0002_tables()
    # Numbered by depth, so that every parent gets a smaller rid than its
    # children.
    op.execute(
        "INSERT INTO turns (rid, key, id, parent, depth, jump, role, origin, content, meta, "
        "created_at) "
        "WITH numbered AS (SELECT ROW_NUMBER() OVER (ORDER BY depth, key) AS rid, * "
        "FROM turns_0001) "
        "SELECT n.rid, n.key, n.id, p.rid, n.depth, NULL, n.role, n.origin, n.content, n.meta, "
        "n.created_at FROM numbered AS n LEFT JOIN numbered AS p ON p.key = n.parent_key "
        "ORDER BY n.rid"
    )
    op.execute(
        "INSERT INTO threads (id, head, head_key, system, title, meta, version, "
        "forked_from_thread, forked_at_turn, created_at, updated_at) "
        "SELECT o.id, t.rid, o.head_key, o.system, o.title, o.meta, o.version, o.forked_from_thread, "
        "o.forked_at_turn, o.created_at, o.updated_at "
        "FROM threads_0001 AS o LEFT JOIN turns AS t ON t.key = o.head_key"
    )
    _fill_jumps()
    if _is_postgresql():
        # The rids were given explicitly: move the sequence past them.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('turns', 'rid'), "
            "COALESCE((SELECT max(rid) FROM turns), 0) + 1, false)"
        )
    op.drop_table("threads_0001")
    op.drop_table("turns_0001")
    op.create_index("ix_threads_forked_from_thread", "threads", ["forked_from_thread"])


def downgrade() -> None:
    """Back to 0001's tables, refused when a system turn exists (0001's role
    check cannot hold it: downgrading would lose it)."""
    bind = op.get_bind()
    system_turns = bind.execute(
        sa.text("SELECT count(*) FROM turns WHERE role NOT IN ('user', 'assistant')")
    ).scalar()
    if system_turns:
        # CommandError: convo reports it as a StoreError ("migration failed").
        raise CommandError(
            f"cannot downgrade below revision 0002: {system_turns} stored turn(s) have role "
            "'system', which revision 0001 cannot hold; delete those threads and run gc() "
            "first, or stay at 0002"
        )
    op.drop_index("ix_threads_forked_from_thread", table_name="threads")
    if _is_postgresql():
        op.drop_constraint("fk_threads_forked_from_thread_threads", "threads", type_="foreignkey")
        op.drop_constraint("pk_threads", "threads", type_="primary")
        op.drop_constraint("uq_turns_key", "turns", type_="unique")
        op.drop_constraint("pk_turns", "turns", type_="primary")
    op.rename_table("threads", "threads_0002")
    op.rename_table("turns", "turns_0002")
    op.create_table(
        "turns",
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("parent_key", sa.LargeBinary(32), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.CheckConstraint("role IN ('user', 'assistant')", name="ck_turns_role"),
        sa.CheckConstraint(
            "origin IN ('human', 'model', 'synthetic', 'tool')", name="ck_turns_origin"
        ),
        sa.CheckConstraint("depth >= 0", name="ck_turns_depth"),
        sa.ForeignKeyConstraint(["parent_key"], ["turns.key"], name="fk_turns_parent_key_turns"),
        sa.PrimaryKeyConstraint("key", name="pk_turns"),
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("head_key", sa.LargeBinary(32), nullable=True),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("forked_from_thread", sa.String(255), nullable=True),
        sa.Column("forked_at_turn", sa.Integer(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["forked_from_thread"],
            ["threads.id"],
            name="fk_threads_forked_from_thread_threads",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_threads"),
    )
    op.execute(
        "INSERT INTO turns (key, id, parent_key, depth, role, origin, content, meta, created_at) "
        "SELECT n.key, n.id, p.key, n.depth, n.role, n.origin, n.content, n.meta, n.created_at "
        "FROM turns_0002 AS n LEFT JOIN turns_0002 AS p ON p.rid = n.parent ORDER BY n.rid"
    )
    op.execute(
        "INSERT INTO threads (id, head_key, system, title, meta, version, forked_from_thread, "
        "forked_at_turn, created_at, updated_at) "
        "SELECT o.id, o.head_key, o.system, o.title, o.meta, o.version, o.forked_from_thread, "
        "o.forked_at_turn, o.created_at, o.updated_at FROM threads_0002 AS o"
    )
    op.drop_table("threads_0002")
    op.drop_table("turns_0002")
    op.create_index("ix_turns_parent_key", "turns", ["parent_key"])
    op.create_index("ix_threads_forked_from_thread", "threads", ["forked_from_thread"])

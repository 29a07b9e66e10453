"""The initial schema: turns and threads.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Self-contained: this file describes the tables as they were at revision
0001 and never imports convo (whose live schema will move on).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp() -> sa.types.TypeEngine[object]:
    # UTC instants: timestamptz in PostgreSQL, integer microseconds since the
    # epoch elsewhere (8 bytes; see convo.store.schema.Timestamp).
    return sa.BigInteger().with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")


def upgrade() -> None:
    """Create turns and threads."""
    op.create_table(
        "turns",
        # The row key: the SHA-256 digest of the parent row's key, the turn
        # id and its annotations (origin, meta); equal turns with equal
        # annotations under the same parent share one row.
        sa.Column("key", sa.LargeBinary(32), nullable=False),
        # The turn's content hash (Turn.id).
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
    # The parent foreign key needs it: gc() deletes turns, and each delete
    # looks for children.
    op.create_index("ix_turns_parent_key", "turns", ["parent_key"])

    op.create_table(
        "threads",
        sa.Column("id", sa.String(255), nullable=False),
        # The head row's key.  No foreign key on purpose (see
        # convo.store.schema): the store keeps it valid, and an FK would need
        # an index written on every save.
        sa.Column("head_key", sa.LargeBinary(32), nullable=True),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("meta", sa.Text(), nullable=False),
        # The compare-and-set version: bumped by every change.
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
    # history() walks forks down by it; deleting a thread nulls its forks' link.
    op.create_index("ix_threads_forked_from_thread", "threads", ["forked_from_thread"])


def downgrade() -> None:
    """Drop both tables (and every stored turn)."""
    op.drop_index("ix_threads_forked_from_thread", table_name="threads")
    op.drop_table("threads")
    op.drop_index("ix_turns_parent_key", table_name="turns")
    op.drop_table("turns")

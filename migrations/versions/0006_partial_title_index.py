"""The title index holds titled threads only: one WAL page fewer per save.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

``ix_threads_title (title, updated_at, id)`` (0003) serves
``threads(title=...)``. Every save moves the thread's ``updated_at``, so
every save moved the thread's entry in this index too, titled or not: one
page written per commit of 5.6 (measured as WAL frames over 100 saves to an
untitled thread; 4.6 without the entry). A thread without a title is never
found through this index (``title = :t`` never matches NULL), so the index
is now partial, ``WHERE title IS NOT NULL``: saves to untitled threads no
longer write it, and a title filter still reads it (both databases use a
partial index for ``title = :t``, which implies the condition).

Downgrade recreates the full index. Nothing is stored in an index: no data
changes either way.

Self-contained: only ``op`` calls on the tables as they are at 0005.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ["title", "updated_at", "id"]


def upgrade() -> None:
    op.drop_index("ix_threads_title", table_name="threads")
    titled = sa.text("title IS NOT NULL")
    op.create_index(
        "ix_threads_title", "threads", _COLUMNS, sqlite_where=titled, postgresql_where=titled
    )


def downgrade() -> None:
    op.drop_index("ix_threads_title", table_name="threads")
    op.create_index("ix_threads_title", "threads", _COLUMNS)

"""Indexes for listing threads page by page, filtered and ordered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``Store.threads(after=cursor, order=..., title=..., forked_from=...)`` reads
one page with a keyset condition on the order's columns; each index below
serves one order (or filter) so a page costs O(page), not O(threads):

* ``ix_threads_listing_updated (updated_at, id)``: most recently updated
  first (the default order);
* ``ix_threads_listing_created (created_at, id)``: by creation time;
* ``ix_threads_title (title, updated_at, id)``: the threads with one title,
  in the default order.

``forked_from`` is served by ``ix_threads_forked_from_thread`` (0001).

Self-contained: only ``op`` calls on the tables as they are at 0002.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_threads_listing_updated", "threads", ["updated_at", "id"])
    op.create_index("ix_threads_listing_created", "threads", ["created_at", "id"])
    op.create_index("ix_threads_title", "threads", ["title", "updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_threads_title", table_name="threads")
    op.drop_index("ix_threads_listing_created", table_name="threads")
    op.drop_index("ix_threads_listing_updated", table_name="threads")

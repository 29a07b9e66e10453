"""Search indexed when searching, not on every save; meta filters on an index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

SQLite: the ``turns_search_insert`` trigger of 0003 doubled the cost of
every save (an FTS5 insert in each save's transaction) for a search that is
rare. It is dropped: ``Store.search`` brings the FTS5 table up to date
itself, with every turn whose ``rid`` is above the highest indexed rowid
(turns are append-only and a new row's rid is above every other's). The
delete trigger stays, so ``gc`` still removes what it deletes from the index.

PostgreSQL: a GIN index ``ix_threads_meta`` on ``(meta::jsonb)`` with
``jsonb_path_ops``, which serves ``threads(meta={...})``: the listing query
is ``meta::jsonb @> :filter``. (The GIN search index of 0003 is an
expression index, kept by PostgreSQL itself: nothing changes there.)

Downgrade: SQLite indexes every turn not indexed yet, then recreates the
insert trigger (0003 expects an index that is always complete);
PostgreSQL drops the meta index. No data is lost either way.

Self-contained: only ``op`` calls on the tables as they are at 0003.
"""

from __future__ import annotations

from alembic import op

# The text of a turn, as in 0003 (a revision never imports another).
_SQLITE_TEXT = """CASE
  WHEN NOT json_valid({c}) THEN ''
  WHEN json_type({c}) = 'text' THEN json_extract({c}, '$')
  WHEN json_type({c}) <> 'array' THEN ''
  ELSE coalesce((SELECT group_concat(
                   CASE WHEN b.type = 'object' THEN json_extract(b.value, '$.text') END, ' ')
                 FROM json_each({c}) AS b
                 WHERE CASE WHEN b.type = 'object'
                       THEN json_extract(b.value, '$.type') END = 'text'), '')
END"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_threads_meta ON threads USING gin ((meta::jsonb) jsonb_path_ops)"
        )
        return
    op.execute("DROP TRIGGER turns_search_insert")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_threads_meta")
        return
    op.execute(
        "INSERT INTO turns_search (rowid, text) SELECT rid, "
        + _SQLITE_TEXT.format(c="content")
        + " FROM turns WHERE rid > coalesce((SELECT max(id) FROM turns_search_content), 0)"
    )
    op.execute(
        "CREATE TRIGGER turns_search_insert AFTER INSERT ON turns BEGIN "
        "INSERT INTO turns_search (rowid, text) VALUES (new.rid, "
        + _SQLITE_TEXT.format(c="new.content")
        + "); END"
    )

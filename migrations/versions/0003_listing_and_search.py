"""Indexes for listing threads page by page, and full-text search of turns.

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

``Store.search(text)`` uses the database's own full-text search over the
text of each turn (its text blocks, or its string content):

* SQLite: an FTS5 table ``turns_search`` (rowid = ``turns.rid``) kept by
  two triggers on ``turns`` (insert, delete), filled here from every row;
* PostgreSQL: an immutable SQL function ``convo_turn_text(content)`` and a
  GIN index ``ix_turns_search`` on ``to_tsvector('simple', ...)`` of it
  (``simple``: no stemming, the same for every language).

Self-contained: only ``op`` calls on the tables as they are at 0002.
"""

from __future__ import annotations

from alembic import op

# The text of a turn, from its content column (compact JSON: a string, or an
# array of blocks whose text blocks count). Repeated in the store's search
# query: a revision never imports convo.
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

# plpgsql, to catch what jsonb refuses (text that is not JSON after a
# damaged edit, a \u0000 escape): such a turn indexes as no text, it never
# makes the write fail.
_PG_FUNCTION = """
CREATE FUNCTION convo_turn_text(content text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  doc jsonb;
BEGIN
  BEGIN
    doc := content::jsonb;
  EXCEPTION WHEN others THEN
    RETURN '';
  END;
  IF jsonb_typeof(doc) = 'string' THEN
    RETURN doc #>> '{}';
  END IF;
  IF jsonb_typeof(doc) = 'array' THEN
    RETURN coalesce((
      SELECT string_agg(b ->> 'text', ' ')
      FROM jsonb_array_elements(doc) AS b
      WHERE jsonb_typeof(b) = 'object' AND b ->> 'type' = 'text'), '');
  END IF;
  RETURN '';
END
$$
"""

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_threads_listing_updated", "threads", ["updated_at", "id"])
    op.create_index("ix_threads_listing_created", "threads", ["created_at", "id"])
    op.create_index("ix_threads_title", "threads", ["title", "updated_at", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE INDEX ix_turns_search ON turns "
            "USING gin (to_tsvector('simple', convo_turn_text(content)))"
        )
        return
    op.execute("CREATE VIRTUAL TABLE turns_search USING fts5(text)")
    op.execute(
        "INSERT INTO turns_search (rowid, text) SELECT rid, "
        + _SQLITE_TEXT.format(c="content")
        + " FROM turns"
    )
    op.execute(
        "CREATE TRIGGER turns_search_insert AFTER INSERT ON turns BEGIN "
        "INSERT INTO turns_search (rowid, text) VALUES (new.rid, "
        + _SQLITE_TEXT.format(c="new.content")
        + "); END"
    )
    op.execute(
        "CREATE TRIGGER turns_search_delete AFTER DELETE ON turns BEGIN "
        "DELETE FROM turns_search WHERE rowid = old.rid; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_turns_search")
        op.execute("DROP FUNCTION convo_turn_text(text)")
    else:
        op.execute("DROP TRIGGER turns_search_delete")
        op.execute("DROP TRIGGER turns_search_insert")
        op.execute("DROP TABLE turns_search")
    op.drop_index("ix_threads_title", table_name="threads")
    op.drop_index("ix_threads_listing_created", table_name="threads")
    op.drop_index("ix_threads_listing_updated", table_name="threads")

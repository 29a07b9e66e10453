"""SQLite: meta filters served by an index, through a side table ``thread_meta``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``Store.threads(meta={...})`` on SQLite checked ``json_extract`` on every
row the listing read. ``thread_meta`` holds one row per scalar top-level key
of each thread's meta: ``(thread, key, kind, value)``, where ``kind`` is
SQLite's ``json_type`` (``true``, ``false``, ``integer``, ``real``,
``text``) and ``value`` its ``json_each`` atom, so ``1``, ``1.0``, ``true``
and ``"1"`` stay four different filters, exactly as ``json_extract`` plus
``json_type`` told them apart. The primary key ``(key, kind, value,
thread)`` (a ``WITHOUT ROWID`` table: the one b-tree) finds the threads
with one value, checks the other keys of a filter, and serves the deletes
(a row's old meta names the rows to delete).

Three triggers on ``threads`` keep it in step with every write of a row's
meta, whoever makes it (save, fork, delete, ``convo import``, a raw
``UPDATE``): insert, update of ``meta`` (only when the text changed, so a
save that keeps the meta costs one comparison) and delete. Meta that is not
a JSON object (a damaged row) indexes as no keys; it never fails the write.

Note for later revisions: SQLite's batch mode (``op.batch_alter_table``)
rebuilds a table without its triggers: a revision that rebuilds ``threads``
must create the three triggers again.

PostgreSQL keeps the GIN index ``ix_threads_meta`` of 0004: nothing here.

Downgrade drops the triggers and the table (the meta itself is in
``threads.meta``: nothing is lost).

Self-contained: only ``op`` calls on the tables as they are at 0004.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The scalar top-level keys of a meta text, as (key, kind, value, thread)
# rows. An integer beyond 64 bits comes out of json_each as an approximate
# real: kind "big", which no filter asks for (threads() refuses such a value).
_ROWS = """SELECT m.key,
       CASE WHEN m.type = 'integer' AND typeof(m.atom) <> 'integer' THEN 'big' ELSE m.type END,
       m.atom, {thread}
FROM json_each(CASE WHEN json_valid({meta}) AND json_type({meta}) = 'object'
                    THEN {meta} ELSE '{{}}' END) AS m
WHERE m.type IN ('true', 'false', 'integer', 'real', 'text')"""

_INSERT = "INSERT OR IGNORE INTO thread_meta (key, kind, value, thread) " + _ROWS

# A row's old meta names exactly the rows it inserted: delete those, through
# the primary key (one b-tree, no second index by thread to keep up).
_DELETE = "DELETE FROM thread_meta WHERE (key, kind, value, thread) IN (" + _ROWS + ")"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    # value has no type: SQLite keeps each atom's own storage class.
    op.execute(
        "CREATE TABLE thread_meta ("
        "key TEXT NOT NULL, kind TEXT NOT NULL, value NOT NULL, thread VARCHAR(255) NOT NULL, "
        "CONSTRAINT pk_thread_meta PRIMARY KEY (key, kind, value, thread)) WITHOUT ROWID"
    )
    op.execute(
        "INSERT OR IGNORE INTO thread_meta (key, kind, value, thread) "
        + _ROWS.format(thread="threads.id", meta="threads.meta").replace(
            "FROM json_each", "FROM threads, json_each", 1
        )
    )
    op.execute(
        "CREATE TRIGGER thread_meta_insert AFTER INSERT ON threads BEGIN "
        + _INSERT.format(thread="new.id", meta="new.meta")
        + "; END"
    )
    op.execute(
        "CREATE TRIGGER thread_meta_update AFTER UPDATE OF id, meta ON threads "
        "WHEN old.meta IS NOT new.meta OR old.id IS NOT new.id BEGIN "
        + _DELETE.format(thread="old.id", meta="old.meta")
        + "; "
        + _INSERT.format(thread="new.id", meta="new.meta")
        + "; END"
    )
    op.execute(
        "CREATE TRIGGER thread_meta_delete AFTER DELETE ON threads BEGIN "
        + _DELETE.format(thread="old.id", meta="old.meta")
        + "; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    for trigger in ("thread_meta_insert", "thread_meta_update", "thread_meta_delete"):
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE thread_meta")

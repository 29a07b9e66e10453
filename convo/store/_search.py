"""``store.search(text)``: full-text search over the text of turns.

The database's own full-text search does the work: SQLite's FTS5 table
``turns_search`` (migration 0003) and PostgreSQL's GIN index on
``to_tsvector('simple', convo_turn_text(content))``. The text of a turn is
its string content, or its text blocks joined. Every word of the query must
appear (in any order); results are ranked by relevance.

SQLite indexes at search time, not at save time (migration 0004 dropped the
insert trigger, which doubled the cost of a save): turns are append-only
and a new row's rid is above every other's, so the turns not indexed yet
are exactly those whose rid is above the highest indexed rowid, and a
writable store's ``search`` first indexes them (``index_unindexed``, one
``INSERT ... SELECT``). gc's deletes leave the index by the delete trigger.
A read-only store cannot write: it searches the index, plus the unindexed
tail (at most ``TAIL_SCAN_LIMIT`` turns, else a ``StoreError`` names
``convo db index`` and ``Store.index_search()``, which index them) through a throwaway in-memory FTS5 table, so the words match by
the same tokenizer; a tail hit's rank is computed over the tail only.

A hit names the threads that reach the turn (a turn shared by a thread and
its forks is one hit): each thread's head is checked through the jump
pointers, O(log n) rows per thread and hit. Which threads reach a turn is
recorded nowhere else (a thread reaches rows it did not write by fork, by
saving another thread's history, by replace), so a complete answer without
reading every thread's head would need a write on every save; instead a
search can be scoped (``threads=``, ``meta=``: one user's threads), and
only the heads in scope are read. Matches no thread in scope reaches are
read past in rank order, in growing batches, until ``limit`` hits.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, Final

from attrs import frozen
from sqlalchemy import text

from convo.errors import StoreError
from convo.store._sql import Compiled, Tx

__all__ = ["TAIL_SCAN_LIMIT", "SearchHit", "index_unindexed", "scope_ids", "search", "unindexed"]

TAIL_SCAN_LIMIT: Final = 20_000
"""A read-only SQLite store scans at most this many unindexed turns per
search (~0.1 s on this machine); more is refused with a ``StoreError``."""

_WORD: Final = re.compile(r"\w+", re.UNICODE)


@frozen
class SearchHit:
    """One turn whose text matches.

    Attributes:
        turn_id: the turn's id (``Turn.id``).
        index: its position in its threads (0 is the first turn).
        role: ``"user"``, ``"assistant"`` or ``"system"``.
        origin: where it came from (``"human"``, ``"model"``...).
        snippet: the matching text around the words, matches in ``[...]``.
        threads: the threads that hold the turn, sorted.
    """

    turn_id: str
    index: int
    role: str
    origin: str
    snippet: str
    threads: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict."""
        return {
            "turn_id": self.turn_id,
            "index": self.index,
            "role": self.role,
            "origin": self.origin,
            "snippet": self.snippet,
            "threads": list(self.threads),
        }


# The text of a turn, from its content column (as in migrations 0003/0004).
_SQLITE_TEXT: Final = """CASE
  WHEN NOT json_valid(content) THEN ''
  WHEN json_type(content) = 'text' THEN json_extract(content, '$')
  WHEN json_type(content) <> 'array' THEN ''
  ELSE coalesce((SELECT group_concat(
                   CASE WHEN b.type = 'object' THEN json_extract(b.value, '$.text') END, ' ')
                 FROM json_each(content) AS b
                 WHERE CASE WHEN b.type = 'object'
                       THEN json_extract(b.value, '$.type') END = 'text'), '')
END"""

# The highest indexed rowid: the content table's integer primary key, one
# b-tree step (the FTS5 table itself would scan).
_INDEXED: Final = "coalesce((SELECT max(id) FROM turns_search_content), 0)"

_SQLITE_BEHIND: Final = f"SELECT EXISTS (SELECT 1 FROM turns WHERE rid > {_INDEXED})"

_SQLITE_CATCH_UP: Final = (
    f"INSERT INTO turns_search (rowid, text) SELECT rid, {_SQLITE_TEXT} "
    f"FROM turns WHERE rid > {_INDEXED}"
)

_SQLITE_TAIL: Final = (
    f"SELECT rid, id, depth, role, origin, {_SQLITE_TEXT} FROM turns "
    f"WHERE rid > {_INDEXED} ORDER BY rid LIMIT :limit"
)

_SQLITE_SEARCH: Final = """
SELECT t.rid, t.id, t.depth, t.role, t.origin,
       snippet(turns_search, 0, '[', ']', '…', 16), rank
FROM turns_search JOIN turns AS t ON t.rid = turns_search.rowid
WHERE turns_search MATCH :query
ORDER BY rank LIMIT :limit OFFSET :offset
"""

_PG_SEARCH: Final = """
SELECT t.rid, t.id, t.depth, t.role, t.origin,
       ts_headline('simple', convo_turn_text(t.content), q,
                   'StartSel=[, StopSel=], MaxWords=16, MinWords=5')
FROM turns AS t, plainto_tsquery('simple', :query) AS q
WHERE to_tsvector('simple', convo_turn_text(t.content)) @@ q
ORDER BY ts_rank(to_tsvector('simple', convo_turn_text(t.content)), q) DESC, t.rid
LIMIT :limit OFFSET :offset
"""

_HEADS: Final = """
SELECT th.id, th.head, h.depth FROM threads AS th
JOIN turns AS h ON h.rid = th.head AND h.key = th.head_key
WHERE h.depth >= :depth
"""

_SCOPE_CHUNK: Final = 200  # thread ids per IN list (SQLite caps bound parameters)

_HEADS_OF: Final = f"""
SELECT th.id, th.head, h.depth FROM threads AS th
JOIN turns AS h ON h.rid = th.head AND h.key = th.head_key
WHERE th.id IN ({", ".join(f":id{n}" for n in range(_SCOPE_CHUNK))})
"""


def _compiled(tx: Tx, name: str, sql: str) -> Compiled:
    cache: dict[str, Compiled] = tx.s.__dict__.setdefault("_search_cache", {})
    found = cache.get(name)
    if found is None:
        found = cache[name] = Compiled(text(sql), tx.s.dialect)
    return found


def fts5_query(words: list[str]) -> str:
    """Every word as a quoted FTS5 string: no query syntax from the user."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def unindexed(tx: Tx) -> bool:
    """Whether some turn is not in the search index yet (SQLite; PostgreSQL
    indexes on write: never)."""
    if tx.s.is_postgresql:
        return False
    return bool(tx.rows(_compiled(tx, "behind", _SQLITE_BEHIND), {})[0][0])


def index_unindexed(tx: Tx) -> int:
    """Index every turn above the highest indexed rowid (a write); return how many."""
    if tx.s.is_postgresql:
        return 0
    return tx.count(_compiled(tx, "catch_up", _SQLITE_CATCH_UP), {})


def _tail_matches(tx: Tx, argument: str, limit: int) -> list[Any]:
    """The unindexed turns that match, searched in a throwaway FTS5 table
    (the same tokenizer, so the same word rule), as the index's rows."""
    tail = tx.rows(_compiled(tx, "tail", _SQLITE_TAIL), {"limit": TAIL_SCAN_LIMIT + 1})
    if not tail:
        return []
    if len(tail) > TAIL_SCAN_LIMIT:
        raise StoreError(
            f"more than {TAIL_SCAN_LIMIT} turns are not in the search index yet, and a "
            "read-only store cannot index them: run `convo db index` (the CLI), or "
            "Store(url).index_search() (the library), once to index them"
        )
    by_rid = {row[0]: row[1:5] for row in tail}
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute("CREATE VIRTUAL TABLE tail USING fts5(text)")
        scratch.executemany(
            "INSERT INTO tail (rowid, text) VALUES (?, ?)", [(row[0], row[5]) for row in tail]
        )
        found = scratch.execute(
            "SELECT rowid, snippet(tail, 0, '[', ']', '…', 16), rank FROM tail "
            "WHERE tail MATCH ? ORDER BY rank LIMIT ?",
            (argument, limit),
        ).fetchall()
    finally:
        scratch.close()
    return [(rid, *by_rid[rid], snippet, rank) for rid, snippet, rank in found]


def search(
    tx: Tx,
    query: str,
    *,
    limit: int,
    threads: Iterable[str] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> list[SearchHit]:
    """The turns matching every word of ``query``, best first (see module doc).

    ``threads``/``meta`` scope the search to those threads (ids; a meta
    filter as in ``threads()``, served by the same index): only their heads
    are checked, and a hit names only the threads in scope."""
    from convo.store._ops import _ancestor

    if not isinstance(query, str):
        raise TypeError(f"search() takes a str, got {type(query).__name__}")
    if limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    scope = _scope(tx, threads, meta)
    words = _WORD.findall(query)
    if not words or scope == []:
        return []
    if tx.s.is_postgresql:
        statement, argument = _compiled(tx, "pg", _PG_SEARCH), " ".join(words)
    else:
        statement, argument = _compiled(tx, "sqlite", _SQLITE_SEARCH), fts5_query(words)
    hits: list[SearchHit] = []
    heads_by_depth: dict[int, list[Any]] = {}
    # Matches that no thread (in scope) reaches are skipped: read the index
    # in rank order, in growing batches, until ``limit`` hits or the end.
    offset, batch = 0, limit * 4
    while True:
        rows = tx.rows(statement, {"query": argument, "limit": batch, "offset": offset})
        more = len(rows) == batch
        if offset == 0 and not tx.s.is_postgresql:
            # Turns saved since the last index update (a read-only store's, or
            # a writer's racing this search): ranked with the index's by bm25.
            tail = _tail_matches(tx, argument, batch)
            if tail:
                rows = sorted([*rows, *tail], key=lambda row: row[6])
        for rid, turn_id, depth, role, origin, snippet, *_rank in rows:
            heads = heads_by_depth.get(depth)
            if heads is None:
                heads = heads_by_depth[depth] = (
                    tx.rows(_compiled(tx, "heads", _HEADS), {"depth": depth})
                    if scope is None
                    else [head for head in scope if head[2] >= depth]
                )
            holders = sorted(
                thread_id
                for thread_id, head, head_depth in heads
                if (head == rid if head_depth == depth else _ancestor(tx, thread_id, head, depth)[0] == rid)
            )
            if holders:
                hits.append(SearchHit(turn_id, depth, role, origin, snippet or "", tuple(holders)))
            if len(hits) == limit:
                return hits
        if not more:
            return hits
        offset, batch = offset + batch, batch * 2


def scope_ids(threads: Iterable[str]) -> tuple[str, ...]:
    """``threads=`` as a tuple of thread ids (read once, so a retried
    transaction sees the same scope).

    Raises:
        TypeError: one str (not an iterable of ids), or an id that is not a str.
    """
    if isinstance(threads, str):
        raise TypeError("threads= takes an iterable of thread ids, not one str")
    ids = tuple(threads)
    for thread_id in ids:
        if not isinstance(thread_id, str):
            raise TypeError(f"threads= holds thread ids (str), got {type(thread_id).__name__}")
    return ids


def _scope(
    tx: Tx, threads: Iterable[str] | None, meta: Mapping[str, Any] | None
) -> list[Any] | None:
    """``(thread id, head rid, head depth)`` of the threads in scope, or
    ``None`` for every thread."""
    if threads is None and meta is None:
        return None
    from convo.store._listing import list_threads

    ids = None if threads is None else set(scope_ids(threads))
    if meta is not None:
        page = list_threads(tx, limit=None, after=None, title=None, meta=meta, forked_from=None, order="oldest")
        found = {info.id for info in page}
        ids = found if ids is None else ids & found
    assert ids is not None
    statement = _compiled(tx, "heads_of", _HEADS_OF)
    ordered = sorted(ids)
    heads: list[Any] = []
    for start in range(0, len(ordered), _SCOPE_CHUNK):
        chunk = ordered[start : start + _SCOPE_CHUNK]
        # One statement for every chunk: the last is padded with a repeat.
        chunk += [chunk[0]] * (_SCOPE_CHUNK - len(chunk))
        heads += tx.rows(statement, {f"id{n}": thread_id for n, thread_id in enumerate(chunk)})
    return heads

"""``store.search(text)``: full-text search over the text of turns.

The database's own full-text search does the work (migration 0003):
SQLite's FTS5 table ``turns_search``, kept by triggers, and PostgreSQL's
GIN index on ``to_tsvector('simple', convo_turn_text(content))``. The text
of a turn is its string content, or its text blocks joined. Every word of
the query must appear (in any order); results are ranked by relevance.

A hit names the threads that reach the turn (a turn shared by a thread and
its forks is one hit): each thread's head is checked through the jump
pointers, O(log n) rows per thread and hit.
"""

from __future__ import annotations

import re
from typing import Any, Final

from attrs import frozen
from sqlalchemy import text

from convo.store._sql import Compiled, Tx

__all__ = ["SearchHit", "search"]

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


_SQLITE_SEARCH: Final = """
SELECT t.rid, t.id, t.depth, t.role, t.origin,
       snippet(turns_search, 0, '[', ']', '…', 16)
FROM turns_search JOIN turns AS t ON t.rid = turns_search.rowid
WHERE turns_search MATCH :query
ORDER BY rank LIMIT :limit
"""

_PG_SEARCH: Final = """
SELECT t.rid, t.id, t.depth, t.role, t.origin,
       ts_headline('simple', convo_turn_text(t.content), q,
                   'StartSel=[, StopSel=], MaxWords=16, MinWords=5')
FROM turns AS t, plainto_tsquery('simple', :query) AS q
WHERE to_tsvector('simple', convo_turn_text(t.content)) @@ q
ORDER BY ts_rank(to_tsvector('simple', convo_turn_text(t.content)), q) DESC, t.rid
LIMIT :limit
"""

_HEADS: Final = """
SELECT th.id, th.head, h.depth FROM threads AS th
JOIN turns AS h ON h.rid = th.head AND h.key = th.head_key
WHERE h.depth >= :depth
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


def search(tx: Tx, query: str, *, limit: int) -> list[SearchHit]:
    """The turns matching every word of ``query``, best first (see module doc)."""
    from convo.store._ops import _ancestor

    if not isinstance(query, str):
        raise TypeError(f"search() takes a str, got {type(query).__name__}")
    if limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    words = _WORD.findall(query)
    if not words:
        return []
    if tx.s.is_postgresql:
        statement, argument = _compiled(tx, "pg", _PG_SEARCH), " ".join(words)
    else:
        statement, argument = _compiled(tx, "sqlite", _SQLITE_SEARCH), fts5_query(words)
    # Unreachable turns (waiting for gc) match too: read a few more than asked.
    rows = tx.rows(statement, {"query": argument, "limit": limit * 4})
    hits: list[SearchHit] = []
    heads_by_depth: dict[int, list[Any]] = {}
    for rid, turn_id, depth, role, origin, snippet in rows:
        heads = heads_by_depth.get(depth)
        if heads is None:
            heads = heads_by_depth[depth] = tx.rows(_compiled(tx, "heads", _HEADS), {"depth": depth})
        holders = sorted(
            thread_id
            for thread_id, head, head_depth in heads
            if (head == rid if head_depth == depth else _ancestor(tx, thread_id, head, depth)[0] == rid)
        )
        if holders:
            hits.append(SearchHit(turn_id, depth, role, origin, snippet or "", tuple(holders)))
        if len(hits) == limit:
            break
    return hits

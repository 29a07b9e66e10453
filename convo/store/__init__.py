"""Persistence: conversation threads in SQLite or PostgreSQL.

``Store`` (and its asyncio twin ``AsyncStore``) saves conversations as named
threads of content-addressed turns: a save writes only the turns the
database lacks and moves the thread's head fast-forward only (a lost race
raises ``ConflictError`` with nothing lost), a fork is a new pointer into the
same chain, and ``verify`` re-checks every hash.  ``upgrade`` and
``current_revision`` run the schema migrations shipped with convo.

This layer sits above ``conversation`` and ``codec``; nothing below imports
it.  See ``docs/store.md``.
"""

from typing import TYPE_CHECKING, Any

from convo.store._info import ThreadInfo, ThreadTree
from convo.store._listing import ThreadPage
from convo.store._search import SearchHit
from convo.store._sync import Store
from convo.store.migrate import current_revision, downgrade, head_revision, upgrade

if TYPE_CHECKING:
    from convo.store._async import AsyncStore

__all__ = [
    "AsyncStore",
    "SearchHit",
    "Store",
    "ThreadInfo",
    "ThreadPage",
    "ThreadTree",
    "current_revision",
    "downgrade",
    "head_revision",
    "upgrade",
]


def __getattr__(name: str) -> Any:
    # AsyncStore pulls in SQLAlchemy's asyncio layer: load it on first use.
    if name == "AsyncStore":
        from convo.store._async import AsyncStore

        globals()["AsyncStore"] = AsyncStore
        return AsyncStore
    raise AttributeError(f"module 'convo.store' has no attribute {name!r}")

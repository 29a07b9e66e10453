"""What the store tells about threads: frozen values, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from attrs import field, frozen

from convo._frozen import FrozenDict, freeze, thaw

__all__ = ["ThreadInfo", "ThreadTree"]


def _freeze_meta(value: Any) -> FrozenDict:
    frozen_value = freeze(value if value is not None else {})
    if not isinstance(frozen_value, FrozenDict):
        raise TypeError(f"meta must be a JSON object, got {type(value).__name__}")
    return frozen_value


@frozen
class ThreadInfo:
    """One thread as the store sees it.

    Attributes:
        id: the thread id.
        head_id: the id of the last turn, ``None`` for an empty thread.
        length: the number of turns.
        title: a free-form title, or ``None``.
        meta: read-only JSON metadata of the thread (not of its turns).
        version: bumped by every change; the head moves by compare-and-set
            on it.
        created_at: when the thread was created (UTC).
        updated_at: when it last changed (UTC).
        forked_from: the thread it was forked from, while that one exists.
        forked_at: how many turns the fork started with.
    """

    id: str
    head_id: str | None
    length: int
    title: str | None
    meta: FrozenDict = field(converter=_freeze_meta)
    version: int
    created_at: datetime
    updated_at: datetime
    forked_from: str | None = None
    forked_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict of every field (timestamps as ISO 8601)."""
        return {
            "id": self.id,
            "head_id": self.head_id,
            "length": self.length,
            "title": self.title,
            "meta": thaw(self.meta),
            "version": self.version,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "forked_from": self.forked_from,
            "forked_at": self.forked_at,
        }


@frozen
class ThreadTree:
    """A thread and the threads forked from it, recursively.

    ``Store.history`` returns the tree rooted at the oldest ancestor it can
    reach (the chain of ``forked_from`` links up from the thread asked for).
    Children are ordered by creation time, then id.
    """

    info: ThreadInfo
    children: tuple[ThreadTree, ...] = ()

    def walk(self) -> Iterator[ThreadTree]:
        """Every node, depth first, parents before children."""
        stack: list[ThreadTree] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def find(self, thread_id: str) -> ThreadTree | None:
        """The node of ``thread_id``, or ``None`` when it is not in the tree."""
        for node in self.walk():
            if node.info.id == thread_id:
                return node
        return None

    def to_dict(self) -> dict[str, Any]:
        """``{"info": {...}, "children": [...]}``, JSON-ready, recursively
        (built without recursion: a long chain of forks of forks is fine)."""
        built: dict[int, dict[str, Any]] = {}
        for node in reversed(list(self.walk())):  # children before parents
            built[id(node)] = {
                "info": node.info.to_dict(),
                "children": [built[id(child)] for child in node.children],
            }
        return built[id(self)]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every thread id in the tree, depth first."""
        return tuple(node.info.id for node in self.walk())

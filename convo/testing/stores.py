"""A fresh, migrated, in-memory ``Store`` for every Hypothesis example.

Property tests that save and load want a new database per example, and a
new ``Store("sqlite://")`` runs the migrations every time. ``memory_store()``
runs them once per process, on a template database, and gives every call
its own copy (SQLite's online backup of an in-memory database): the same
schema, no data shared, nothing on disk. Measured here: about 9 ms a store,
against about 50 ms for ``Store("sqlite://")`` and over 100 ms for a file.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from convo.store import Store

__all__ = ["memory_store"]

_lock = threading.Lock()
_template: dict[str, Any] = {}


def _template_connection() -> sqlite3.Connection:
    with _lock:
        if "connection" not in _template:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            # Kept open for the life of the process: it is the template.
            _template["store"] = Store("sqlite://", engine_options={"creator": lambda: connection})
            _template["connection"] = connection
        template: sqlite3.Connection = _template["connection"]
        return template


def memory_store() -> Store:
    """A new, empty ``Store`` on a private in-memory SQLite database.

    Use it as a context manager (``with memory_store() as store:``) inside a
    ``@given`` test: each example gets its own database. Closing it frees
    the database.
    """
    template = _template_connection()
    copy = sqlite3.connect(":memory:", check_same_thread=False)
    with _lock:
        template.backup(copy)
    return Store("sqlite://", engine_options={"creator": lambda: copy})

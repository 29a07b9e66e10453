"""The formats of ``convo export`` / ``convo import``.

* ``payload``: the exact Messages API request body of the thread
  (``conversation.to_payload(...)``), indented JSON.  Importable.
* ``jsonl``: the thread itself, lossless: ``convo.jsonl`` (the library's
  documented functions; the names are re-exported here).
* ``markdown``: for people to read (``convo.cli.markdown``).  Not importable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from convo.conversation import Conversation
from convo.jsonl import (
    JSONL_FORMAT,
    JSONL_VERSION,
    Imported,
    export_jsonl,
    import_jsonl,
    read_import,
)

__all__ = [
    "EXPORT_FORMATS",
    "JSONL_FORMAT",
    "JSONL_VERSION",
    "Imported",
    "export_jsonl",
    "export_payload",
    "import_jsonl",
    "read_import",
]

ExportFormat = Literal["payload", "jsonl", "markdown"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("payload", "jsonl", "markdown")


def export_payload(
    conversation: Conversation, *, model: str, max_tokens: int, params: Mapping[str, Any] | None = None
) -> str:
    """The request body, as indented JSON text (ends with a newline)."""
    payload = conversation.to_payload(model, max_tokens, **dict(params or {}))
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"

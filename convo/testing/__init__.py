"""Hypothesis strategies and a state machine for testing history handling.

Needs the ``testing`` extra (``pip install "convo[testing]"``)::

    from convo.testing import conversations, invalid_conversations

    @given(conversations())
    def test_my_bot_keeps_history(c): ...

``convo`` itself never imports this package, so Hypothesis stays optional.
"""

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "convo.testing needs Hypothesis: pip install 'convo[testing]'"
    ) from exc

from convo.testing.machine import ConversationMachine
from convo.testing.stores import memory_store
from convo.testing.strategies import (
    InvalidCase,
    blocks,
    conversations,
    invalid_conversations,
    payloads,
    png_bytes,
    responses,
    texts,
    turns,
)

__all__ = [
    "ConversationMachine",
    "InvalidCase",
    "blocks",
    "conversations",
    "invalid_conversations",
    "memory_store",
    "payloads",
    "png_bytes",
    "responses",
    "texts",
    "turns",
]

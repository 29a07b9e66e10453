"""The public surface: __all__ is complete and every name resolves."""

from __future__ import annotations

import convo


def test_all_names_resolve():
    """Every name in __all__ exists; nothing private is exported."""
    for name in convo.__all__:
        assert hasattr(convo, name), name
        assert not name.startswith("_") or name == "__version__"


def test_all_has_no_duplicates_and_includes_the_contract():
    """The names the issues promise are exported."""
    assert len(convo.__all__) == len(set(convo.__all__))
    for name in ("Conversation", "Turn", "TextBlock", "ImageBlock", "ToolUseBlock",
                 "ToolResultBlock", "UnknownBlock", "RuleError", "NotSendableError", "ConvoError"):
        assert name in convo.__all__

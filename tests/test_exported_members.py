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
                 "ToolResultBlock", "UnknownBlock", "RuleError", "NotSendableError", "ConvoError",
                 "AnthropicTransport", "AsyncAnthropicTransport"):
        assert name in convo.__all__
    # Issue 10: today's block catalogue, typed, and the policies/roles.
    for name in ("ServerToolUseBlock", "ServerToolResultBlock", "WebSearchToolResultBlock",
                 "WebFetchToolResultBlock", "CodeExecutionToolResultBlock",
                 "BashCodeExecutionToolResultBlock", "TextEditorCodeExecutionToolResultBlock",
                 "ToolSearchToolResultBlock", "AdvisorToolResultBlock", "MCPToolUseBlock",
                 "MCPToolResultBlock", "ContainerUploadBlock", "SearchResultBlock",
                 "ToolReferenceBlock", "CompactionBlock", "FallbackBlock", "FileSource",
                 "ContentSource", "UnknownSource", "POLICIES", "ROLES"):
        assert name in convo.__all__, name
    # Issue 14: the tool runner, streaming events, thread settings, conflict policy.
    for name in ("tool_schema", "ThreadSettings", "ChatStream", "AsyncChatStream", "ChatEvent",
                 "TextDelta", "ThinkingDelta", "ToolCallStart", "ToolInputDelta", "TurnEnd",
                 "ToolRan", "Branched", "Finished", "ConflictPolicy", "ToolLoopError",
                 "ToolSchemaError"):
        assert name in convo.__all__, name


def test_import_convo_stays_light():
    """`import convo` loads neither SQLAlchemy, httpx nor the anthropic SDK until used."""
    import subprocess
    import sys

    code = (
        "import sys, convo; heavy = [m for m in ('sqlalchemy', 'httpx', 'anthropic') if m in sys.modules];"
        "print(','.join(heavy)); convo.Store; print('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"]


def test_lazy_names_resolve_and_unknown_names_fail():
    """Every lazily exported name resolves; others raise AttributeError."""
    for name in convo._LAZY:
        assert getattr(convo, name) is not None
    import pytest

    with pytest.raises(AttributeError):
        convo.NoSuchThing  # noqa: B018

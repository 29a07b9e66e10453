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
    # Issue 15: cache planning and prices.
    for name in ("CachePlan", "plan_cache", "apply_cache_plan", "Prices", "Ledger", "TokenCounts",
                 "RequestUsage", "compact", "compaction_link"):
        assert name in convo.__all__, name
    # Issue 14: the tool runner, streaming events, thread settings, conflict policy.
    for name in ("tool_schema", "ThreadSettings", "ChatStream", "AsyncChatStream", "ChatEvent",
                 "TextDelta", "ThinkingDelta", "ToolCallStart", "ToolInputDelta", "TurnEnd",
                 "ToolRan", "Branched", "Finished", "ConflictPolicy", "ToolLoopError",
                 "ToolSchemaError"):
        assert name in convo.__all__, name


def test_api_version_names_are_exported():
    """Issue 10: API versions as data, their rules and the request-parameter helper."""
    for name in ("ApiVersion", "API_VERSIONS", "DEFAULT_API_VERSION", "VERSIONS", "VersionInfo",
                 "version_rules", "without_removed_params"):
        assert name in convo.__all__, name
    assert convo.DEFAULT_API_VERSION == "2026-10-21"
    assert callable(convo.Conversation.sendable_fork) and callable(convo.Conversation.send_violations)
    assert not hasattr(convo.Conversation, "fits")  # the token budget lives in convo.tokens


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


def test_the_input_policy_is_a_public_namespace():
    """convo.inputs (the policy and its limits) is exported, like convo.tokens."""
    assert "inputs" in convo.__all__
    for name in convo.inputs.__all__:
        assert hasattr(convo.inputs, name), name
    assert {"MAX_DEPTH", "MAX_INTEGER_DIGITS", "MAX_DOCUMENT_BYTES", "check_json"} <= set(convo.inputs.__all__)


def test_status_classes_are_exported_as_the_sdk_names_them():
    """The SDK's status classes are reachable from convo (409 as APIConflictError, since
    ConflictError is the store's head conflict)."""
    for name in ("RequestTimeoutError", "APIConflictError", "ServiceUnavailableError",
                 "GatewayTimeoutError", "PaymentRequiredError", "PreconditionFailedError",
                 "UnprocessableEntityError", "RequestHeaderFieldsTooLargeError",
                 "ClientClosedRequestError", "HTTPNotImplementedError", "ContentTooLargeError"):
        assert name in convo.__all__, name
    assert issubclass(convo.ServiceUnavailableError, convo.InternalServerError)
    assert issubclass(convo.OverloadedError, convo.InternalServerError)
    assert issubclass(convo.ConflictError, convo.StoreError)


def test_first_hour_names_are_exported():
    """ThreadTree, the JSONL functions and ForkPointError are public, from convo itself."""
    from convo.jsonl import export_jsonl, import_jsonl
    from convo.store import ThreadTree

    assert convo.ThreadTree is ThreadTree
    assert (convo.export_jsonl, convo.import_jsonl) == (export_jsonl, import_jsonl)
    for name in ("ThreadTree", "ThreadInfo", "export_jsonl", "import_jsonl", "ForkPointError"):
        assert name in convo.__all__

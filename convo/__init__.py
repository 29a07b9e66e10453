"""convo: the state of a Claude Messages API conversation, kept correct.

The public surface is re-exported here; implementation lives in the
modules named in ``DESIGN.md``.  The store, transport and chat names are
loaded on first use (PEP 562): they pull in SQLAlchemy and httpx, which a
program that only builds conversations, or ``convo --help``, should not pay
for.
"""

import importlib
from typing import TYPE_CHECKING, Any

from convo._frozen import FrozenDict, FrozenList
from convo.blocks import (
    AdvisorToolResultBlock,
    Base64ImageSource,
    Base64PDFSource,
    BashCodeExecutionToolResultBlock,
    Block,
    CacheControl,
    CodeExecutionToolResultBlock,
    CompactionBlock,
    ContainerUploadBlock,
    ContentSource,
    DocumentBlock,
    FallbackBlock,
    FileSource,
    ImageBlock,
    MCPToolResultBlock,
    MCPToolUseBlock,
    PlainTextSource,
    RedactedThinkingBlock,
    SearchResultBlock,
    ServerToolResultBlock,
    ServerToolUseBlock,
    TextBlock,
    TextEditorCodeExecutionToolResultBlock,
    ThinkingBlock,
    ToolReferenceBlock,
    ToolResultBlock,
    ToolSearchToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    UnknownSource,
    URLImageSource,
    URLPDFSource,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)
from convo.conversation import POLICIES, Conversation, Policy, System
from convo.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetError,
    CassetteMissError,
    ChatStateError,
    CodecError,
    ConflictError,
    ConvoError,
    DatabaseLockedError,
    HashMismatchError,
    InternalServerError,
    NotFoundError,
    NotSendableError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestParamError,
    RequestTooLargeError,
    RuleError,
    SchemaVersionError,
    StoreError,
    StreamError,
    ThreadExistsError,
    ThreadNotFoundError,
    TransportError,
    TurnNotFoundError,
)
from convo.models import ModelProfile, profile_for, register_profile
from convo.response_info import ResponseInfo, Usage, response_info
from convo.rules import RULES, Rule
from convo.turns import ROLES, Origin, Role, Turn

from convo import tokens  # isort: skip  (a namespace: convo.tokens.count / fits / trim)

if TYPE_CHECKING:
    from convo.chat import AsyncChat, Chat, RequestParams
    from convo.store import AsyncStore, Store, ThreadInfo
    from convo.transport import (
        AnthropicTransport,
        AsyncAnthropicTransport,
        AsyncCassetteTransport,
        AsyncHTTPTransport,
        AsyncScriptedTransport,
        AsyncTransport,
        CassetteTransport,
        HTTPTransport,
        RetryPolicy,
        ScriptedTransport,
        Transport,
        accumulate,
    )

_LAZY = {
    "AsyncChat": "convo.chat",
    "Chat": "convo.chat",
    "RequestParams": "convo.chat",
    "AsyncStore": "convo.store",
    "Store": "convo.store",
    "ThreadInfo": "convo.store",
    "AnthropicTransport": "convo.transport",
    "AsyncAnthropicTransport": "convo.transport",
    "AsyncCassetteTransport": "convo.transport",
    "AsyncHTTPTransport": "convo.transport",
    "AsyncScriptedTransport": "convo.transport",
    "AsyncTransport": "convo.transport",
    "CassetteTransport": "convo.transport",
    "HTTPTransport": "convo.transport",
    "RetryPolicy": "convo.transport",
    "ScriptedTransport": "convo.transport",
    "Transport": "convo.transport",
    "accumulate": "convo.transport",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'convo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__version__ = "0.1.0"

__all__ = [
    "POLICIES",
    "ROLES",
    "RULES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AdvisorToolResultBlock",
    "AnthropicTransport",
    "AsyncAnthropicTransport",
    "AsyncCassetteTransport",
    "AsyncChat",
    "AsyncHTTPTransport",
    "AsyncScriptedTransport",
    "AsyncStore",
    "AsyncTransport",
    "AuthenticationError",
    "BadRequestError",
    "Base64ImageSource",
    "Base64PDFSource",
    "BashCodeExecutionToolResultBlock",
    "Block",
    "BudgetError",
    "CacheControl",
    "CassetteMissError",
    "CassetteTransport",
    "Chat",
    "ChatStateError",
    "CodeExecutionToolResultBlock",
    "CodecError",
    "CompactionBlock",
    "ConflictError",
    "ContainerUploadBlock",
    "ContentSource",
    "Conversation",
    "ConvoError",
    "DatabaseLockedError",
    "DocumentBlock",
    "FallbackBlock",
    "FileSource",
    "FrozenDict",
    "FrozenList",
    "HTTPTransport",
    "HashMismatchError",
    "ImageBlock",
    "InternalServerError",
    "MCPToolResultBlock",
    "MCPToolUseBlock",
    "ModelProfile",
    "NotFoundError",
    "NotSendableError",
    "Origin",
    "OverloadedError",
    "PermissionDeniedError",
    "PlainTextSource",
    "Policy",
    "RateLimitError",
    "RedactedThinkingBlock",
    "RequestParamError",
    "RequestParams",
    "RequestTooLargeError",
    "ResponseInfo",
    "RetryPolicy",
    "Role",
    "Rule",
    "RuleError",
    "SchemaVersionError",
    "ScriptedTransport",
    "SearchResultBlock",
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "Store",
    "StoreError",
    "StreamError",
    "System",
    "TextBlock",
    "TextEditorCodeExecutionToolResultBlock",
    "ThinkingBlock",
    "ThreadExistsError",
    "ThreadInfo",
    "ThreadNotFoundError",
    "ToolReferenceBlock",
    "ToolResultBlock",
    "ToolSearchToolResultBlock",
    "ToolUseBlock",
    "Transport",
    "TransportError",
    "Turn",
    "TurnNotFoundError",
    "URLImageSource",
    "URLPDFSource",
    "UnknownBlock",
    "UnknownSource",
    "Usage",
    "WebFetchToolResultBlock",
    "WebSearchToolResultBlock",
    "__version__",
    "accumulate",
    "profile_for",
    "register_profile",
    "response_info",
    "tokens",
]

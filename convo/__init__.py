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
    Base64ImageSource,
    Base64PDFSource,
    Block,
    CacheControl,
    DocumentBlock,
    ImageBlock,
    PlainTextSource,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    URLImageSource,
    URLPDFSource,
)
from convo.conversation import Conversation, Policy, System
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
    ForkPointError,
    HashMismatchError,
    IntegrityError,
    InternalServerError,
    NotFoundError,
    NotSendableError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
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
from convo.jsonl import export_jsonl, import_jsonl
from convo.models import ModelProfile, profile_for, register_profile
from convo.rules import RULES, Rule
from convo.turns import Origin, Role, Turn

from convo import tokens  # isort: skip  (a namespace: convo.tokens.count / fits / trim)

if TYPE_CHECKING:
    from convo.chat import AsyncChat, Chat
    from convo.store import AsyncStore, Store, ThreadInfo, ThreadPage, ThreadTree
    from convo.transport import (
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
    "AsyncStore": "convo.store",
    "Store": "convo.store",
    "ThreadInfo": "convo.store",
    "ThreadTree": "convo.store",
    "ThreadPage": "convo.store",
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
    "RULES",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
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
    "Block",
    "BudgetError",
    "CacheControl",
    "CassetteMissError",
    "CassetteTransport",
    "Chat",
    "ChatStateError",
    "CodecError",
    "ConflictError",
    "Conversation",
    "ConvoError",
    "DatabaseLockedError",
    "ForkPointError",
    "DocumentBlock",
    "FrozenDict",
    "FrozenList",
    "HTTPTransport",
    "HashMismatchError",
    "ImageBlock",
    "IntegrityError",
    "InternalServerError",
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
    "RequestTooLargeError",
    "RetryPolicy",
    "Role",
    "Rule",
    "RuleError",
    "SchemaVersionError",
    "ScriptedTransport",
    "Store",
    "StoreError",
    "StreamError",
    "System",
    "TextBlock",
    "ThinkingBlock",
    "ThreadExistsError",
    "ThreadInfo",
    "ThreadNotFoundError",
    "ThreadPage",
    "ThreadTree",
    "ToolResultBlock",
    "ToolUseBlock",
    "Transport",
    "TransportError",
    "Turn",
    "TurnNotFoundError",
    "URLImageSource",
    "URLPDFSource",
    "UnknownBlock",
    "__version__",
    "accumulate",
    "export_jsonl",
    "import_jsonl",
    "profile_for",
    "register_profile",
    "tokens",
]

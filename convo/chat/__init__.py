"""Chat: a conversation, a store and a transport, one step at a time.

``Chat`` is the layer that ties the core to the outside world: each step
appends to the immutable ``Conversation``, checks it (``check_sendable``)
before anything is sent, sends it through a transport, appends the reply
and saves the thread.  A step is all or nothing: if anything fails before
the save, ``chat.conversation`` and the stored thread are unchanged.

If the save loses a race (another writer moved the thread), ``save`` raises
``ConflictError``.  The reply is not lost: its turns are already in the
database and the attempted conversation stays on the chat as
``chat.pending``.  ``chat.conversation`` is **not** advanced.  Recover with
``chat.save_pending("t1-mine")`` (keep the reply on a new thread, forked
from this one) or ``chat.reload()`` (take the other writer's thread and
send again).

Every step takes the request fields as typed keywords (``RequestParams``:
``send("hi", max_tokens=50, tools=[...])``); an unknown one raises
``RequestParamError`` before anything is sent, and fields convo does not
know yet go in ``extra={...}``.

``AsyncChat`` is the asyncio twin (``AsyncStore`` + ``AsyncTransport``).
Layer: above ``store`` and ``transport``; only ``convo.cli`` imports it.
"""

from convo.chat._async import AsyncChat
from convo.chat._core import (
    DEFAULT_CONTINUE_PROMPT,
    DEFAULT_MAX_REBASES,
    DEFAULT_MAX_STEPS,
    DEFAULT_MAX_TOKENS,
    ConflictPolicy,
    ContinueMode,
    TextCallback,
    ToolHandler,
)
from convo.chat._events import (
    Branched,
    ChatEvent,
    Finished,
    TextDelta,
    ThinkingDelta,
    ToolCallStart,
    ToolInputDelta,
    ToolRan,
    TurnEnd,
)
from convo.chat._machine import Branch
from convo.chat._params import REQUEST_FIELDS, RequestParams, RunParams
from convo.chat._settings import ThreadSettings
from convo.chat._stream import AsyncChatStream, ChatStream
from convo.chat._sync import Chat
from convo.chat._tools import tool_schema
from convo.errors import ChatStateError, RequestParamError, ToolLoopError, ToolSchemaError

__all__ = [
    "DEFAULT_CONTINUE_PROMPT",
    "DEFAULT_MAX_REBASES",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_MAX_TOKENS",
    "REQUEST_FIELDS",
    "AsyncChat",
    "AsyncChatStream",
    "Branch",
    "Branched",
    "Chat",
    "ChatEvent",
    "ChatStateError",
    "ChatStream",
    "ConflictPolicy",
    "ContinueMode",
    "Finished",
    "RequestParamError",
    "RequestParams",
    "RunParams",
    "TextCallback",
    "TextDelta",
    "ThinkingDelta",
    "ThreadSettings",
    "ToolCallStart",
    "ToolHandler",
    "ToolInputDelta",
    "ToolLoopError",
    "ToolRan",
    "ToolSchemaError",
    "TurnEnd",
    "tool_schema",
]

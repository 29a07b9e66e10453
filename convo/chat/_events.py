"""What ``chat.stream(...)`` yields: typed, frozen events.

Deltas (``TextDelta``, ``ThinkingDelta``, ``ToolCallStart``,
``ToolInputDelta``) arrive as the API streams them; ``TurnEnd`` marks a
model reply that has been saved (the boundary between the replies of a
tool loop), ``ToolRan`` a local tool the runner called, ``Branched`` a reply
the conflict policy kept on another thread, and ``Finished`` (always last)
carries the final turn.  ``step`` numbers the requests of one call from 1.

Every event has ``to_dict()`` (JSON-ready) and ``sse()`` (one Server-Sent
Events frame), so a stream can feed a web framework's streaming response
as it is: ``chat.stream("hi").sse()``, or ``.text()`` for the text alone.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from attrs import frozen

from convo._frozen import thaw
from convo.blocks import ToolUseBlock
from convo.turns import Turn

__all__ = [
    "Branched",
    "ChatEvent",
    "Finished",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallStart",
    "ToolInputDelta",
    "ToolRan",
    "TurnEnd",
]


class _Event:
    """The methods every event shares."""

    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data, ``{"type": ..., fields...}``."""
        data: dict[str, Any] = {"type": self.TYPE}
        for name in self.__attrs_attrs__:  # type: ignore[attr-defined]
            value = getattr(self, name.name)
            if isinstance(value, Turn):
                value = _turn_dict(value)
            elif isinstance(value, ToolUseBlock):
                value = {"id": value.id, "name": value.name, "input": thaw(value.input)}
            data[name.name] = value
        return data

    def sse(self) -> str:
        """One Server-Sent Events frame (``event:`` the type, ``data:`` JSON)."""
        data = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        return f"event: {self.TYPE}\ndata: {data}\n\n"


def _turn_dict(turn: Turn) -> dict[str, Any]:
    return {
        "id": turn.id,
        "role": turn.role,
        "origin": turn.origin,
        "content": json.loads(turn.content_text),
        "meta": json.loads(turn.meta_text),
    }


@frozen
class TextDelta(_Event):
    """A piece of reply text (content block ``index``)."""

    TYPE: ClassVar[str] = "text_delta"
    text: str
    index: int
    step: int


@frozen
class ThinkingDelta(_Event):
    """A piece of extended thinking."""

    TYPE: ClassVar[str] = "thinking_delta"
    thinking: str
    index: int
    step: int


@frozen
class ToolCallStart(_Event):
    """The model started a tool call (its input follows as deltas)."""

    TYPE: ClassVar[str] = "tool_call_start"
    id: str
    name: str
    index: int
    step: int


@frozen
class ToolInputDelta(_Event):
    """A fragment of a tool call's input JSON."""

    TYPE: ClassVar[str] = "tool_input_delta"
    partial_json: str
    index: int
    step: int


@frozen
class TurnEnd(_Event):
    """A model reply, saved (on ``thread``): the boundary between turns."""

    TYPE: ClassVar[str] = "turn_end"
    turn: Turn
    thread: str
    step: int


@frozen
class ToolRan(_Event):
    """The tool runner called a local tool (``is_error``: it raised)."""

    TYPE: ClassVar[str] = "tool_ran"
    call: ToolUseBlock
    is_error: bool
    step: int


@frozen
class Branched(_Event):
    """A reply lost the race for the thread and was saved on ``thread``
    (conflict policy ``fork`` or ``rebase``)."""

    TYPE: ClassVar[str] = "branched"
    thread: str
    turn: Turn
    step: int


@frozen
class Finished(_Event):
    """The last event: the call's final turn (saved)."""

    TYPE: ClassVar[str] = "finished"
    turn: Turn


ChatEvent = TextDelta | ThinkingDelta | ToolCallStart | ToolInputDelta | TurnEnd | ToolRan | Branched | Finished
"""Any event a chat stream yields."""


def events_of(raw: Any, step: int) -> TextDelta | ThinkingDelta | ToolCallStart | ToolInputDelta | None:
    """The typed event a raw (already folded, so well-formed) SSE event gives."""
    kind = raw.get("type")
    if kind == "content_block_delta":
        delta = raw.get("delta") or {}
        index = raw.get("index", 0)
        dtype = delta.get("type")
        if dtype == "text_delta":
            return TextDelta(str(delta.get("text", "")), index, step)
        if dtype == "thinking_delta":
            return ThinkingDelta(str(delta.get("thinking", "")), index, step)
        if dtype == "input_json_delta":
            return ToolInputDelta(str(delta.get("partial_json", "")), index, step)
        return None
    if kind == "content_block_start":
        block = raw.get("content_block") or {}
        if block.get("type") in ("tool_use", "server_tool_use", "mcp_tool_use"):
            return ToolCallStart(str(block.get("id", "")), str(block.get("name", "")), raw.get("index", 0), step)
    return None

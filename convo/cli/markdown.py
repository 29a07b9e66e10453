"""Markdown export (``convo export --format markdown``) and one-line block
summaries (used by the tables of ``convo show`` and the demo).

For people to read: not importable.  Pure functions over the core objects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

from convo._frozen import thaw
from convo.blocks import (
    Block,
    DocumentBlock,
    ImageBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
)
from convo.conversation import Conversation
from convo.images import image_size

__all__ = ["block_summary", "export_markdown"]


def export_markdown(
    thread_id: str, conversation: Conversation, *, title: str | None = None
) -> Iterator[str]:
    """The lines of a Markdown rendering of a thread (for reading only)."""
    yield f"# {title or thread_id}\n"
    yield "\n"
    head = conversation.head_id or "-"
    yield f"Thread `{thread_id}`, {len(conversation)} turns, head `{head}`.\n"
    system = conversation.system
    if system is not None:
        text = system if isinstance(system, str) else "\n\n".join(b.text for b in system)
        yield "\n"
        yield "**System:**\n"
        yield "\n"
        yield from (f"> {line}".rstrip() + "\n" for line in text.splitlines() or [""])
    for i, turn in enumerate(conversation.turns):
        yield "\n"
        yield f"## {i}. {turn.role} ({turn.origin})\n"
        details = _meta_line(turn.meta)
        if details:
            yield "\n"
            yield f"*{details}*\n"
        for block in turn.blocks:
            yield "\n"
            yield from _markdown_block(block)


def _meta_line(meta: Mapping[str, Any]) -> str:
    parts = []
    for key in ("model", "stop_reason"):
        value = meta.get(key)
        if isinstance(value, str):
            parts.append(f"{key}: {value}")
    usage = meta.get("usage")
    if isinstance(usage, Mapping):
        tokens = [f"{k.removesuffix('_tokens')} {v}" for k, v in usage.items() if isinstance(v, int)]
        if tokens:
            parts.append("tokens: " + ", ".join(tokens))
    if meta.get("prefill"):
        parts.append("prefill")
    return " · ".join(parts)


def _fenced(text: str, lang: str = "") -> Iterator[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    yield f"{fence}{lang}\n"
    yield text if text.endswith("\n") else text + "\n"
    yield f"{fence}\n"


def _markdown_block(block: Block) -> Iterator[str]:
    if isinstance(block, TextBlock):
        yield block.text + "\n"
    elif isinstance(block, ToolUseBlock):
        yield f"**tool call** `{block.name}` (`{block.id}`):\n"
        yield "\n"
        yield from _fenced(json.dumps(thaw(block.input), ensure_ascii=False, indent=2), "json")
    elif isinstance(block, ToolResultBlock):
        error = " (error)" if block.is_error else ""
        yield f"**tool result** for `{block.tool_use_id}`{error}:\n"
        content = block.content
        if isinstance(content, str):
            yield "\n"
            yield from _fenced(content)
        elif content:
            for inner in content:
                yield "\n"
                yield from _markdown_block(inner)
    elif isinstance(block, ThinkingBlock):
        yield "<details><summary>thinking</summary>\n"
        yield "\n"
        yield block.thinking + "\n"
        yield "\n"
        yield "</details>\n"
    else:
        yield f"*[{block_summary(block)}]*\n"


def block_summary(block: Block, *, width: int = 60) -> str:
    """A short one-line description of a block (used by tables and Markdown)."""
    if isinstance(block, TextBlock):
        return _clip(" ".join(block.text.split()), width)
    if isinstance(block, ImageBlock):
        return _image_summary(block)
    if isinstance(block, ToolUseBlock):
        args = json.dumps(thaw(block.input), ensure_ascii=False, separators=(",", ":"))
        return _clip(f"tool call {block.name} {args}", width)
    if isinstance(block, ToolResultBlock):
        error = " error" if block.is_error else ""
        content = block.content
        if isinstance(content, str):
            inner = content
        elif content:
            inner = " ".join(block_summary(b, width=width) for b in content)
        else:
            inner = ""
        return _clip(f"tool result{error} {block.tool_use_id}: {inner}".rstrip(), width)
    if isinstance(block, ThinkingBlock):
        return _clip(f"thinking: {' '.join(block.thinking.split())}", width)
    if isinstance(block, RedactedThinkingBlock):
        return "redacted thinking"
    if isinstance(block, DocumentBlock):
        return f"document{': ' + block.title if block.title else ''}"
    if isinstance(block, UnknownBlock):
        return f"{block.type or 'unknown'} block"
    # The rest of today's catalogue (server tools, MCP, compaction...).
    name = getattr(block, "name", None) or getattr(block, "tool_use_id", None)
    return f"{type(block).TYPE} block{' ' + name if isinstance(name, str) else ''}"


def _image_summary(block: ImageBlock) -> str:
    source = block.source
    url = getattr(source, "url", None)
    if isinstance(url, str):
        return f"image {url}"
    media_type = getattr(source, "media_type", "image")
    data = getattr(source, "data", "")
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return f"image {media_type}"
    size = image_size(raw)
    shape = f" {size[0]}x{size[1]}" if size else ""
    return f"image {media_type}{shape}, {len(raw)} bytes"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"

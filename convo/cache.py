"""Prompt-cache planning: where a request's ``cache_control`` breakpoints go.

The planner is a pure function of a request body (the JSON ``to_payload``
builds) and a few settings, so equal histories give byte-identical
payloads.  It sits between ``rules`` and ``conversation``: it reads JSON
only and never imports a ``Conversation``.

The policy of ``cache="auto"`` (API_RULES C10; build-with-claude/prompt-caching):

1. The caller's own breakpoints (on tools, system or message blocks, and a
   top-level ``cache_control``) are counted first and never moved; the
   planner only uses what is left of the API's 4.
2. **Stable prefix**: one breakpoint on the last system block (or the last
   tool when there is no system prompt): tools and system are cached
   together, so a new history under the same prompt still reads them.
3. **This request**: one on the last cacheable block of the final message,
   so the next request (which ends one exchange later) reads it.
4. **Previous request**: one on the last cacheable block of the message the
   previous request ended with (the one before the newest assistant turn),
   where that request wrote its cache: this request reads it exactly, with
   no reliance on the 20-block lookback, and those bytes stay identical.

A breakpoint whose prefix is estimated below the model's minimum cacheable
length (``ModelProfile.min_cache_tokens``) is not placed: the API would
cache nothing and say nothing.  Priority when breakpoints run short is the
order above.  Thinking blocks, empty text blocks and blocks the API does not
let carry ``cache_control`` are never marked; the planner walks back to the
nearest block that can be.

Token counts are estimates (``estimate_tokens``: a quarter of the text's
characters, images and PDFs at a fixed cost).  Claude's tokenizers give more
tokens than that for the same text, so the estimate errs on the side of
not placing a breakpoint.  Pass ``count=`` for exact counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from attrs import frozen

from convo.errors import CodecError
from convo.models import profile_for
from convo.rules import MAX_CACHE_BREAKPOINTS

__all__ = [
    "CACHEABLE_BLOCK_TYPES",
    "DEFAULT_MIN_CACHE_TOKENS",
    "LOOKBACK_BLOCKS",
    "Breakpoint",
    "CacheMode",
    "CachePlan",
    "apply_cache_plan",
    "count_breakpoints",
    "estimate_tokens",
    "plan_cache",
]

CacheMode = Literal["none", "auto"]
Ttl = Literal["5m", "1h"]

LOOKBACK_BLOCKS = 20
"""How many blocks before a breakpoint the API checks for an earlier cache
entry (API_RULES C10).  The planner marks the previous request's end
exactly, so it does not depend on it; the benchmark's cache model uses it."""

DEFAULT_MIN_CACHE_TOKENS = 4096
"""The minimum assumed for a model whose profile has none: the largest
minimum any current model has, so an unknown model never gets a breakpoint
that silently caches nothing."""

CACHEABLE_BLOCK_TYPES: frozenset[str] = frozenset(
    {
        "text",
        "image",
        "document",
        "search_result",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "container_upload",
        "tool_reference",
    }
)
"""Message block types whose request param has a ``cache_control`` field in
the SDK's types (2.15.0); ``thinking`` and ``redacted_thinking`` have none."""

_IMAGE_TOKENS = 1600
_PDF_TOKENS = 3000
_CHARS_PER_TOKEN = 4

Where = Literal["tools", "system", "messages"]
Reason = Literal["stable-prefix", "previous-request", "this-request"]


@frozen
class Breakpoint:
    """One planned ``cache_control`` breakpoint.

    Attributes:
        where: ``"tools"``, ``"system"`` or ``"messages"``.
        index: the tool, system block or message index.
        block: the block index inside the message (``None`` elsewhere, and
            for a message whose content is a string).
        tokens: the estimated length of the prefix the breakpoint caches.
        reason: which rule of the policy placed it.
    """

    where: Where
    index: int
    block: int | None
    tokens: int
    reason: Reason


@frozen
class CachePlan:
    """What ``plan_cache`` decided.

    Attributes:
        breakpoints: the breakpoints to add, in request order.
        user_breakpoints: the caller's own breakpoints (counted first).
        min_tokens: the minimum cacheable length used.
        skipped: a reason for each breakpoint the policy wanted but did not
            place (below the minimum, no slot left, nothing cacheable).
    """

    breakpoints: tuple[Breakpoint, ...]
    user_breakpoints: int
    min_tokens: int
    skipped: tuple[str, ...] = ()


def estimate_tokens(value: Any) -> int:
    """A cheap, deterministic token estimate of request JSON: a quarter of
    the characters of its strings (keys and ``type`` tags excluded), images
    at 1600 tokens and PDFs at 3000."""
    return _estimate(value) // _CHARS_PER_TOKEN


def _estimate(value: Any) -> int:
    """In characters (a token is ``_CHARS_PER_TOKEN`` of them)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "base64" and "data" in value:
            media = value.get("media_type", "")
            cost = _PDF_TOKENS if media == "application/pdf" else _IMAGE_TOKENS
            return cost * _CHARS_PER_TOKEN
        if kind in ("url", "file") and ("url" in value or "file_id" in value):
            return _IMAGE_TOKENS * _CHARS_PER_TOKEN
        return sum(_estimate(v) for k, v in value.items() if k not in ("type", "cache_control"))
    if isinstance(value, (list, tuple)):
        return sum(_estimate(v) for v in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return len(str(value))
    return 0


def _has_cache_control(value: Any) -> int:
    if isinstance(value, dict | Mapping):
        own = 1 if value.get("cache_control") is not None else 0
        inner = value.get("content")
        return own + (_has_cache_control(inner) if isinstance(inner, (list, tuple)) else 0)
    if isinstance(value, (list, tuple)):
        return sum(_has_cache_control(v) for v in value)
    return 0


def count_breakpoints(payload: Mapping[str, Any]) -> int:
    """Every ``cache_control`` in a request body (tools, system, message
    blocks and blocks nested in tool results, and the top-level one)."""
    total = 1 if payload.get("cache_control") is not None else 0
    total += _has_cache_control(payload.get("tools") or ())
    system = payload.get("system")
    if isinstance(system, (list, tuple)):
        total += _has_cache_control(system)
    for message in payload.get("messages") or ():
        content = message.get("content") if isinstance(message, dict | Mapping) else None
        if type(content) is not str and isinstance(content, (list, tuple)):
            total += _has_cache_control(content)
    return total


def _markable(block: Any) -> bool:
    if isinstance(block, str):
        return block != ""
    if not isinstance(block, dict | Mapping) or block.get("type") not in CACHEABLE_BLOCK_TYPES:
        return False
    return not (block.get("type") == "text" and not block.get("text"))


def plan_cache(
    payload: Mapping[str, Any],
    *,
    min_tokens: int | None = None,
    count: Callable[[Any], int] | None = None,
) -> CachePlan:
    """Plan the breakpoints ``cache="auto"`` adds to ``payload``.

    Args:
        payload: a request body (``model``, ``system``, ``tools``, ``messages``).
        min_tokens: the minimum cacheable length; by default the profile of
            ``payload["model"]`` (``DEFAULT_MIN_CACHE_TOKENS`` if it has none).
        count: tokens of one JSON value (a tool, a system block, a message
            block); ``estimate_tokens`` by default.

    Returns:
        The plan; apply it with ``apply_cache_plan``.
    """
    measure = estimate_tokens if count is None else count
    if min_tokens is None:
        profile_min = profile_for(payload.get("model")).min_cache_tokens
        min_tokens = DEFAULT_MIN_CACHE_TOKENS if profile_min is None else profile_min
    used = count_breakpoints(payload)
    skipped: list[str] = []
    budget = MAX_CACHE_BREAKPOINTS - used

    tools = payload.get("tools") or ()
    system = payload.get("system")
    messages = payload.get("messages") or ()
    _check_shape(tools, system, messages)
    total = 0
    stable: Breakpoint | None = None
    for i, tool in enumerate(tools):
        total += measure(tool)
        if isinstance(tool, Mapping) and "name" in tool:
            stable = Breakpoint("tools", i, None, total, "stable-prefix")
    if isinstance(system, str):
        total += measure(system)
        if system:
            stable = Breakpoint("system", 0, None, total, "stable-prefix")
    elif isinstance(system, (list, tuple)):
        for i, block in enumerate(system):
            total += measure(block)
            if _markable(block):
                stable = Breakpoint("system", i, None, total, "stable-prefix")
    # The last markable block of each message with its prefix length, as
    # (message, block, tokens): Breakpoints are built only for the chosen.
    ends: list[tuple[int, int | None, int] | None] = []
    for m, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict | Mapping) else None
        if type(content) is str:
            total += len(content) // _CHARS_PER_TOKEN if count is None else measure(content)
            ends.append((m, None, total) if content else None)
            continue
        last: tuple[int, int | None, int] | None = None
        for b, block in enumerate(content or ()):
            total += measure(block)
            if _markable(block):
                last = (m, b, total)
        ends.append(last)

    # Priority order: the stable prefix, then this request's end (without it
    # the next request has nothing to read), then the previous request's end.
    wanted: list[tuple[str, Breakpoint | None]] = [("stable prefix", stable)]
    if ends:
        end = ends[-1]
        wanted.append(
            ("this request", None if end is None else Breakpoint("messages", *end, "this-request"))
        )
    last_assistant = _previous_assistant(messages)
    if last_assistant is not None and last_assistant >= 1:
        previous = ends[last_assistant - 1]
        wanted.append(
            (
                "previous request",
                None if previous is None else Breakpoint("messages", *previous, "previous-request"),
            )
        )

    chosen: list[Breakpoint] = []
    for name, point in wanted:
        if point is None:
            if name != "stable prefix" or tools or system:
                skipped.append(f"{name}: no block can carry cache_control")
            continue
        if point.tokens < min_tokens:
            skipped.append(f"{name}: {point.tokens} tokens < minimum {min_tokens}")
            continue
        if _already_marked(payload, point) or any(_same(point, c) for c in chosen):
            continue
        if budget <= 0:
            skipped.append(f"{name}: no breakpoint left ({used} set by the caller)")
            continue
        chosen.append(point)
        budget -= 1
    order = {"tools": 0, "system": 1, "messages": 2}
    chosen.sort(key=lambda p: (order[p.where], p.index, -1 if p.block is None else p.block))
    return CachePlan(tuple(chosen), used, min_tokens, tuple(skipped))


def _check_shape(tools: Any, system: Any, messages: Any) -> None:
    """Refuse a body the planner cannot read with a clear error (the API
    would refuse it too), never a KeyError from deep inside."""
    if not isinstance(tools, (list, tuple)):
        raise CodecError("tools must be an array", path="$.tools")
    if system is not None and not isinstance(system, (str, list, tuple)):
        raise CodecError("system must be a string or an array of text blocks", path="$.system")
    if not isinstance(messages, (list, tuple)):
        raise CodecError("a payload needs a 'messages' array", path="$.messages")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise CodecError("a message must be an object", path=f"$.messages[{i}]")
        content = message.get("content")
        if not isinstance(content, (str, list, tuple)):
            raise CodecError("content must be a string or an array", path=f"$.messages[{i}].content")


def _previous_assistant(messages: Sequence[Any]) -> int | None:
    """The index of the newest assistant message that is not the final one:
    the previous request ended just before it."""
    for m in range(len(messages) - 2, -1, -1):
        message = messages[m]
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            return m
    return None


def _same(a: Breakpoint, b: Breakpoint) -> bool:
    return (a.where, a.index, a.block) == (b.where, b.index, b.block)


def _already_marked(payload: Mapping[str, Any], point: Breakpoint) -> bool:
    target = _target(payload, point)
    return isinstance(target, Mapping) and target.get("cache_control") is not None


def _target(payload: Mapping[str, Any], point: Breakpoint) -> Any:
    if point.where == "tools":
        return payload["tools"][point.index]
    if point.where == "system":
        system = payload["system"]
        return system if isinstance(system, str) else system[point.index]
    content = payload["messages"][point.index]["content"]
    return content if point.block is None else content[point.block]


def apply_cache_plan(
    payload: Mapping[str, Any], plan: CachePlan, *, ttl: Ttl | None = None
) -> dict[str, Any]:
    """A copy of ``payload`` with the plan's breakpoints added.

    Only the containers on the path to a breakpoint are copied; every other
    message is shared with ``payload``.  A string system prompt or message
    content is always sent as one text block, marked or not: the API treats
    the two forms alike, but cache keys are byte-based (API_RULES B4), so a
    message must not change form when its breakpoint moves on.

    Args:
        ttl: ``"5m"`` or ``"1h"``; ``None`` sends no ``ttl`` (the API's 5m).
    """
    marker: dict[str, Any] = {"type": "ephemeral"}
    if ttl is not None:
        if ttl not in ("5m", "1h"):
            raise ValueError(f"cache ttl must be '5m' or '1h', got {ttl!r}")
        marker["ttl"] = ttl
    out = dict(payload)
    points = {(p.where, p.index, p.block) for p in plan.breakpoints}
    tools = out.get("tools")
    if any(p.where == "tools" for p in plan.breakpoints):
        tools = list(tools or ())
        for point in plan.breakpoints:
            if point.where == "tools":
                tools[point.index] = _marked(tools[point.index], marker)
        out["tools"] = tools
    system = out.get("system")
    if isinstance(system, str) and system:
        system = [{"type": "text", "text": system}]
    if isinstance(system, (list, tuple)):
        blocks = list(system)
        for point in plan.breakpoints:
            if point.where == "system":
                blocks[point.index] = _marked(blocks[point.index], marker)
        out["system"] = blocks
    in_messages: dict[int, list[int]] = {}
    for point in plan.breakpoints:
        if point.where == "messages" and point.block is not None:
            in_messages.setdefault(point.index, []).append(point.block)
    messages = list(out.get("messages") or ())
    for m, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict | Mapping) else None
        if type(content) is str:
            if not content:
                continue
            block: dict[str, Any] = {"type": "text", "text": content}
            if ("messages", m, None) in points:
                block = _marked(block, marker)
            # Request messages hold role and content only: build the copy
            # directly (a third of the cost of unpacking a FrozenDict).
            if len(message) == 2:
                messages[m] = {"role": message["role"], "content": [block]}
            else:
                messages[m] = {**message, "content": [block]}
        elif m in in_messages:
            blocks = list(content or ())
            for b in in_messages[m]:
                blocks[b] = _marked(blocks[b], marker)
            messages[m] = {**message, "content": blocks}
    out["messages"] = messages
    return out


def _marked(block: Any, marker: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "text": block, "cache_control": dict(marker)}
    return {**block, "cache_control": dict(marker)}

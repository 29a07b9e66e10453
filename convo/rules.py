"""The history rules, each a named object with a stable kebab-case name.

Two phases:

* **append** rules run when a turn is appended and look only at the new
  turn and the one before it (O(1) in the history's length).  They keep the
  chain well formed: a conversation object never holds a history that no
  future append could make valid.
* **send** rules run in ``Conversation.check_sendable``: the history must
  also be complete (every tool call answered) and acceptable to the target
  model (prefill, output limits, image limits).

Every violation is a ``RuleError`` with ``.rule`` (the name below) and
``.index`` (the turn index, as the API's ``messages.N``).  The names are a
contract: they never change meaning.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from attrs import frozen

from convo._frozen import FrozenDict
from convo.blocks import (
    Base64ImageSource,
    Block,
    DocumentBlock,
    ImageBlock,
    MCPToolResultBlock,
    MCPToolUseBlock,
    RedactedThinkingBlock,
    ServerToolResultBlock,
    ServerToolUseBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
)
from convo.errors import RuleError
from convo.images import SUPPORTED_IMAGE_TYPES, image_size, sniff_media_type
from convo.models import ModelProfile
from convo.turns import Turn

__all__ = [
    "APPEND_RULES",
    "MAX_CACHE_BREAKPOINTS",
    "MAX_IMAGE_BASE64_BYTES",
    "MAX_IMAGE_EDGE",
    "MAX_IMAGE_EDGE_MANY",
    "MAX_MESSAGES",
    "RULES",
    "SEND_RULES",
    "Rule",
    "check_append",
    "check_send",
    "content_errors",
]

MAX_IMAGE_BASE64_BYTES = 5 * 1024 * 1024
"""The API's per-image limit, measured on the base64 text (API_RULES E1)."""
MAX_IMAGE_EDGE = 8000
"""Largest image edge in pixels (E2)."""
MAX_IMAGE_EDGE_MANY = 2000
"""Largest image edge when a request holds more than 20 images (E2)."""
MANY_IMAGES = 20
MAX_IMAGES_SMALL_CONTEXT = 100
"""Images per request for 200k-context models (E3)."""
MAX_IMAGES = 600
"""Images per request for larger-context models (E3)."""
MAX_MESSAGES = 100_000
"""Messages per request (A16)."""
MAX_CACHE_BREAKPOINTS = 4
"""``cache_control`` blocks per request (C10)."""

Phase = Literal["append", "send"]


@frozen
class Rule:
    """A named history rule.

    Attributes:
        name: stable kebab-case name, carried by every ``RuleError``.
        phases: when it is checked (``append``, ``send`` or both).
        summary: one sentence saying what it requires.
        source: where the API states or shows the rule.
    """

    name: str
    phases: tuple[Phase, ...]
    summary: str
    source: str

    def error(self, detail: str, index: int | None = None) -> RuleError:
        """A ``RuleError`` for this rule."""
        return RuleError(self.name, detail, index=index)


def _rule(name: str, phases: tuple[Phase, ...], summary: str, source: str) -> Rule:
    return Rule(name=name, phases=phases, summary=summary, source=source)


FIRST_TURN_IS_USER = _rule(
    "first-turn-is-user", ("append",), "The first turn is a user turn.", "API_RULES B2"
)
ROLES_ALTERNATE = _rule(
    "roles-alternate",
    ("append",),
    "User and assistant turns alternate (policy 'merge' joins same-role turns instead).",
    "API_RULES B3",
)
NO_EMPTY_CONTENT = _rule(
    "no-empty-content",
    ("append", "send"),
    "User turns have content, text blocks are non-empty, and a turn's text is not all whitespace.",
    "API_RULES B5",
)
BLOCK_ALLOWED_IN_ROLE = _rule(
    "block-allowed-in-role",
    ("append",),
    "tool_use and thinking blocks only in assistant turns; tool_result, image and "
    "document blocks only in user turns.",
    "API_RULES C11",
)
TOOL_RESULT_FOLLOWS_TOOL_USE = _rule(
    "tool-result-follows-tool-use",
    ("append",),
    "A turn with tool_result blocks directly follows an assistant turn with tool_use blocks.",
    "API_RULES D2",
)
TOOL_RESULTS_FIRST = _rule(
    "tool-results-first",
    ("append",),
    "tool_result blocks come before any other block in their turn.",
    "API_RULES D3",
)
TOOL_RESULT_IDS_KNOWN = _rule(
    "tool-result-ids-known",
    ("append",),
    "Each tool_result answers a tool_use of the previous turn, once.",
    "API_RULES D2, D4",
)
EVERY_TOOL_USE_ANSWERED = _rule(
    "every-tool-use-answered",
    ("append", "send"),
    "Every tool_use is answered by a tool_result in the very next turn.",
    "API_RULES D1",
)
THINKING_FIRST = _rule(
    "thinking-first",
    ("append",),
    "An assistant turn with thinking blocks starts with one.",
    "API_RULES D7",
)
IMAGE_MEDIA_TYPE = _rule(
    "image-media-type",
    ("append",),
    "Inline images are valid base64 of jpeg, png, gif or webp, and the declared media "
    "type is the real one.",
    "API_RULES C2",
)
IMAGE_SIZE = _rule(
    "image-size",
    ("append", "send"),
    "An image is at most 5 MB of base64 and 8000 px a side (2000 px when a request "
    "holds more than 20 images).",
    "API_RULES E1, E2",
)
IMAGE_COUNT = _rule(
    "image-count",
    ("send",),
    "At most 100 images per request (600 for models with more than 200k context).",
    "API_RULES E3",
)
HAS_MESSAGES = _rule("has-messages", ("send",), "A request has at least one turn.", "API_RULES A5")
MESSAGE_COUNT = _rule(
    "message-count", ("send",), "At most 100 000 turns per request.", "API_RULES A16"
)
PREFILL_SUPPORTED_BY_MODEL = _rule(
    "prefill-supported-by-model",
    ("send",),
    "A trailing assistant turn (prefill) only for models that accept it.",
    "seed working-with-messages; API_RULES B7",
)
PREFILL_NO_TRAILING_WHITESPACE = _rule(
    "prefill-no-trailing-whitespace",
    ("send",),
    "A trailing assistant turn does not end with whitespace.",
    "API_RULES B6",
)
CACHE_CONTROL_LIMIT = _rule(
    "cache-control-limit",
    ("send",),
    "At most 4 cache_control breakpoints per request.",
    "API_RULES C10",
)
MAX_TOKENS_LIMIT = _rule(
    "max-tokens-limit",
    ("send",),
    "max_tokens is at most the model's output limit.",
    "API_RULES A6",
)


# == Today's block catalogue and system turns =================================
# (kept apart from the rules above: server tools, MCP, system messages)

SERVER_TOOL_RESULT_FOLLOWS_USE = _rule(
    "server-tool-result-follows-use",
    ("append",),
    "A server tool result (web_search_tool_result, code_execution_tool_result, ...) or "
    "mcp_tool_result names a server_tool_use (mcp_tool_use) earlier in its assistant "
    "turn; server tool calls need no client tool_result, and one left open in a turn "
    "that stopped with tool_use or pause_turn is legal.",
    "API_RULES C9 (anthropics/claude-code#64383), D9, F3",
)
SYSTEM_MESSAGE_PLACEMENT = _rule(
    "system-message-placement",
    ("append",),
    "A system turn is never the first turn; it follows a user turn or an assistant "
    "turn ending in server tool use, and only an assistant turn may follow it.",
    "API_RULES B1",
)
SYSTEM_MESSAGE_TEXT_ONLY = _rule(
    "system-message-text-only",
    ("append",),
    "A system turn holds text only (a string or text blocks).",
    "API_RULES B1; SDK types/system_message_param.py",
)
SYSTEM_MESSAGE_SUPPORTED_BY_MODEL = _rule(
    "system-message-supported-by-model",
    ("send",),
    "System turns inside messages only for models whose profile has system_messages.",
    "API_RULES B1",
)

CATALOGUE_RULES: tuple[Rule, ...] = (
    SERVER_TOOL_RESULT_FOLLOWS_USE,
    SYSTEM_MESSAGE_PLACEMENT,
    SYSTEM_MESSAGE_TEXT_ONLY,
    SYSTEM_MESSAGE_SUPPORTED_BY_MODEL,
)

_API_RUN_ONLY = (ServerToolUseBlock, ServerToolResultBlock, MCPToolUseBlock, MCPToolResultBlock)
"""Blocks of tools the API runs inside an assistant turn (C9, C11)."""


def ends_in_server_tool_use(turn: Turn) -> bool:
    """True for an assistant turn whose last block is a server (or MCP) tool call."""
    if turn.role != "assistant" or turn.shorthand or not turn.blocks:
        return False
    return isinstance(turn.blocks[-1], (ServerToolUseBlock, MCPToolUseBlock))


def _catalogue_errors(turn: Turn, index: int) -> Iterator[RuleError]:
    """Where today's server-tool blocks go, and that each result has its call."""
    if turn.shorthand:
        return
    calls: set[str] = set()
    for i, block in enumerate(turn.blocks):
        if not isinstance(block, _API_RUN_ONLY):
            continue
        if turn.role != "assistant":
            yield BLOCK_ALLOWED_IN_ROLE.error(
                f"content.{i}: {type(block).TYPE} blocks are only in assistant turns", index
            )
            continue
        if isinstance(block, (ServerToolUseBlock, MCPToolUseBlock)):
            calls.add(block.id)
        elif block.tool_use_id not in calls:
            yield SERVER_TOOL_RESULT_FOLLOWS_USE.error(
                f"content.{i}: unexpected tool_use_id {block.tool_use_id!r} in a "
                f"{type(block).TYPE} block: no {_call_type(block)} block before it",
                index,
            )


def _call_type(block: Block) -> str:
    return "mcp_tool_use" if isinstance(block, MCPToolResultBlock) else "server_tool_use"


def _system_turn_errors(prev: Turn | None, turn: Turn, index: int) -> Iterator[RuleError]:
    if prev is None:
        yield SYSTEM_MESSAGE_PLACEMENT.error(
            "a system turn cannot be the first turn: use the top-level system prompt", index
        )
    elif not (prev.role == "user" or ends_in_server_tool_use(prev)):
        yield SYSTEM_MESSAGE_PLACEMENT.error(
            f"a system turn must follow a user turn or an assistant turn ending in server "
            f"tool use, not a {prev.role} turn",
            index,
        )
    if not turn.shorthand:
        for i, block in enumerate(turn.blocks):
            if not isinstance(block, TextBlock):
                yield SYSTEM_MESSAGE_TEXT_ONLY.error(
                    f"content.{i}: system turns hold text blocks only, found {_type_name(block)}",
                    index,
                )
    yield from _content_errors(turn, index)


def system_follower_errors(system: Turn, turn: Turn, index: int) -> list[RuleError]:
    """The placement violation of ``turn`` appended right after a system turn."""
    if turn.role == "assistant":
        return []
    return [
        SYSTEM_MESSAGE_PLACEMENT.error(
            f"only an assistant turn may follow a system turn, not a {turn.role} turn", index
        )
    ]


def unanswered_errors(asked: Turn, answers: Turn, asked_index: int) -> list[RuleError]:
    """``every-tool-use-answered`` for the tool calls of ``asked`` that the
    tool results of ``answers`` (the next turn) leave without a result."""
    return list(_unanswered(asked, tool_result_ids(answers), asked_index))


def catalogue_send_errors(turns: Sequence[Turn], profile: ModelProfile) -> list[RuleError]:
    """Send-time violations of the catalogue rules (system turns per model)."""
    if profile.system_messages:
        return []
    return [
        SYSTEM_MESSAGE_SUPPORTED_BY_MODEL.error(
            f"role 'system' is not supported on {profile.family or 'this model'}: put the "
            "instructions in the top-level system prompt",
            i,
        )
        for i, turn in enumerate(turns)
        if turn.role == "system"
    ]


RULES: Mapping[str, Rule] = FrozenDict(
    {
        r.name: r
        for r in (
            FIRST_TURN_IS_USER,
            ROLES_ALTERNATE,
            NO_EMPTY_CONTENT,
            BLOCK_ALLOWED_IN_ROLE,
            TOOL_RESULT_FOLLOWS_TOOL_USE,
            TOOL_RESULTS_FIRST,
            TOOL_RESULT_IDS_KNOWN,
            EVERY_TOOL_USE_ANSWERED,
            THINKING_FIRST,
            IMAGE_MEDIA_TYPE,
            IMAGE_SIZE,
            IMAGE_COUNT,
            HAS_MESSAGES,
            MESSAGE_COUNT,
            PREFILL_SUPPORTED_BY_MODEL,
            PREFILL_NO_TRAILING_WHITESPACE,
            CACHE_CONTROL_LIMIT,
            MAX_TOKENS_LIMIT,
            *CATALOGUE_RULES,
        )
    }
)
"""Every rule by name."""

APPEND_RULES: tuple[Rule, ...] = tuple(r for r in RULES.values() if "append" in r.phases)
SEND_RULES: tuple[Rule, ...] = tuple(r for r in RULES.values() if "send" in r.phases)

_USER_ONLY = (ToolResultBlock, ImageBlock, DocumentBlock)
_ASSISTANT_ONLY = (ToolUseBlock, ThinkingBlock, RedactedThinkingBlock)


# -- facts about turns -----------------------------------------------------


def tool_use_ids(turn: Turn) -> tuple[str, ...]:
    """The ids of the client tool calls in a turn."""
    if turn.shorthand:
        return ()
    return tuple(b.id for b in turn.blocks if isinstance(b, ToolUseBlock))


def tool_result_ids(turn: Turn) -> tuple[str, ...]:
    """The tool_use ids a turn's tool_result blocks answer."""
    if turn.shorthand:
        return ()
    return tuple(b.tool_use_id for b in turn.blocks if isinstance(b, ToolResultBlock))


def is_paused(turn: Turn) -> bool:
    """True for an assistant turn the API paused mid server-tool loop
    (``stop_reason: pause_turn``): it is continued by resending it as is."""
    if turn.role != "assistant" or turn.shorthand:
        return False
    if turn.meta.get("stop_reason") == "pause_turn":
        return True
    return ends_in_server_tool_use(turn)


def images_in(blocks: Iterable[Block]) -> Iterator[tuple[str, ImageBlock]]:
    """Every image with its path in the turn, including inside tool results."""
    for i, block in enumerate(blocks):
        if isinstance(block, ImageBlock):
            yield f"content.{i}", block
        elif isinstance(block, ToolResultBlock) and isinstance(block.content, tuple):
            for j, inner in enumerate(block.content):
                if isinstance(inner, ImageBlock):
                    yield f"content.{i}.content.{j}", inner


@functools.lru_cache(maxsize=512)
def _image_facts(data: str) -> tuple[str | None, int, tuple[int, int] | None] | str:
    """(real media type, base64 length, (w, h)) of base64 image data, or an
    error detail.  Cached: large images are decoded once per process."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return f"source data is not valid base64 ({exc})"
    return sniff_media_type(raw), len(data), image_size(raw)


def image_dimensions(block: ImageBlock) -> tuple[int, int] | None:
    """Pixel size of an inline image, read from its header (``None`` for a
    URL image or an unreadable header)."""
    if not isinstance(block.source, Base64ImageSource):
        return None
    facts = _image_facts(block.source.data)
    return None if isinstance(facts, str) else facts[2]


# -- append-time checks ----------------------------------------------------


def check_append(
    prev: Turn | None, turn: Turn, index: int, *, skip: frozenset[str] = frozenset()
) -> None:
    """Raise the first ``RuleError`` appending ``turn`` after ``prev`` breaks.

    ``roles-alternate`` is checked here too; the merge policy joins turns
    before calling this, so it never sees two same-role turns.  Rules named
    in ``skip`` are not enforced.
    """
    for error in _append_errors(prev, turn, index):
        if error.rule not in skip:
            raise error


def content_errors(turn: Turn, index: int) -> list[RuleError]:
    """The ``no-empty-content`` violations of one turn."""
    return list(_content_errors(turn, index))


def _append_errors(prev: Turn | None, turn: Turn, index: int) -> Iterator[RuleError]:
    if turn.role == "system":
        yield from _system_turn_errors(prev, turn, index)
        return
    if prev is None and turn.role != "user":
        yield FIRST_TURN_IS_USER.error("the first turn must be a user turn", index)
    if prev is not None and prev.role == turn.role:
        yield ROLES_ALTERNATE.error(
            f"two {turn.role} turns in a row (use policy='merge' to join them)", index
        )
    yield from _content_errors(turn, index)
    if turn.shorthand:
        # A bare string is one text block: nothing below can apply, except
        # an answer owed to the previous turn's tool calls.
        if prev is not None and turn.role == "user":
            yield from _unanswered(prev, (), index - 1)
        return
    blocks = turn.blocks
    for i, block in enumerate(blocks):
        if turn.role == "assistant" and isinstance(block, _USER_ONLY):
            yield BLOCK_ALLOWED_IN_ROLE.error(
                f"content.{i}: {type(block).TYPE} blocks are not allowed in assistant turns", index
            )
        if turn.role == "user" and isinstance(block, _ASSISTANT_ONLY):
            yield BLOCK_ALLOWED_IN_ROLE.error(
                f"content.{i}: {type(block).TYPE} blocks are not allowed in user turns", index
            )
    if turn.role == "assistant":
        thinking = [i for i, b in enumerate(blocks) if isinstance(b, (ThinkingBlock, RedactedThinkingBlock))]
        if thinking and thinking[0] != 0:
            yield THINKING_FIRST.error(
                "an assistant turn with thinking blocks must start with one, found "
                f"{_type_name(blocks[0])}",
                index,
            )
    results = [(i, b) for i, b in enumerate(blocks) if isinstance(b, ToolResultBlock)]
    if results:
        first_other = next(
            (i for i, b in enumerate(blocks) if not isinstance(b, ToolResultBlock)), len(blocks)
        )
        if results[-1][0] > first_other:
            yield TOOL_RESULTS_FIRST.error(
                f"content.{first_other}: tool_result blocks must come before any other block",
                index,
            )
        asked = tool_use_ids(prev) if prev is not None and prev.role == "assistant" else ()
        if not asked:
            yield TOOL_RESULT_FOLLOWS_TOOL_USE.error(
                "tool_result blocks must directly follow an assistant turn with tool_use blocks",
                index,
            )
        else:
            seen: set[str] = set()
            for i, block in results:
                if block.tool_use_id not in asked:
                    yield TOOL_RESULT_IDS_KNOWN.error(
                        f"content.{i}: tool_use_id {block.tool_use_id!r} does not answer a "
                        "tool_use of the previous turn",
                        index,
                    )
                elif block.tool_use_id in seen:
                    yield TOOL_RESULT_IDS_KNOWN.error(
                        f"content.{i}: tool_use_id {block.tool_use_id!r} is answered twice", index
                    )
                seen.add(block.tool_use_id)
    if prev is not None and turn.role == "user":
        yield from _unanswered(prev, tool_result_ids(turn), index - 1)
    yield from _image_errors(blocks, index)
    yield from _catalogue_errors(turn, index)


def _unanswered(prev: Turn, answered: Sequence[str], prev_index: int) -> Iterator[RuleError]:
    if prev.role != "assistant":
        return
    missing = [i for i in tool_use_ids(prev) if i not in answered]
    if missing:
        yield EVERY_TOOL_USE_ANSWERED.error(
            f"tool_use ids were found without tool_result blocks immediately after: "
            f"{', '.join(missing)}",
            prev_index,
        )


def _type_name(block: Block) -> str:
    if isinstance(block, UnknownBlock):
        return block.type or "unknown"
    return type(block).TYPE


def _content_errors(turn: Turn, index: int) -> Iterator[RuleError]:
    content = turn.content
    if isinstance(content, str):
        if turn.role == "user" and not content:
            yield NO_EMPTY_CONTENT.error("user turns must have non-empty content", index)
        elif not content.strip():
            yield NO_EMPTY_CONTENT.error("text content must contain non-whitespace text", index)
        return
    if not content:
        if turn.role == "user":
            yield NO_EMPTY_CONTENT.error("user turns must have non-empty content", index)
        return
    texts = [(i, b) for i, b in enumerate(turn.blocks) if isinstance(b, TextBlock)]
    for i, block in texts:
        if not block.text:
            yield NO_EMPTY_CONTENT.error(f"content.{i}: text blocks must be non-empty", index)
    if texts and len(texts) == len(turn.blocks) and not any(b.text.strip() for _, b in texts):
        yield NO_EMPTY_CONTENT.error("text content must contain non-whitespace text", index)


def _image_errors(blocks: Sequence[Block], index: int) -> Iterator[RuleError]:
    for path, image in images_in(blocks):
        source = image.source
        if not isinstance(source, Base64ImageSource):
            continue
        if source.media_type not in SUPPORTED_IMAGE_TYPES:
            yield IMAGE_MEDIA_TYPE.error(
                f"{path}: media type {source.media_type!r} is not one of "
                f"{', '.join(SUPPORTED_IMAGE_TYPES)}",
                index,
            )
            continue
        if len(source.data) > MAX_IMAGE_BASE64_BYTES:
            yield IMAGE_SIZE.error(
                f"{path}: image exceeds 5 MB maximum: {len(source.data)} bytes > "
                f"{MAX_IMAGE_BASE64_BYTES} bytes",
                index,
            )
            continue
        facts = _image_facts(source.data)
        if isinstance(facts, str):
            yield IMAGE_MEDIA_TYPE.error(f"{path}: {facts}", index)
            continue
        real, _, size = facts
        if real != source.media_type:
            yield IMAGE_MEDIA_TYPE.error(
                f"{path}: declared {source.media_type!r} but the bytes are "
                f"{real or 'not a supported image'}",
                index,
            )
            continue
        if size is not None and max(size) > MAX_IMAGE_EDGE:
            yield IMAGE_SIZE.error(
                f"{path}: image is {size[0]}x{size[1]} px, over the {MAX_IMAGE_EDGE} px limit",
                index,
            )


# -- send-time checks ------------------------------------------------------


def check_send(
    turns: Sequence[Turn],
    profile: ModelProfile,
    *,
    max_tokens: int | None = None,
    system: Any = None,
    allow_prefill: bool | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[RuleError]:
    """Every send-time violation of a well-formed history (empty if none).

    Args:
        turns: the history, oldest first.
        profile: the target model's profile.
        max_tokens: the request's ``max_tokens``, if known.
        system: the system prompt (its cache breakpoints count).
        allow_prefill: override the profile's prefill capability.
        extra: other request parameters (``tools`` breakpoints count).
    """
    errors: list[RuleError] = []
    if not turns:
        return [HAS_MESSAGES.error("a request needs at least one turn")]
    if len(turns) > MAX_MESSAGES:
        errors.append(
            MESSAGE_COUNT.error(f"{len(turns)} turns, more than the API's {MAX_MESSAGES}")
        )
    last_index = len(turns) - 1
    last = turns[-1]
    if last.role == "assistant":
        errors.extend(_trailing_assistant_errors(last, last_index, profile, allow_prefill))
    if (
        profile.max_output_tokens is not None
        and max_tokens is not None
        and max_tokens > profile.max_output_tokens
    ):
        errors.append(
            MAX_TOKENS_LIMIT.error(
                f"max_tokens {max_tokens} > {profile.max_output_tokens}, the most "
                f"{profile.family} can produce"
            )
        )
    errors.extend(_request_image_errors(turns, profile))
    breakpoints = _count_cache_control(system) + _count_cache_control(
        (extra or {}).get("tools")
    ) + sum(_count_cache_control(t.content) for t in turns if not t.shorthand)
    if breakpoints > MAX_CACHE_BREAKPOINTS:
        errors.append(
            CACHE_CONTROL_LIMIT.error(
                f"a maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be "
                f"provided, found {breakpoints}"
            )
        )
    return errors


def _trailing_assistant_errors(
    last: Turn, index: int, profile: ModelProfile, allow_prefill: bool | None
) -> Iterator[RuleError]:
    asked = tool_use_ids(last)
    if asked:
        yield EVERY_TOOL_USE_ANSWERED.error(
            f"tool_use ids were found without tool_result blocks immediately after: "
            f"{', '.join(asked)} (answer them with tool_results)",
            index,
        )
        return
    if is_paused(last):
        return  # a paused server-tool turn is continued by resending it
    prefill_ok = profile.prefill if allow_prefill is None else allow_prefill
    if not prefill_ok:
        yield PREFILL_SUPPORTED_BY_MODEL.error(
            f"{profile.family} does not support assistant message prefill: the "
            "conversation must end with a user turn",
            index,
        )
    content = last.content
    tail = content if isinstance(content, str) else ""
    if not isinstance(content, str) and last.blocks and isinstance(last.blocks[-1], TextBlock):
        tail = last.blocks[-1].text
    if tail and tail != tail.rstrip():
        yield PREFILL_NO_TRAILING_WHITESPACE.error(
            "final assistant content cannot end with trailing whitespace", index
        )


def _request_image_errors(turns: Sequence[Turn], profile: ModelProfile) -> Iterator[RuleError]:
    images = [
        (i, path, image)
        for i, turn in enumerate(turns)
        if turn.role == "user" and not turn.shorthand
        for path, image in images_in(turn.blocks)
    ]
    limit = (
        MAX_IMAGES
        if profile.context_window is None or profile.context_window > 200_000
        else MAX_IMAGES_SMALL_CONTEXT
    )
    if len(images) > limit:
        yield IMAGE_COUNT.error(f"{len(images)} images, more than {limit} per request")
    if len(images) > MANY_IMAGES:
        for i, path, image in images:
            size = image_dimensions(image)
            if size is not None and max(size) > MAX_IMAGE_EDGE_MANY:
                yield IMAGE_SIZE.error(
                    f"{path}: image is {size[0]}x{size[1]} px; a request with more than "
                    f"{MANY_IMAGES} images allows at most {MAX_IMAGE_EDGE_MANY} px a side",
                    i,
                )


def _count_cache_control(value: Any) -> int:
    if isinstance(value, Mapping):
        own = 1 if value.get("cache_control") is not None else 0
        inner = value.get("content")
        return own + (_count_cache_control(inner) if isinstance(inner, list) else 0)
    if isinstance(value, (list, tuple)):
        return sum(_count_cache_control(v) for v in value)
    if isinstance(value, TextBlock):
        return 1 if value.cache_control is not None else 0
    return 0


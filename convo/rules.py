"""The history rules, each a named object with a stable kebab-case name.

Two phases:

* **append** rules run when a turn is appended and look only at the new
  turn and the one before it (O(1) in the history's length).  They keep the
  chain well formed: a conversation object never holds a history that no
  future append could make valid.
* **send** rules run in ``Conversation.check_sendable``: the history must
  also be complete (every tool call answered) and acceptable to the target
  model (prefill, output limits, image limits, thinking types) and to the
  API version the request is sent with (``convo.versions``: the rules a
  version adds are named in ``VERSIONS`` and given by ``version_rules``).

Every violation is a ``RuleError`` with ``.rule`` (the name below) and
``.index`` (the turn index, as the API's ``messages.N``).  The names are a
contract: they never change meaning.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from attrs import frozen

from convo._frozen import FrozenDict
from convo.blocks import (
    Base64ImageSource,
    Block,
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
from convo.versions import DEFAULT_API_VERSION, REMOVED_SAMPLING_PARAMETERS, VERSIONS

__all__ = [
    "APPEND_RULES",
    "MAX_CACHE_BREAKPOINTS",
    "MAX_IMAGE_BASE64_BYTES",
    "MAX_IMAGE_EDGE",
    "MAX_IMAGE_EDGE_MANY",
    "MAX_MESSAGES",
    "RULES",
    "SEND_RULES",
    "TOOL_ID_PATTERN",
    "VersionFix",
    "Rule",
    "check_append",
    "check_send",
    "content_errors",
    "version_fix",
    "version_rules",
    "without_removed_params",
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
    "tool_use and thinking blocks only in assistant turns; tool_result and image "
    "blocks only in user turns (assistant documents are a 2026-10-21 rule: "
    "no-assistant-document).",
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
    "At most 100 images per request on 200k-context models, 600 on larger ones; every "
    "image counts, whatever its source (base64, url or a Files API file).",
    "API_RULES E3; https://platform.claude.com/docs/en/build-with-claude/vision",
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

THINKING_PREFIX_UNCHANGED = _rule(
    "thinking-prefix-unchanged",
    ("send",),
    "A thinking block is sent only under the exact prefix (system, tools, thinking "
    "configuration, earlier messages) it was produced under.",
    "platform.claude.com build-with-claude/preserved-thinking/prefix-checks (API_RULES D8); "
    "anthropic-sdk-python#1598",
)
"""Checked by ``convo.prefix`` against each model turn's recorded fingerprint."""

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

# -- history rules of issue 10 (empty mid-history turns, tool ids) -----------

NO_EMPTY_TURN_MID_HISTORY = _rule(
    "no-empty-turn-mid-history",
    ("send",),
    "Only the final assistant turn may have empty content (content: []); an empty "
    "model reply may be appended, but not sent back with turns after it.",
    "API_RULES B5 (the API's 'all messages must have non-empty content except for "
    "the optional final assistant message', anthropics/claude-code#3196, #6774); "
    "issue 10 item 6",
)
TOOL_USE_IDS_UNIQUE = _rule(
    "tool-use-ids-unique",
    ("append", "send"),
    "A tool_use id appears once in the whole history: never twice in one turn, "
    "never reused by a later turn.",
    "API error '`tool_use` ids must be unique' (anthropics/claude-code#20901, "
    "anthropics/anthropic-sdk-csharp#53, EdanStarfire/claudecode_webui#405)",
)
TOOL_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]+")
"""What a tool_use id must fully match (the API's ``^[a-zA-Z0-9_-]+$``)."""
TOOL_USE_ID_FORMAT = _rule(
    "tool-use-id-format",
    ("append", "send"),
    "tool_use ids match ^[a-zA-Z0-9_-]+$ (no dots, colons, slashes or spaces).",
    "API error 'messages.N.content.M.tool_use.id: String should match pattern "
    "'^[a-zA-Z0-9_-]+$'' (BlockRunAI/ClawRouter#17, tailcallhq/forgecode#1142, "
    "RooCodeInc/Roo-Code#10649)",
)
THINKING_TYPE_SUPPORTED = _rule(
    "thinking-type-supported",
    ("send",),
    "thinking.type is one the target model takes: 'enabled' is refused from Claude "
    "4.7 on, 'adaptive' up to 4.5, 'disabled' on always-on models (Fable, Opus 5.5).",
    "API_RULES A14; the model profile's source",
)

THINKING_BUDGET = _rule(
    "thinking-budget",
    ("send",),
    "thinking.type 'enabled' carries an integer budget_tokens of at least 1024.",
    "API_RULES A14 (SDK thinking_config_enabled_param.py)",
)
SAMPLING_SUPPORTED_BY_MODEL = _rule(
    "sampling-parameters-supported-by-model",
    ("send",),
    "No temperature, top_p or top_k for models that refuse them under any API version "
    "(Opus 4.7, Opus 4.8, Fable 5, Mythos 5).",
    "API_RULES A9; skills claude-api shared/error-codes.md",
)

_HISTORY_RULES = (
    NO_EMPTY_TURN_MID_HISTORY,
    TOOL_USE_IDS_UNIQUE,
    TOOL_USE_ID_FORMAT,
    THINKING_TYPE_SUPPORTED,
    THINKING_BUDGET,
    SAMPLING_SUPPORTED_BY_MODEL,
)

# -- API-version rules (chosen by the request's anthropic-version) -----------

_VERSIONING = "https://platform.claude.com/docs/en/api/versioning"

API_VERSION_KNOWN = _rule(
    "api-version-known",
    ("send",),
    "The request's anthropic-version is one convo knows (2023-06-01 or 2026-10-21).",
    "API_RULES 0.2, A3",
)
NO_SAMPLING_PARAMETERS = _rule(
    "no-sampling-parameters",
    ("send",),
    "2026-10-21: no temperature, top_p or top_k in the request, even at their default "
    "values (2023-06-01 takes them).",
    f"API_RULES A9 (v2026); {_VERSIONING}",
)
NO_ASSISTANT_DOCUMENT = _rule(
    "no-assistant-document",
    ("send",),
    "2026-10-21: no document block directly in an assistant turn (2023-06-01 takes it).",
    f"API_RULES C3, C11 (v2026); {_VERSIONING}",
)
NO_USER_CITATIONS = _rule(
    "no-user-citations",
    ("send",),
    "2026-10-21: no text block with a non-empty citations array in a user turn, "
    "directly or inside a search_result block (2023-06-01 takes them).",
    f"API_RULES C1 (v2026); {_VERSIONING}",
)

_VERSION_RULES = (
    API_VERSION_KNOWN,
    NO_SAMPLING_PARAMETERS,
    NO_ASSISTANT_DOCUMENT,
    NO_USER_CITATIONS,
)

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
            THINKING_PREFIX_UNCHANGED,
            *_HISTORY_RULES,
            *_VERSION_RULES,
        )
    }
)
"""Every rule by name."""

APPEND_RULES: tuple[Rule, ...] = tuple(r for r in RULES.values() if "append" in r.phases)
SEND_RULES: tuple[Rule, ...] = tuple(r for r in RULES.values() if "send" in r.phases)

# ``document`` is not here: 2023-06-01 takes it in assistant turns, and
# 2026-10-21 refuses it by name (no-assistant-document, a send rule).
_USER_ONLY = (ToolResultBlock, ImageBlock)
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
    yield from _tool_id_errors(turn, index)


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
    api_version: str = DEFAULT_API_VERSION,
) -> list[RuleError]:
    """Every send-time violation of a well-formed history (empty if none).

    Args:
        turns: the history, oldest first.
        profile: the target model's profile.
        max_tokens: the request's ``max_tokens``, if known.
        system: the system prompt (its cache breakpoints count).
        allow_prefill: override the profile's prefill capability.
        extra: other request parameters (``tools`` breakpoints count;
            sampling parameters and ``thinking`` are checked).
        api_version: the ``anthropic-version`` the request is sent with;
            its rules (``convo.versions.VERSIONS``) are added.
    """
    errors: list[RuleError] = []
    scan = _WireScan(turns)
    errors.extend(version_errors(turns, api_version, extra or {}, scan=scan))
    if not turns:
        return [HAS_MESSAGES.error("a request needs at least one turn"), *errors]
    errors.extend(history_errors(turns, profile, extra or {}, scan=scan))
    if NO_SAMPLING_PARAMETERS not in version_rules(api_version):
        # Under 2026-10-21 the version rule already names them.
        errors.extend(_model_sampling_errors(profile, extra or {}))
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
    errors.extend(_request_image_errors(turns, profile, scan))
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


def _request_image_errors(
    turns: Sequence[Turn], profile: ModelProfile, scan: _WireScan | None = None
) -> Iterator[RuleError]:
    images = (scan or _WireScan(turns)).images
    limit = (
        MAX_IMAGES
        if profile.context_window is None or profile.context_window > 200_000
        else MAX_IMAGES_SMALL_CONTEXT
    )
    if len(images) > limit:
        yield IMAGE_COUNT.error(
            f"{len(images)} images, more than {limit} per request for {profile.family or 'this model'}"
        )
    if len(images) > MANY_IMAGES:
        for i, path, image in images:
            source = image.get("source")
            if not isinstance(source, dict) or source.get("type") != "base64":
                continue
            data = source.get("data")
            facts = _image_facts(data) if isinstance(data, str) else None
            size = facts[2] if isinstance(facts, tuple) else None
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



# -- history rules of issue 10 ---------------------------------------------
#
# These read the wire JSON of each turn (``turn.content``), not block
# classes: a rule about ``"type": "tool_use"`` or an image ``source.type``
# holds whatever typed class the codec gives the block.  That JSON is
# always FrozenDict/FrozenList (dict/list subclasses), so the checks use
# ``dict``/``list``: the ABCs cost a third of a 10 000-turn check.


def _wire_blocks(turn: Turn) -> Sequence[Any]:
    content = turn.content
    return () if isinstance(content, str) else content


class _WireScan:
    """What the send rules need from a history's wire JSON, found in one
    pass over the turns (each rule reading the turns again cost 2x on a
    10 000-turn check)."""

    __slots__ = ("cited", "documents", "empty_assistant", "images", "tool_uses")

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.empty_assistant: list[int] = []
        self.tool_uses: list[tuple[int, int, Any]] = []
        self.documents: list[tuple[int, int]] = []
        self.cited: list[tuple[int, str]] = []
        self.images: list[tuple[int, str, dict[str, Any]]] = []
        last = len(turns) - 1
        for index, turn in enumerate(turns):
            content = turn.content
            role = turn.role
            if not content:
                if role == "assistant" and index < last:
                    self.empty_assistant.append(index)
                continue
            if isinstance(content, str):
                continue
            if role == "assistant":
                for i, block in enumerate(content):
                    if isinstance(block, dict):
                        kind = block.get("type")
                        if kind == "tool_use":
                            self.tool_uses.append((index, i, block.get("id")))
                        elif kind == "document":
                            self.documents.append((index, i))
            elif role == "user":
                self._user(index, content)

    def _user(self, index: int, content: Sequence[Any]) -> None:
        for i, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "image":
                self.images.append((index, f"content.{i}", block))
            elif kind == "text":
                if _has_citations(block):
                    self.cited.append((index, f"content.{i}"))
            elif kind == "search_result":
                self.cited.extend((index, p) for p in _search_result_cites(block, f"content.{i}"))
            elif kind == "tool_result":
                for j, inner in enumerate(_json_list(block.get("content"))):
                    if not isinstance(inner, dict):
                        continue
                    inner_kind = inner.get("type")
                    if inner_kind == "image":
                        self.images.append((index, f"content.{i}.content.{j}", inner))
                    elif inner_kind == "search_result":
                        self.cited.extend(
                            (index, p) for p in _search_result_cites(inner, f"content.{i}.content.{j}")
                        )


def _tool_id_errors(turn: Turn, index: int) -> Iterator[RuleError]:
    """``tool-use-id-format`` and ``tool-use-ids-unique`` within one turn
    (the append-time check: O(1) in the history's length)."""
    if turn.role != "assistant":
        return
    yield from _tool_ids(
        [(index, i, block.get("id")) for i, block in enumerate(_wire_blocks(turn))
         if isinstance(block, dict) and block.get("type") == "tool_use"],
        {},
    )


def _tool_ids(tool_uses: Iterable[tuple[int, int, Any]], seen: dict[str, int]) -> Iterator[RuleError]:
    """The tool-id rules over ``(turn index, position, id)`` in history
    order; ``seen`` maps ids already used to the turn that used them."""
    for index, i, tool_id in tool_uses:
        if not isinstance(tool_id, str) or TOOL_ID_PATTERN.fullmatch(tool_id) is None:
            yield TOOL_USE_ID_FORMAT.error(
                f"content.{i}.tool_use.id: {tool_id!r} does not match ^[a-zA-Z0-9_-]+$", index
            )
            continue
        first = seen.get(tool_id)
        if first is None:
            seen[tool_id] = index
        elif first == index:
            yield TOOL_USE_IDS_UNIQUE.error(
                f"content.{i}: tool_use ids must be unique ({tool_id!r} twice in this turn)", index
            )
        else:
            yield TOOL_USE_IDS_UNIQUE.error(
                f"content.{i}: tool_use ids must be unique ({tool_id!r} already used by "
                f"messages.{first})",
                index,
            )


def history_errors(
    turns: Sequence[Turn],
    profile: ModelProfile,
    params: Mapping[str, Any],
    *,
    scan: _WireScan | None = None,
) -> list[RuleError]:
    """The send-time rules of issue 10 item 6 over a whole history:
    ``no-empty-turn-mid-history``, ``tool-use-ids-unique`` (across turns),
    ``tool-use-id-format`` and ``thinking-type-supported``."""
    scan = scan or _WireScan(turns)
    errors = [
        NO_EMPTY_TURN_MID_HISTORY.error(
            "all messages must have non-empty content except for the optional final "
            "assistant message",
            index,
        )
        for index in scan.empty_assistant
    ]
    errors.extend(_tool_ids(scan.tool_uses, {}))
    errors.extend(_thinking_errors(profile, params))
    return errors


_JUDGED_THINKING = ("enabled", "adaptive", "disabled")
"""The thinking types profiles are sure about; any other type (a newer one,
``between_tools`` where the profile does not list it) is not judged."""


def _thinking_errors(profile: ModelProfile, params: Mapping[str, Any]) -> Iterator[RuleError]:
    thinking = params.get("thinking")
    if not isinstance(thinking, dict):
        return
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if type(budget) is not int or budget < 1024:
            yield THINKING_BUDGET.error(
                f"thinking.budget_tokens must be an integer of at least 1024, got {budget!r}"
            )
    accepted = profile.thinking_types
    if accepted is None:
        return
    if kind in _JUDGED_THINKING and kind not in accepted:
        yield THINKING_TYPE_SUPPORTED.error(
            f"thinking.type {kind!r} is not supported by {profile.family} "
            f"(it takes {', '.join(accepted)})"
        )


def _model_sampling_errors(profile: ModelProfile, params: Mapping[str, Any]) -> Iterator[RuleError]:
    if profile.sampling_parameters:
        return
    sent = [name for name in REMOVED_SAMPLING_PARAMETERS if name in params]
    if sent:
        yield SAMPLING_SUPPORTED_BY_MODEL.error(
            f"{', '.join(sent)}: {profile.family} does not accept sampling parameters"
        )


# -- API-version rules -----------------------------------------------------
#
# Each rule of a version is a function of the turns and the request
# parameters; ``VERSIONS`` (convo.versions) says which apply to a version.


def _sampling_errors(scan: _WireScan, params: Mapping[str, Any]) -> Iterator[RuleError]:
    sent = [name for name in REMOVED_SAMPLING_PARAMETERS if name in params]
    if sent:
        yield NO_SAMPLING_PARAMETERS.error(
            f"{', '.join(sent)}: Extra inputs are not permitted under anthropic-version "
            "2026-10-21 (send 2023-06-01 to keep them)"
        )


def _assistant_document_errors(scan: _WireScan, params: Mapping[str, Any]) -> Iterator[RuleError]:
    for index, i in scan.documents:
        yield NO_ASSISTANT_DOCUMENT.error(
            f"content.{i}: document blocks are not allowed in assistant messages under "
            "anthropic-version 2026-10-21",
            index,
        )


def _user_citation_errors(scan: _WireScan, params: Mapping[str, Any]) -> Iterator[RuleError]:
    for index, path in scan.cited:
        yield NO_USER_CITATIONS.error(
            f"{path}: text blocks in user messages cannot carry citations under "
            "anthropic-version 2026-10-21",
            index,
        )


def _cited_texts(blocks: Sequence[Any]) -> list[str]:
    """Paths of the user-side text blocks with non-empty citations (top
    level, and inside ``search_result`` blocks, also those in a ``tool_result``)."""
    scan = _WireScan(())
    scan._user(0, blocks)
    return [path for _, path in scan.cited]


def _json_list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else ()


def _search_result_cites(block: dict[str, Any], path: str) -> Iterator[str]:
    for j, text in enumerate(_json_list(block.get("content"))):
        if isinstance(text, dict) and text.get("type") == "text" and _has_citations(text):
            yield f"{path}.content.{j}"


def _has_citations(text: dict[str, Any]) -> bool:
    return len(_json_list(text.get("citations"))) > 0


_VersionCheck = Callable[[_WireScan, Mapping[str, Any]], Iterator[RuleError]]
_VERSION_CHECKS: Mapping[str, _VersionCheck] = FrozenDict(
    {
        NO_SAMPLING_PARAMETERS.name: _sampling_errors,
        NO_ASSISTANT_DOCUMENT.name: _assistant_document_errors,
        NO_USER_CITATIONS.name: _user_citation_errors,
    }
)


def version_rules(api_version: str) -> tuple[Rule, ...]:
    """The send rules ``api_version`` adds to every version's rules
    (``()`` for 2023-06-01 and for a version convo does not know)."""
    info = VERSIONS.get(api_version)
    return () if info is None else tuple(RULES[name] for name in info.send_rules)


def version_errors(
    turns: Sequence[Turn],
    api_version: str,
    params: Mapping[str, Any],
    *,
    scan: _WireScan | None = None,
) -> list[RuleError]:
    """Every violation of ``api_version``'s own rules, each with its index."""
    if api_version not in VERSIONS:
        return [
            API_VERSION_KNOWN.error(
                f"anthropic-version {api_version!r} is not one of {', '.join(VERSIONS)}"
            )
        ]
    errors: list[RuleError] = []
    rules = version_rules(api_version)
    if rules:
        scan = scan or _WireScan(turns)
        for rule in rules:
            errors.extend(_VERSION_CHECKS[rule.name](scan, params))
    return errors


def without_removed_params(params: Mapping[str, Any], api_version: str) -> dict[str, Any]:
    """``params`` without what ``api_version`` removed (``temperature``,
    ``top_p``, ``top_k`` under 2026-10-21): a plain new dict."""
    if NO_SAMPLING_PARAMETERS not in version_rules(api_version):
        return dict(params)
    return {k: v for k, v in params.items() if k not in REMOVED_SAMPLING_PARAMETERS}


@frozen
class VersionFix:
    """The minimal change that makes one turn pass a version's turn rules.

    Attributes:
        content: the new content (JSON: a list of block objects).
        changes: one line per change, with its path (``content.2: removed
            document block``).
        removed: what was taken out, as JSON (the document blocks, or
            ``{"path": ..., "citations": [...]}`` objects), so nothing is lost.
    """

    content: tuple[Any, ...]
    changes: tuple[str, ...]
    removed: tuple[Any, ...]


def version_fix(turn: Turn, api_version: str) -> VersionFix | None:
    """How to change ``turn`` so that it passes ``api_version``'s rules, or
    ``None`` when it already does.  Under 2026-10-21:

    * an assistant turn loses its ``document`` blocks (``no-assistant-document``);
    * a user turn's text blocks lose their ``citations`` key when it holds a
      non-empty array, directly or inside ``search_result`` blocks (also
      inside a ``tool_result``) (``no-user-citations``).

    Nothing else changes: every other block and field stays as it was, in
    order.  Pure: the turn is not touched.
    """
    names = {r.name for r in version_rules(api_version)}
    blocks = _wire_blocks(turn)
    if not blocks:
        return None
    changes: list[str] = []
    removed: list[Any] = []
    content: list[Any] = []
    if turn.role == "assistant" and NO_ASSISTANT_DOCUMENT.name in names:
        for i, block in enumerate(blocks):
            if isinstance(block, dict) and block.get("type") == "document":
                changes.append(f"content.{i}: removed document block")
                removed.append(block)
            else:
                content.append(block)
    elif turn.role == "user" and NO_USER_CITATIONS.name in names:
        cited = set(_cited_texts(blocks))
        if not cited:
            return None
        content = [_strip_citations(b, f"content.{i}", cited, changes, removed) for i, b in enumerate(blocks)]
    if not changes:
        return None
    return VersionFix(tuple(content), tuple(changes), tuple(removed))


def _strip_citations(
    block: Any, path: str, cited: set[str], changes: list[str], removed: list[Any]
) -> Any:
    if path in cited:
        changes.append(f"{path}: removed citations")
        removed.append({"path": path, "citations": block["citations"]})
        return {k: v for k, v in block.items() if k != "citations"}
    if not any(p.startswith(path + ".") for p in cited):
        return block
    inner = block["content"]
    new_inner = [
        _strip_citations(b, f"{path}.content.{j}", cited, changes, removed) for j, b in enumerate(inner)
    ]
    return {**block, "content": new_inner}

"""Hypothesis strategies for blocks, turns, conversations, responses, payloads.

``conversations()`` draws histories that satisfy every append-time rule
(tool calls answered in the next turn, thinking first, real images, server
tool calls paired with their results inside assistant turns, at most 4
``cache_control`` breakpoints per request...), drawn from today's block
catalogue where the API puts each block.  ``invalid_conversations()`` draws
payloads one edit away from valid, each with the rule and the turn index
the edit breaks, so a test can check that a history handler rejects
exactly that.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable
from typing import Any, Literal

from attrs import frozen
from hypothesis import strategies as st

from convo._frozen import thaw
from convo.blocks import (
    BashCodeExecutionToolResultBlock,
    Block,
    CacheControl,
    CodeExecutionToolResultBlock,
    CompactionBlock,
    ContainerUploadBlock,
    DocumentBlock,
    FallbackBlock,
    FileSource,
    ImageBlock,
    MCPToolResultBlock,
    MCPToolUseBlock,
    PlainTextSource,
    RedactedThinkingBlock,
    SearchResultBlock,
    ServerToolUseBlock,
    TextBlock,
    TextEditorCodeExecutionToolResultBlock,
    ThinkingBlock,
    ToolReferenceBlock,
    ToolResultBlock,
    ToolSearchToolResultBlock,
    ToolUseBlock,
    UnknownBlock,
    URLImageSource,
    WebFetchToolResultBlock,
    WebSearchToolResultBlock,
)
from convo.conversation import Conversation
from convo.rules import MAX_CACHE_BREAKPOINTS
from convo.turns import Origin, Turn

__all__ = [
    "InvalidCase",
    "blocks",
    "conversations",
    "invalid_conversations",
    "payloads",
    "png_bytes",
    "responses",
    "texts",
    "turns",
]

Draw = Callable[[st.SearchStrategy[Any]], Any]

_ALPHABET = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n\t"
)


def texts(*, max_size: int = 40) -> st.SearchStrategy[str]:
    """Non-empty text with a non-whitespace character and no trailing
    whitespace (valid anywhere, even as a prefill)."""
    return st.text(_ALPHABET, min_size=0, max_size=max_size).map(lambda s: (s + "x").strip() or "x")


def png_bytes(*, max_side: int = 48) -> st.SearchStrategy[bytes]:
    """Small but real PNG files (decodable, with correct CRCs)."""
    return st.tuples(st.integers(1, max_side), st.integers(1, max_side)).map(lambda wh: _png(*wh))


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_json_objects = st.dictionaries(st.text(max_size=8), _json, max_size=4)

_cache_controls = st.none() | st.builds(CacheControl, ttl=st.none() | st.sampled_from(["5m", "1h"]))

_ids = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=12)
_callers = st.none() | st.sampled_from(
    [{"type": "direct"}, {"type": "code_execution_20250825", "tool_id": "srvtoolu_caller"}]
)


class _Budget:
    """How many more ``cache_control`` breakpoints a request may carry (C10)."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, draw: Draw) -> CacheControl | None:
        if self.left <= 0:
            return None
        cache: CacheControl | None = draw(_cache_controls)
        if cache is not None:
            self.left -= 1
        return cache


def _images() -> st.SearchStrategy[ImageBlock]:
    inline = png_bytes().map(ImageBlock.from_bytes)
    url = st.builds(
        lambda n: ImageBlock(URLImageSource(f"https://example.com/{n}.png")), st.integers(0, 99)
    )
    file = st.builds(lambda i: ImageBlock(FileSource(f"file_{i}")), _ids)
    return inline | url | file


def _documents() -> st.SearchStrategy[DocumentBlock]:
    text = st.builds(
        lambda text, title: DocumentBlock(PlainTextSource(text), title=title),
        texts(),
        st.none() | texts(max_size=10),
    )
    file = st.builds(lambda i: DocumentBlock(FileSource(f"file_{i}")), _ids)
    return text | file


def _unknown_blocks() -> st.SearchStrategy[UnknownBlock]:
    # Types the API may add one day: never a known type (those are typed).
    return st.builds(
        lambda kind, body: UnknownBlock({"type": kind, **body}),
        st.sampled_from(["future_block_v9", "hologram_20991231"]),
        st.dictionaries(st.sampled_from(["id", "name", "input", "data", "extra"]), _json, max_size=3),
    )


@st.composite
def _text_blocks(draw: Draw, budget: _Budget | None = None, citations: bool = False) -> TextBlock:
    text = draw(texts())
    cache = draw(_cache_controls) if budget is None else budget.take(draw)
    cites = None
    if citations and draw(st.booleans()):
        cites = [{"type": "web_search_result_location", "cited_text": text, "url": "https://example.com",
                  "title": draw(st.none() | texts(max_size=8)), "encrypted_index": "ZW5j"}]
    return TextBlock(text, cache_control=cache, citations=cites)


def _search_results(budget: _Budget | None = None) -> st.SearchStrategy[SearchResultBlock]:
    return st.builds(
        lambda src, title, content: SearchResultBlock(f"https://example.com/{src}", title, content),
        _ids, texts(max_size=12), st.lists(_text_blocks(budget), min_size=1, max_size=2),
    )


_SERVER_TOOLS = (
    "web_search", "web_fetch", "code_execution", "bash_code_execution",
    "text_editor_code_execution", "tool_search_tool_regex",
)


@st.composite
def _server_tool_pair(draw: Draw, tool_id: str) -> tuple[ServerToolUseBlock, Block]:
    """A ``server_tool_use`` and the result block the API pairs with it."""
    name = draw(st.sampled_from(_SERVER_TOOLS))
    text = draw(texts(max_size=12))
    use = ServerToolUseBlock(tool_id, name, {"query": text}, caller=draw(_callers))
    result: Block
    if name == "web_search":
        content: Any = draw(st.sampled_from([
            [{"type": "web_search_result", "url": "https://example.com", "title": text,
              "encrypted_content": "ZW5j", "page_age": None}],
            {"type": "web_search_tool_result_error", "error_code": "unavailable"},
        ]))
        result = WebSearchToolResultBlock(tool_id, content)
    elif name == "web_fetch":
        result = WebFetchToolResultBlock(tool_id, {"type": "web_fetch_result", "url": "https://example.com",
                                  "content": {"type": "document", "source": {
                                      "type": "text", "media_type": "text/plain", "data": text}}})
    elif name == "code_execution":
        result = CodeExecutionToolResultBlock(tool_id, {"type": "code_execution_result", "stdout": text, "stderr": "",
                                 "return_code": 0, "content": []})
    elif name == "bash_code_execution":
        result = BashCodeExecutionToolResultBlock(tool_id, {"type": "bash_code_execution_result", "stdout": text, "stderr": "",
                                 "return_code": 0, "content": []})
    elif name == "text_editor_code_execution":
        result = TextEditorCodeExecutionToolResultBlock(tool_id, {"type": "text_editor_code_execution_view_result",
                                   "content": text, "file_type": "text"})
    else:
        result = ToolSearchToolResultBlock(tool_id, {"type": "tool_search_tool_search_result",
                                   "tool_references": [{"type": "tool_reference", "tool_name": "calc"}]})
    return use, result


def blocks(
    kinds: tuple[str, ...] = ("text", "image", "document", "tool_use", "tool_result", "thinking",
                              "redacted_thinking", "unknown"),
) -> st.SearchStrategy[Block]:
    """Single blocks of the given kinds (each valid on its own).

    Kinds beyond the default: ``search_result``, ``tool_reference``,
    ``container_upload``, ``server_tool_use``, ``server_tool_result``,
    ``mcp_tool_use``, ``mcp_tool_result``, ``compaction``, ``fallback``.
    """
    table: dict[str, st.SearchStrategy[Any]] = {
        "text": _text_blocks(),
        "image": _images(),
        "document": _documents(),
        "tool_use": st.builds(
            lambda i, n, inp, caller: ToolUseBlock(i, n, inp, caller=caller),
            st.from_regex(r"toolu_[A-Za-z0-9]{4,12}", fullmatch=True),
            st.from_regex(r"[a-z_]{1,12}", fullmatch=True), _json_objects, _callers,
        ),
        "tool_result": st.builds(
            ToolResultBlock,
            st.from_regex(r"toolu_[A-Za-z0-9]{4,12}", fullmatch=True),
            st.none() | texts() | st.lists(_text_blocks(), min_size=1, max_size=2).map(tuple),
            is_error=st.none() | st.booleans(),
        ),
        "thinking": st.builds(ThinkingBlock, texts(), st.text("abcdef0123456789", min_size=8, max_size=16)),
        "redacted_thinking": st.builds(RedactedThinkingBlock, st.text("ABCDEFabcdef=", min_size=4, max_size=16)),
        "unknown": _unknown_blocks(),
        "search_result": _search_results(),
        "tool_reference": st.builds(ToolReferenceBlock, st.sampled_from(["calc", "search"])),
        "container_upload": st.builds(lambda i: ContainerUploadBlock(f"file_{i}"), _ids),
        "server_tool_use": _ids.flatmap(lambda i: _server_tool_pair(f"srvtoolu_{i}")).map(lambda p: p[0]),
        "server_tool_result": _ids.flatmap(lambda i: _server_tool_pair(f"srvtoolu_{i}")).map(lambda p: p[1]),
        "mcp_tool_use": st.builds(lambda i, inp: MCPToolUseBlock(f"mcptoolu_{i}", "lookup", "docs", inp),
                                  _ids, _json_objects),
        "mcp_tool_result": st.builds(
            lambda i, t, e: MCPToolResultBlock(f"mcptoolu_{i}", [{"type": "text", "text": t}], is_error=e),
            _ids, texts(), st.booleans()),
        "compaction": st.builds(CompactionBlock, st.none() | texts()),
        "fallback": st.just(FallbackBlock({"model": "claude-opus-5-5"}, {"model": "claude-sonnet-5-5"},
                                           trigger={"type": "refusal", "category": "cyber"})),
    }
    return st.one_of(*(table[k] for k in kinds))


def turns(role: Literal["user", "assistant"] | None = None) -> st.SearchStrategy[Turn]:
    """Standalone first turns (no parent) of simple, always-valid content."""
    roles = st.just(role) if role else st.sampled_from(["user", "assistant"])
    return st.builds(
        lambda r, content: Turn.create(r, content, origin="human" if r == "user" else "synthetic"),
        roles,
        texts() | st.lists(_text_blocks(), min_size=1, max_size=3),
    )


@st.composite
def _user_content(draw: Draw, images: bool, budget: _Budget, future: bool) -> Any:
    if draw(st.booleans()):
        return draw(texts())
    table: dict[str, st.SearchStrategy[Any]] = {
        "document": _documents(),
        "search_result": _search_results(budget), "container_upload": blocks(("container_upload",)),
    }
    if future:
        table["unknown"] = _unknown_blocks()
    if images:
        table["image"] = _images()
    extra = draw(st.lists(st.sampled_from(sorted(table)).flatmap(table.__getitem__), max_size=2))
    # At least one real text block keeps the turn non-empty.
    return [*extra, draw(_text_blocks(budget))]


_USAGE = st.fixed_dictionaries(
    {"input_tokens": st.integers(0, 10_000), "output_tokens": st.integers(0, 4_000)}
)


@st.composite
def _assistant_turn(
    draw: Draw,
    counter: list[int],
    tools: bool,
    thinking: bool,
    budget: _Budget | None = None,
    beta: bool = False,
    pause: bool = False,
) -> tuple[Any, tuple[str, ...], dict[str, Any] | None]:
    budget = budget if budget is not None else _Budget(MAX_CACHE_BREAKPOINTS)
    if draw(st.booleans()):
        return draw(texts()), (), None
    head: list[Block] = []
    if thinking and draw(st.booleans()):
        head.append(draw(blocks(("thinking", "redacted_thinking"))))
    elif beta and draw(st.integers(0, 5)) == 0:
        head.append(draw(blocks(("compaction",))))
    body: list[Block] = [draw(_text_blocks(budget, citations=True))] if draw(st.booleans()) or not tools else []
    if tools:
        # Server tools run inside the turn: each call is followed by its result.
        for _ in range(draw(st.integers(0, 2))):
            counter[0] += 1
            body.extend(draw(_server_tool_pair(f"srvtoolu_{counter[0]:05d}")))
        if beta and draw(st.integers(0, 3)) == 0:
            counter[0] += 1
            tool_id = f"mcptoolu_{counter[0]:05d}"
            body += [MCPToolUseBlock(tool_id, "lookup", "docs", draw(_json_objects)),
                     MCPToolResultBlock(tool_id, [{"type": "text", "text": draw(texts())}], is_error=False)]
        if beta and body and draw(st.integers(0, 5)) == 0:
            body.append(draw(blocks(("fallback",))))
    ids: list[str] = []
    if tools:
        for _ in range(draw(st.integers(0 if body else 1, 2))):
            counter[0] += 1
            tool_id = f"toolu_{counter[0]:05d}"
            ids.append(tool_id)
            body.append(
                ToolUseBlock(tool_id, draw(st.sampled_from(["search", "calc", "lookup"])), draw(_json_objects),
                             caller=draw(_callers))
            )
        if ids and draw(st.integers(0, 3)) == 0:
            # A server tool call still open when the turn stopped for client
            # tools: legal, it completes in a later response (API_RULES F3).
            counter[0] += 1
            body.insert(len(body) - len(ids), draw(_server_tool_pair(f"srvtoolu_{counter[0]:05d}"))[0])
    if not body:
        body.append(draw(_text_blocks(budget)))
    if pause and tools and not ids and draw(st.integers(0, 3)) == 0:
        # The server-tool loop hit its limit: the turn ends on an open call
        # (stop_reason pause_turn) and is resent as is (API_RULES D9).
        counter[0] += 1
        body.append(draw(_server_tool_pair(f"srvtoolu_{counter[0]:05d}"))[0])
    meta = None
    if draw(st.booleans()):
        counter[0] += 1
        meta = {"id": f"msg_{counter[0]:05d}", "model": "claude-test-1",
                "stop_reason": "tool_use" if ids else "end_turn", "usage": draw(_USAGE)}
    return [*head, *body], tuple(ids), meta


def _systems(budget: _Budget) -> st.SearchStrategy[Any]:
    return st.none() | texts() | st.lists(_text_blocks(budget), min_size=1, max_size=2)


@st.composite
def conversations(
    draw: Draw,
    *,
    min_turns: int = 0,
    max_turns: int = 10,
    tools: bool = True,
    thinking: bool = True,
    images: bool = True,
    end_with: Literal["any", "user", "assistant"] = "any",
    complete: bool = False,
    beta: bool = False,
    future: bool = False,
) -> Conversation:
    """Conversations that satisfy every append-time rule.

    Every request built from one carries at most 4 ``cache_control``
    breakpoints; server tool blocks appear only in assistant turns, with
    ids, each result after its call.

    Args:
        min_turns, max_turns: bounds on the number of turns.
        tools, thinking, images: include tool exchanges (client, server),
            thinking blocks, images.
        end_with: force the role of the last turn (``"user"`` makes every
            conversation sendable to any model).
        complete: no trailing assistant turn with unanswered tool calls.
        beta: also draw the blocks of beta features (MCP connector,
            compaction, fallback), which only beta requests accept.
        future: also draw blocks of types the API does not have yet
            (``UnknownBlock``), which today's API would refuse.
    """
    budget = _Budget(MAX_CACHE_BREAKPOINTS)
    conversation = Conversation(draw(_systems(budget)))
    count = draw(st.integers(min_turns, max_turns))
    if end_with == "user" and count % 2 == 0:
        count = count + 1 if count < max_turns or count == 0 else count - 1
    elif end_with == "assistant" and count % 2 == 1:
        count = count + 1 if count < max_turns else count - 1
    counter = [0]
    pending: tuple[str, ...] = ()
    for i in range(count):
        last = i == count - 1
        if i % 2 == 0:
            if pending:
                results = [
                    ToolResultBlock(tool_id, draw(st.none() | texts()), is_error=draw(st.none() | st.booleans()))
                    for tool_id in pending
                ]
                tail = [draw(_text_blocks(budget))] if draw(st.booleans()) else []
                conversation = conversation.append("user", [*results, *tail], origin="tool")
                pending = ()
            else:
                conversation = conversation.user(draw(_user_content(images, budget, future)))
        else:
            use_tools = tools and not (last and complete)
            content, pending, meta = draw(_assistant_turn(counter, use_tools, thinking, budget, beta))
            origin: Origin = "model" if meta is not None else "synthetic"
            conversation = conversation.append("assistant", content, origin=origin, meta=meta)
    return conversation


def payloads(
    model: str = "claude-test-1", max_tokens: int = 1024, **kwargs: Any
) -> st.SearchStrategy[dict[str, Any]]:
    """Request bodies of valid conversations (plain, mutable dicts)."""
    return conversations(**kwargs).map(lambda c: thaw(c.to_payload(model, max_tokens)))


@st.composite
def responses(
    draw: Draw, *, tools: bool = True, thinking: bool = True, beta: bool = False
) -> dict[str, Any]:
    """Messages API response bodies (today's block catalogue)."""
    counter = [draw(st.integers(0, 10_000))]
    content, ids, _ = draw(_assistant_turn(counter, tools, thinking, beta=beta, pause=True))
    if isinstance(content, str):
        content = [TextBlock(content)]
    from convo.codec import block_to_json

    blocks_json = [thaw(block_to_json(b)) for b in content]
    open_server_call = bool(blocks_json) and blocks_json[-1]["type"] == "server_tool_use"
    return {
        "id": f"msg_{draw(st.integers(0, 10**9)):09d}",
        "type": "message",
        "role": "assistant",
        "content": blocks_json,
        "model": "claude-test-1",
        "stop_reason": "tool_use" if ids else "pause_turn" if open_server_call else draw(
            st.sampled_from(["end_turn", "max_tokens", "stop_sequence"])),
        "stop_sequence": None,
        "usage": draw(_USAGE),
    }


@frozen
class InvalidCase:
    """A payload one edit away from valid.

    Attributes:
        payload: the request body (plain dicts).
        rule: the rule the edit breaks.
        index: the turn index the error must carry.
        phase: ``"append"`` (``Conversation.from_payload`` raises ``RuleError``)
            or ``"send"`` (``check_sendable(model)`` raises ``NotSendableError``).
        model: the model to check against for send-phase cases.
        edit: what was changed, for the test's failure message.
    """

    payload: dict[str, Any]
    rule: str
    index: int | None
    phase: Literal["append", "send"]
    model: str
    edit: str


_NO_PREFILL_MODEL = "claude-opus-4-6"
_PREFILL_MODEL = "claude-opus-4-5"

_EDITS = (
    "cut-tool-pair",
    "unknown-tool-result-id",
    "orphan-tool-result",
    "text-before-tool-result",
    "assistant-first",
    "same-role-twice",
    "empty-text-block",
    "prefill-on-model-without-prefill",
    "prefill-trailing-whitespace",
    "unanswered-trailing-tool-use",
    "image-media-type-lies",
    "thinking-not-first",
    "tool-use-in-user-turn",
)


def _msgs(c: Conversation) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = thaw(c.to_payload("m", 1)["messages"])
    return result


@st.composite
def invalid_conversations(draw: Draw, edits: tuple[str, ...] = _EDITS) -> InvalidCase:
    """Payloads one edit away from a valid conversation, with the broken rule.

    Judge them as a strict loader would: ``Conversation.from_payload(payload,
    policy="strict")``.  The ``roles-alternate`` cases (two same-role
    messages in a row) are refused only under ``strict``; the default load
    (policy ``keep``) accepts them, as the API does, and combines them.
    """
    edit = draw(st.sampled_from(edits))
    base = draw(conversations(max_turns=6, end_with="user", complete=True))
    system = base.system_json
    messages = _msgs(base)
    n = len(messages)
    rule: str
    index: int | None
    phase: Literal["append", "send"] = "append"
    model = _PREFILL_MODEL
    tool_id = "toolu_edit"
    tool_use = {"type": "tool_use", "id": tool_id, "name": "calc", "input": {}}
    text = draw(texts())
    if edit == "cut-tool-pair":
        messages += [
            {"role": "assistant", "content": [{"type": "text", "text": text}, tool_use]},
            {"role": "user", "content": draw(texts())},
        ]
        rule, index = "every-tool-use-answered", n
    elif edit == "unknown-tool-result-id":
        messages += [
            {"role": "assistant", "content": [tool_use]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other"}]},
        ]
        rule, index = "tool-result-ids-known", n + 1
    elif edit == "orphan-tool-result":
        messages += [
            {"role": "assistant", "content": text},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id}]},
        ]
        rule, index = "tool-result-follows-tool-use", n + 1
    elif edit == "text-before-tool-result":
        messages += [
            {"role": "assistant", "content": [tool_use]},
            {"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "tool_result", "tool_use_id": tool_id}]},
        ]
        rule, index = "tool-results-first", n + 1
    elif edit == "assistant-first":
        messages = [{"role": "assistant", "content": text}, *messages]
        rule, index = "first-turn-is-user", 0
    elif edit == "same-role-twice":
        messages += [{"role": "user", "content": text}]
        rule, index = "roles-alternate", n
    elif edit == "empty-text-block":
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": [{"type": "text", "text": ""}]}]
        rule, index = "no-empty-content", n + 1
    elif edit == "prefill-on-model-without-prefill":
        messages += [{"role": "assistant", "content": text}]
        rule, index, phase, model = "prefill-supported-by-model", n, "send", _NO_PREFILL_MODEL
    elif edit == "prefill-trailing-whitespace":
        messages += [{"role": "assistant", "content": text + draw(st.sampled_from([" ", "\n", "\t "]))}]
        rule, index, phase = "prefill-no-trailing-whitespace", n, "send"
    elif edit == "unanswered-trailing-tool-use":
        messages += [{"role": "assistant", "content": [tool_use]}]
        rule, index, phase = "every-tool-use-answered", n, "send"
    elif edit == "image-media-type-lies":
        data = base64.b64encode(draw(png_bytes())).decode()
        media = draw(st.sampled_from(["image/jpeg", "image/gif", "image/webp"]))
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": [
                         {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}},
                         {"type": "text", "text": text}]}]
        rule, index = "image-media-type", n + 1
    elif edit == "thinking-not-first":
        messages += [{"role": "assistant", "content": [
            {"type": "text", "text": text},
            {"type": "thinking", "thinking": text, "signature": "sig"}]}]
        rule, index = "thinking-first", n
    else:  # tool-use-in-user-turn
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": [tool_use, {"type": "text", "text": text}]}]
        rule, index = "block-allowed-in-role", n + 1
    payload: dict[str, Any] = {"model": model, "max_tokens": 64, "messages": messages}
    if system is not None:
        payload["system"] = thaw(system)
    return InvalidCase(payload=payload, rule=rule, index=index, phase=phase, model=model, edit=edit)

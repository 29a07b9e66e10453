"""Content blocks, named as the Messages API names them.

Every block is a frozen attrs value whose fields hold only immutable data
(JSON objects inside blocks are ``FrozenDict``).  The world is open:

* every block type the API documents today is a typed class, whatever
  extra fields it carries.  The fields convo models are typed and drive the
  rules; every other field the JSON had is kept in ``extra`` (in order, with
  explicit ``null`` values included), and ``key_order`` remembers the
  order of the keys as received, so the block is written back byte for byte;
* only a block whose ``type`` convo does not know is an ``UnknownBlock``,
  which keeps the raw JSON unchanged.

Optional fields default to ``None``, meaning "absent from the JSON": an
explicit ``"is_error": false`` therefore survives a round trip, and an
explicit ``"citations": null`` is kept in ``extra`` (the typed field stays
``None``).  Parts of a block that are opaque to the rules (a tool call's
``caller``, a server tool's result ``content``, citations) are kept as
read-only JSON.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs
from attrs import field, frozen

from convo._frozen import FrozenDict, FrozenList, freeze
from convo.errors import RuleError
from convo.images import SUPPORTED_IMAGE_TYPES, sniff_media_type

__all__ = [
    "BLOCK_TYPES",
    "MCP_TOOL_BLOCKS",
    "SERVER_TOOL_BLOCKS",
    "SERVER_TOOL_RESULT_BLOCKS",
    "AdvisorToolResultBlock",
    "Base64ImageSource",
    "Base64PDFSource",
    "BashCodeExecutionToolResultBlock",
    "Block",
    "CacheControl",
    "CodeExecutionToolResultBlock",
    "CompactionBlock",
    "ContainerUploadBlock",
    "ContentSource",
    "DocumentBlock",
    "DocumentSource",
    "FallbackBlock",
    "FileSource",
    "ImageBlock",
    "ImageSource",
    "MCPToolResultBlock",
    "MCPToolUseBlock",
    "PlainTextSource",
    "RedactedThinkingBlock",
    "SearchResultBlock",
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "TextBlock",
    "TextEditorCodeExecutionToolResultBlock",
    "ThinkingBlock",
    "ToolReferenceBlock",
    "ToolResultBlock",
    "ToolSearchToolResultBlock",
    "ToolUseBlock",
    "URLImageSource",
    "URLPDFSource",
    "UnknownBlock",
    "UnknownSource",
    "WebFetchToolResultBlock",
    "WebSearchToolResultBlock",
    "modelled_fields",
]


def _frozen_json(value: Any) -> Any:
    return None if value is None else freeze(value)


def _frozen_object(value: Any) -> FrozenDict:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    result: FrozenDict = freeze(value)
    return result


def _key_order(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    order = tuple(value)
    for key in order:
        if not isinstance(key, str):
            raise TypeError(f"key_order holds JSON keys (str), got {type(key).__name__}")
    return order


_MODELLED: dict[type[Any], tuple[tuple[str, str], ...]] = {}


def modelled_fields(cls: type[Any]) -> tuple[tuple[str, str], ...]:
    """``(attribute, JSON key)`` of each field a block or source class types.

    The JSON key differs from the attribute only where the API's name is a
    Python keyword (``FallbackBlock.from_`` is ``"from"``).
    """
    found = _MODELLED.get(cls)
    if found is None:
        names: Mapping[str, str] = getattr(cls, "JSON_NAMES", {})
        found = tuple(
            (f.name, names.get(f.name, f.name))
            for f in attrs.fields(cls)
            if f.name not in ("extra", "key_order")
        )
        _MODELLED[cls] = found
    return found


def _check_extra(instance: Any, attribute: Any, value: FrozenDict) -> None:
    # An extra key may shadow a typed field only as an explicit null (the
    # typed field is then None): two values for one key cannot both be sent.
    fields = {key: name for name, key in modelled_fields(type(instance))}
    for key, item in value.items():
        if key == "type":
            raise ValueError("extra cannot hold 'type': it is the block's class")
        name = fields.get(key)
        if name is not None and (item is not None or getattr(instance, name) is not None):
            raise ValueError(
                f"extra[{key!r}] duplicates the typed field {name!r} (only an explicit "
                "null may be kept there)"
            )


def _extra() -> Any:
    return field(factory=FrozenDict, kw_only=True, converter=_frozen_object, validator=_check_extra)


def _order() -> Any:
    # Not part of equality: key order changes bytes, not meaning (the turn
    # id sorts keys too).
    return field(default=None, kw_only=True, eq=False, repr=False, converter=_key_order)


_str = attrs.validators.instance_of(str)
_opt_str = attrs.validators.optional(_str)


@frozen
class CacheControl:
    """A prompt-cache breakpoint: ``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``."""

    type: str = field(default="ephemeral", validator=attrs.validators.instance_of(str))
    ttl: str | None = field(default=None)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


_opt_cache = attrs.validators.optional(attrs.validators.instance_of(CacheControl))


def _cache() -> Any:
    return field(default=None, kw_only=True, validator=_opt_cache)


@frozen
class TextBlock:
    """``{"type": "text", "text": ...}``; ``citations`` is kept as raw JSON."""

    TYPE: ClassVar[str] = "text"
    text: str = field(validator=_str)
    cache_control: CacheControl | None = _cache()
    citations: FrozenList | None = field(default=None, kw_only=True, converter=_frozen_json)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


# -- sources ---------------------------------------------------------------


@frozen
class Base64ImageSource:
    """An image carried inline as base64."""

    TYPE: ClassVar[str] = "base64"
    media_type: str = field(validator=_str)
    data: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class URLImageSource:
    """An image the API fetches from a URL."""

    TYPE: ClassVar[str] = "url"
    url: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class FileSource:
    """An image or document uploaded with the Files API: ``{"type": "file", "file_id"}``."""

    TYPE: ClassVar[str] = "file"
    file_id: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class UnknownSource:
    """A source whose ``type`` convo does not know, kept exactly as received."""

    TYPE: ClassVar[str] = ""
    raw: FrozenDict = field(converter=_frozen_object)

    @property
    def type(self) -> str | None:
        """The source's ``type`` field, if it has a string one."""
        value = self.raw.get("type")
        return value if isinstance(value, str) else None


ImageSource = Base64ImageSource | URLImageSource | FileSource | UnknownSource


@frozen
class Base64PDFSource:
    """A PDF carried inline as base64."""

    TYPE: ClassVar[str] = "base64"
    data: str = field(validator=_str)
    media_type: str = field(default="application/pdf", validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class PlainTextSource:
    """A plain-text document."""

    TYPE: ClassVar[str] = "text"
    data: str = field(validator=_str)
    media_type: str = field(default="text/plain", validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class URLPDFSource:
    """A PDF the API fetches from a URL."""

    TYPE: ClassVar[str] = "url"
    url: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class ContentSource:
    """A document given as content (a string or text/image blocks), kept as JSON."""

    TYPE: ClassVar[str] = "content"
    content: Any = field(converter=freeze)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


DocumentSource = (
    Base64PDFSource | PlainTextSource | URLPDFSource | ContentSource | FileSource | UnknownSource
)

IMAGE_SOURCES: Mapping[str, type[Any]] = FrozenDict(
    {c.TYPE: c for c in (Base64ImageSource, URLImageSource, FileSource)}
)
DOCUMENT_SOURCES: Mapping[str, type[Any]] = FrozenDict(
    {c.TYPE: c for c in (Base64PDFSource, PlainTextSource, URLPDFSource, ContentSource, FileSource)}
)


# -- user-side blocks --------------------------------------------------------


@frozen
class ImageBlock:
    """``{"type": "image", "source": ...}``.

    Build one from real bytes with ``from_bytes``/``from_path``: the media
    type is sniffed from the magic bytes, never trusted from a file name.
    """

    TYPE: ClassVar[str] = "image"
    source: ImageSource = field(
        validator=attrs.validators.instance_of(
            (Base64ImageSource, URLImageSource, FileSource, UnknownSource)
        )
    )
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()

    @classmethod
    def from_bytes(cls, data: bytes, *, cache_control: CacheControl | None = None) -> ImageBlock:
        """An inline base64 image; the media type is read from the bytes.

        Raises:
            RuleError: ``image-media-type`` when the bytes are not jpeg, png,
                gif or webp.
        """
        media_type = sniff_media_type(data)
        if media_type is None:
            raise RuleError(
                "image-media-type",
                f"image bytes are not one of {', '.join(SUPPORTED_IMAGE_TYPES)}",
            )
        encoded = base64.b64encode(data).decode("ascii")
        return cls(Base64ImageSource(media_type, encoded), cache_control=cache_control)

    @classmethod
    def from_path(
        cls, path: str | PathLike[str], *, cache_control: CacheControl | None = None
    ) -> ImageBlock:
        """An inline image read from a file (media type sniffed, not guessed)."""
        return cls.from_bytes(Path(path).read_bytes(), cache_control=cache_control)

    @classmethod
    def from_url(cls, url: str, *, cache_control: CacheControl | None = None) -> ImageBlock:
        """An image the API fetches from ``url``."""
        return cls(URLImageSource(url), cache_control=cache_control)

    @classmethod
    def from_file_id(cls, file_id: str, *, cache_control: CacheControl | None = None) -> ImageBlock:
        """An image uploaded with the Files API."""
        return cls(FileSource(file_id), cache_control=cache_control)

    def decoded(self) -> bytes | None:
        """The image bytes for a base64 source (``None`` for other sources).

        Raises:
            RuleError: ``image-media-type`` when the data is not valid base64.
        """
        if not isinstance(self.source, Base64ImageSource):
            return None
        return decode_base64(self.source.data, rule="image-media-type")


def decode_base64(data: str, *, rule: str, index: int | None = None) -> bytes:
    """Strictly decode base64 or raise a ``RuleError`` naming ``rule``."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RuleError(rule, f"source data is not valid base64 ({exc})", index=index) from None


@frozen
class DocumentBlock:
    """``{"type": "document", "source": ...}`` (PDF, plain text, content or a file)."""

    TYPE: ClassVar[str] = "document"
    source: DocumentSource = field(
        validator=attrs.validators.instance_of(
            (Base64PDFSource, PlainTextSource, URLPDFSource, ContentSource, FileSource, UnknownSource)
        )
    )
    title: str | None = field(default=None, kw_only=True, validator=_opt_str)
    context: str | None = field(default=None, kw_only=True, validator=_opt_str)
    citations: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


def _text_blocks(value: Any) -> tuple[TextBlock, ...]:
    blocks = (value,) if isinstance(value, TextBlock) else tuple(value)
    for block in blocks:
        if not isinstance(block, TextBlock):
            raise TypeError(f"search_result content holds text blocks, got {type(block).__name__}")
    return blocks


@frozen
class SearchResultBlock:
    """``{"type": "search_result", "source", "title", "content": [text blocks]}``
    (user turns and tool results)."""

    TYPE: ClassVar[str] = "search_result"
    source: str = field(validator=_str)
    title: str = field(validator=_str)
    content: tuple[TextBlock, ...] = field(converter=_text_blocks)
    citations: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class ToolReferenceBlock:
    """``{"type": "tool_reference", "tool_name"}``: a tool found by tool search,
    inside a tool result."""

    TYPE: ClassVar[str] = "tool_reference"
    tool_name: str = field(validator=_str)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class ContainerUploadBlock:
    """``{"type": "container_upload", "file_id"}``: a Files API file put into
    the code-execution container."""

    TYPE: ClassVar[str] = "container_upload"
    file_id: str = field(validator=_str)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


# -- client tools --------------------------------------------------------------


@frozen
class ToolUseBlock:
    """``{"type": "tool_use", "id", "name", "input": {...}}`` (assistant turns).

    ``caller`` (programmatic tool calling: who made the call) is kept as JSON.
    """

    TYPE: ClassVar[str] = "tool_use"
    id: str = field(validator=_str)
    name: str = field(validator=_str)
    input: FrozenDict = field(factory=FrozenDict, converter=_frozen_object)
    cache_control: CacheControl | None = _cache()
    caller: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


def _result_content(value: Any) -> str | tuple[Block, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, BLOCK_CLASSES):
        return (value,)
    blocks = tuple(value)
    for block in blocks:
        if not isinstance(block, BLOCK_CLASSES):
            raise TypeError(f"tool_result content must hold blocks, got {type(block).__name__}")
    return blocks


@frozen
class ToolResultBlock:
    """``{"type": "tool_result", "tool_use_id", "content"?, "is_error"?}`` (user turns)."""

    TYPE: ClassVar[str] = "tool_result"
    tool_use_id: str = field(validator=_str)
    content: str | tuple[Block, ...] | None = field(default=None, converter=_result_content)
    is_error: bool | None = field(default=None, kw_only=True)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


# -- thinking ----------------------------------------------------------------


@frozen
class ThinkingBlock:
    """Extended thinking, kept byte for byte: the signature covers it."""

    TYPE: ClassVar[str] = "thinking"
    thinking: str = field(validator=_str)
    signature: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class RedactedThinkingBlock:
    """Encrypted thinking; ``data`` is opaque and must come back unchanged."""

    TYPE: ClassVar[str] = "redacted_thinking"
    data: str = field(validator=_str)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


# -- server tools (run by the API inside the assistant turn) ------------------


@frozen
class ServerToolUseBlock:
    """``{"type": "server_tool_use", "id": "srvtoolu_...", "name", "input"}``.

    A call the API runs itself (web search, code execution...); its result
    is a ``*_tool_result`` block later in the same assistant turn, never a
    client ``tool_result``.
    """

    TYPE: ClassVar[str] = "server_tool_use"
    id: str = field(validator=_str)
    name: str = field(validator=_str)
    input: FrozenDict = field(factory=FrozenDict, converter=_frozen_object)
    cache_control: CacheControl | None = _cache()
    caller: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class ServerToolResultBlock:
    """The common shape of every server tool result: ``tool_use_id`` names the
    ``server_tool_use`` it answers; ``content`` (a result or an error object)
    is kept as JSON.  Use the concrete subclasses."""

    TYPE: ClassVar[str] = ""
    tool_use_id: str = field(validator=_str)
    content: Any = field(converter=freeze)
    cache_control: CacheControl | None = _cache()
    caller: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class WebSearchToolResultBlock(ServerToolResultBlock):
    """``web_search_tool_result``: results of a ``web_search`` call."""

    TYPE: ClassVar[str] = "web_search_tool_result"


@frozen
class WebFetchToolResultBlock(ServerToolResultBlock):
    """``web_fetch_tool_result``: the page a ``web_fetch`` call read."""

    TYPE: ClassVar[str] = "web_fetch_tool_result"


@frozen
class CodeExecutionToolResultBlock(ServerToolResultBlock):
    """``code_execution_tool_result``: output of a ``code_execution`` call."""

    TYPE: ClassVar[str] = "code_execution_tool_result"


@frozen
class BashCodeExecutionToolResultBlock(ServerToolResultBlock):
    """``bash_code_execution_tool_result``: output of a ``bash_code_execution`` call."""

    TYPE: ClassVar[str] = "bash_code_execution_tool_result"


@frozen
class TextEditorCodeExecutionToolResultBlock(ServerToolResultBlock):
    """``text_editor_code_execution_tool_result``: a ``text_editor_code_execution`` result."""

    TYPE: ClassVar[str] = "text_editor_code_execution_tool_result"


@frozen
class ToolSearchToolResultBlock(ServerToolResultBlock):
    """``tool_search_tool_result``: the tools a tool-search call found."""

    TYPE: ClassVar[str] = "tool_search_tool_result"


@frozen
class AdvisorToolResultBlock(ServerToolResultBlock):
    """``advisor_tool_result``: the advisor tool's answer (beta)."""

    TYPE: ClassVar[str] = "advisor_tool_result"


@frozen
class MCPToolUseBlock:
    """``{"type": "mcp_tool_use", "id", "name", "server_name", "input"}``: a call
    the API makes to an MCP server (MCP connector)."""

    TYPE: ClassVar[str] = "mcp_tool_use"
    id: str = field(validator=_str)
    name: str = field(validator=_str)
    server_name: str = field(validator=_str)
    input: FrozenDict = field(factory=FrozenDict, converter=_frozen_object)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class MCPToolResultBlock:
    """``{"type": "mcp_tool_result", "tool_use_id", "content", "is_error"}``;
    ``content`` (a string or text blocks) is kept as JSON."""

    TYPE: ClassVar[str] = "mcp_tool_result"
    tool_use_id: str = field(validator=_str)
    content: Any = field(default=None, converter=_frozen_json)
    is_error: bool | None = field(default=None, kw_only=True)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


# -- context management ----------------------------------------------------------


@frozen
class CompactionBlock:
    """``{"type": "compaction", "content": summary | null, ...}``: a summary that
    stands for the history before it.  Send it back unchanged; ``content``
    ``None`` marks a failed compaction (the server treats it as a no-op)."""

    TYPE: ClassVar[str] = "compaction"
    content: str | None = field(default=None, validator=_opt_str)
    encrypted_content: str | None = field(default=None, kw_only=True, validator=_opt_str)
    signature: str | None = field(default=None, kw_only=True, validator=_opt_str)
    tool_changes: FrozenList | None = field(default=None, kw_only=True, converter=_frozen_json)
    cache_control: CacheControl | None = _cache()
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class FallbackBlock:
    """``{"type": "fallback", "from": {...}, "to": {...}}``: the point in an
    assistant turn where a fallback model took over.  Keep it in place."""

    TYPE: ClassVar[str] = "fallback"
    JSON_NAMES: ClassVar[Mapping[str, str]] = FrozenDict({"from_": "from"})
    from_: FrozenDict = field(converter=_frozen_object)
    to: FrozenDict = field(converter=_frozen_object)
    trigger: Any = field(default=None, kw_only=True, converter=_frozen_json)
    extra: FrozenDict = _extra()
    key_order: tuple[str, ...] | None = _order()


@frozen
class UnknownBlock:
    """A block whose ``type`` convo does not know, kept exactly as received.

    ``raw`` is the block's JSON object (read-only).  It is sent back as is.
    A known ``type`` never becomes an ``UnknownBlock``, whatever fields it has.
    """

    TYPE: ClassVar[str] = ""
    raw: FrozenDict = field(converter=_frozen_object, validator=lambda _, __, v: _unknown_type(v))

    @property
    def type(self) -> str | None:
        """The block's ``type`` field, if it has a string one."""
        value = self.raw.get("type")
        return value if isinstance(value, str) else None


def _unknown_type(raw: FrozenDict) -> None:
    kind = raw.get("type")
    if isinstance(kind, str) and kind in BLOCK_TYPES:
        raise ValueError(
            f"{kind!r} is a known block type: read it with convo.codec.block_from_json "
            f"(it gives a {BLOCK_TYPES[kind].__name__})"
        )


Block = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | SearchResultBlock
    | ToolReferenceBlock
    | ContainerUploadBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ServerToolUseBlock
    | ServerToolResultBlock
    | MCPToolUseBlock
    | MCPToolResultBlock
    | CompactionBlock
    | FallbackBlock
    | UnknownBlock
)

SERVER_TOOL_RESULT_BLOCKS: tuple[type[ServerToolResultBlock], ...] = (
    WebSearchToolResultBlock,
    WebFetchToolResultBlock,
    CodeExecutionToolResultBlock,
    BashCodeExecutionToolResultBlock,
    TextEditorCodeExecutionToolResultBlock,
    ToolSearchToolResultBlock,
    AdvisorToolResultBlock,
)
"""The server tool result classes (each answers a ``server_tool_use``)."""

SERVER_TOOL_BLOCKS: tuple[type[Any], ...] = (ServerToolUseBlock, ServerToolResultBlock)
"""Blocks of tools the API runs itself (``isinstance`` checks)."""

MCP_TOOL_BLOCKS: tuple[type[Any], ...] = (MCPToolUseBlock, MCPToolResultBlock)
"""Blocks of MCP connector calls (``isinstance`` checks)."""

BLOCK_CLASSES: tuple[type[Any], ...] = (
    TextBlock,
    ImageBlock,
    DocumentBlock,
    SearchResultBlock,
    ToolReferenceBlock,
    ContainerUploadBlock,
    ToolUseBlock,
    ToolResultBlock,
    ThinkingBlock,
    RedactedThinkingBlock,
    ServerToolUseBlock,
    ServerToolResultBlock,
    MCPToolUseBlock,
    MCPToolResultBlock,
    CompactionBlock,
    FallbackBlock,
    UnknownBlock,
)

BLOCK_TYPES: Mapping[str, type[Any]] = FrozenDict(
    {
        cls.TYPE: cls
        for cls in (*BLOCK_CLASSES, *SERVER_TOOL_RESULT_BLOCKS)
        if cls not in (UnknownBlock, ServerToolResultBlock)
    }
)
"""The block classes convo models, by their API ``type`` tag."""


def block_types(blocks: Iterable[Any]) -> tuple[str, ...]:
    """The API ``type`` of each block (``UnknownBlock``'s raw type, or ``""``)."""
    return tuple(
        (b.type or "") if isinstance(b, UnknownBlock) else type(b).TYPE for b in blocks
    )


Role = Literal["user", "assistant", "system"]

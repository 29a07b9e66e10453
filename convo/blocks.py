"""Content blocks, named as the Messages API names them.

Every block is a frozen attrs value whose fields hold only immutable data
(JSON objects inside blocks are ``FrozenDict``).  A block the library
understands is a typed class; anything else (a block type added to the API
after this release, or a known type carrying a field we do not model) is an
``UnknownBlock`` that keeps the raw JSON unchanged, so a response from a
newer API round-trips.

Optional fields default to ``None``, meaning "absent from the JSON": an
explicit ``"is_error": false`` therefore survives a round trip.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs
from attrs import field, frozen

from convo._frozen import FrozenDict, FrozenList, freeze
from convo.errors import RuleError
from convo.images import SUPPORTED_IMAGE_TYPES, sniff_media_type
from convo.inputs import check_nested_blocks, text_field

__all__ = [
    "BLOCK_TYPES",
    "Base64ImageSource",
    "Base64PDFSource",
    "Block",
    "CacheControl",
    "DocumentBlock",
    "ImageBlock",
    "ImageSource",
    "DocumentSource",
    "PlainTextSource",
    "RedactedThinkingBlock",
    "TextBlock",
    "ThinkingBlock",
    "ToolResultBlock",
    "ToolUseBlock",
    "URLImageSource",
    "URLPDFSource",
    "UnknownBlock",
]


def _frozen_json(value: Any) -> Any:
    return None if value is None else freeze(value)


def _frozen_object(value: Any) -> FrozenDict:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    result: FrozenDict = freeze(value)
    return result


@frozen
class CacheControl:
    """A prompt-cache breakpoint: ``{"type": "ephemeral", "ttl"?: "5m" | "1h"}``."""

    type: str = field(default="ephemeral", validator=attrs.validators.instance_of(str))
    ttl: str | None = field(default=None)


_str = text_field  # a str without lone surrogates: the input policy (convo.inputs)
_opt_cache = attrs.validators.optional(attrs.validators.instance_of(CacheControl))


@frozen
class TextBlock:
    """``{"type": "text", "text": ...}``; ``citations`` is kept as raw JSON."""

    TYPE: ClassVar[str] = "text"
    text: str = field(validator=_str)
    cache_control: CacheControl | None = field(default=None, kw_only=True, validator=_opt_cache)
    citations: FrozenList | None = field(default=None, kw_only=True, converter=_frozen_json)


@frozen
class Base64ImageSource:
    """An image carried inline as base64."""

    TYPE: ClassVar[str] = "base64"
    media_type: str = field(validator=_str)
    data: str = field(validator=_str)


@frozen
class URLImageSource:
    """An image the API fetches from a URL."""

    TYPE: ClassVar[str] = "url"
    url: str = field(validator=_str)


ImageSource = Base64ImageSource | URLImageSource


@frozen
class ImageBlock:
    """``{"type": "image", "source": ...}``.

    Build one from real bytes with ``from_bytes``/``from_path``: the media
    type is sniffed from the magic bytes, never trusted from a file name.
    """

    TYPE: ClassVar[str] = "image"
    source: ImageSource = field(
        validator=attrs.validators.instance_of((Base64ImageSource, URLImageSource))
    )
    cache_control: CacheControl | None = field(default=None, kw_only=True, validator=_opt_cache)

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

    def decoded(self) -> bytes | None:
        """The image bytes for a base64 source (``None`` for a URL).

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
class Base64PDFSource:
    """A PDF carried inline as base64."""

    TYPE: ClassVar[str] = "base64"
    data: str = field(validator=_str)
    media_type: str = field(default="application/pdf", validator=_str)


@frozen
class PlainTextSource:
    """A plain-text document."""

    TYPE: ClassVar[str] = "text"
    data: str = field(validator=_str)
    media_type: str = field(default="text/plain", validator=_str)


@frozen
class URLPDFSource:
    """A PDF the API fetches from a URL."""

    TYPE: ClassVar[str] = "url"
    url: str = field(validator=_str)


DocumentSource = Base64PDFSource | PlainTextSource | URLPDFSource


@frozen
class DocumentBlock:
    """``{"type": "document", "source": ...}`` (PDF or plain text)."""

    TYPE: ClassVar[str] = "document"
    source: DocumentSource = field(
        validator=attrs.validators.instance_of((Base64PDFSource, PlainTextSource, URLPDFSource))
    )
    title: str | None = field(default=None, kw_only=True)
    context: str | None = field(default=None, kw_only=True)
    citations: FrozenDict | None = field(default=None, kw_only=True, converter=_frozen_json)
    cache_control: CacheControl | None = field(default=None, kw_only=True, validator=_opt_cache)


@frozen
class ToolUseBlock:
    """``{"type": "tool_use", "id", "name", "input": {...}}`` (assistant turns)."""

    TYPE: ClassVar[str] = "tool_use"
    id: str = field(validator=_str)
    name: str = field(validator=_str)
    input: FrozenDict = field(factory=FrozenDict, converter=_frozen_object)
    cache_control: CacheControl | None = field(default=None, kw_only=True, validator=_opt_cache)


def _result_content(value: Any) -> str | tuple[Block, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, BLOCK_CLASSES):
        return (value,)
    blocks = tuple(value)
    for block in blocks:
        if not isinstance(block, BLOCK_CLASSES):
            raise TypeError(f"tool_result content must hold blocks, got {type(block).__name__}")
    check_nested_blocks(blocks)  # the input policy (convo.inputs): no chain past MAX_DEPTH
    return blocks


@frozen
class ToolResultBlock:
    """``{"type": "tool_result", "tool_use_id", "content"?, "is_error"?}`` (user turns)."""

    TYPE: ClassVar[str] = "tool_result"
    tool_use_id: str = field(validator=_str)
    content: str | tuple[Block, ...] | None = field(default=None, converter=_result_content)
    is_error: bool | None = field(default=None, kw_only=True)
    cache_control: CacheControl | None = field(default=None, kw_only=True, validator=_opt_cache)


@frozen
class ThinkingBlock:
    """Extended thinking, kept byte for byte: the signature covers it."""

    TYPE: ClassVar[str] = "thinking"
    thinking: str = field(validator=_str)
    signature: str = field(validator=_str)


@frozen
class RedactedThinkingBlock:
    """Encrypted thinking; ``data`` is opaque and must come back unchanged."""

    TYPE: ClassVar[str] = "redacted_thinking"
    data: str = field(validator=_str)


@frozen
class UnknownBlock:
    """A block convo does not model, kept exactly as received.

    ``raw`` is the block's JSON object (read-only).  It is sent back as is.
    """

    TYPE: ClassVar[str] = ""
    raw: FrozenDict = field(converter=_frozen_object)

    @property
    def type(self) -> str | None:
        """The block's ``type`` field, if it has a string one."""
        value = self.raw.get("type")
        return value if isinstance(value, str) else None


Block = (
    TextBlock
    | ImageBlock
    | DocumentBlock
    | ToolUseBlock
    | ToolResultBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | UnknownBlock
)

BLOCK_CLASSES: tuple[type[Any], ...] = (
    TextBlock,
    ImageBlock,
    DocumentBlock,
    ToolUseBlock,
    ToolResultBlock,
    ThinkingBlock,
    RedactedThinkingBlock,
    UnknownBlock,
)

BLOCK_TYPES: Mapping[str, type[Any]] = FrozenDict(
    {cls.TYPE: cls for cls in BLOCK_CLASSES if cls is not UnknownBlock}
)
"""The block classes convo models, by their API ``type`` tag."""

Role = Literal["user", "assistant"]

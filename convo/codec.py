"""JSON <-> content blocks, messages and responses.

A private cattrs converter (never the global one) reads and writes the
known block classes.  The open block union is hand-rolled (cattrs' tagged
union helpers rewrite the tag and drop unknown keys):

* a known ``type`` is structured strictly, with extra keys forbidden and
  primitives checked (no silent ``5 -> "5"``);
* an unknown ``type``, an extra field anywhere inside a known block, or a
  field the library would not write back identically (an explicit
  ``null``), makes the whole block an ``UnknownBlock`` holding the raw JSON.

So a block is either understood exactly or kept verbatim.  Malformed input
(a known block missing a required field, a wrong JSON type) raises
``CodecError`` with the JSON path of the problem.

This module sits right above ``blocks``: turns use it to compute their
canonical form, and ``Conversation.from_payload`` to read payloads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from convo._frozen import FrozenDict, FrozenList, freeze
from convo.blocks import (
    BLOCK_TYPES,
    Base64ImageSource,
    Base64PDFSource,
    Block,
    CacheControl,
    PlainTextSource,
    TextBlock,
    ToolResultBlock,
    UnknownBlock,
    URLImageSource,
    URLPDFSource,
)
from convo.errors import CodecError
from convo.inputs import DOCUMENT_ENVELOPE, accepts_json

__all__ = [
    "CONVERTER",
    "block_from_json",
    "block_to_json",
    "content_from_json",
    "content_to_json",
    "make_converter",
    "split_response",
]

_IMAGE_SOURCES: dict[str, type[Any]] = {"base64": Base64ImageSource, "url": URLImageSource}
_DOCUMENT_SOURCES: dict[str, type[Any]] = {
    "base64": Base64PDFSource,
    "text": PlainTextSource,
    "url": URLPDFSource,
}
_SOURCE_CLASSES = (
    Base64ImageSource,
    URLImageSource,
    Base64PDFSource,
    PlainTextSource,
    URLPDFSource,
)


class _UnknownShape(Exception):
    """Internal: the JSON is well formed but not a shape we model exactly."""


def _strict(kind: type[Any]) -> Any:
    def hook(value: Any, _: Any) -> Any:
        # bool is an int subclass: reject it where a number is expected.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return hook


def _frozen_dict_hook(value: Any, _: Any) -> FrozenDict:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    result: FrozenDict = freeze(value)
    return result


def _frozen_list_hook(value: Any, _: Any) -> FrozenList:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    result: FrozenList = freeze(value)
    return result


def _source_hook(table: dict[str, type[Any]], converter: cattrs.Converter) -> Any:
    def hook(value: Any, _: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        kind = value.get("type")
        # An unhashable type (a list) is as unknown as any other non-string.
        cls = table.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise _UnknownShape
        body = {k: v for k, v in value.items() if k != "type"}
        return converter.structure(body, cls)

    return hook


def _result_content_hook(value: Any, _: Any) -> Any:
    # Nested blocks were parsed (with their own paths) before cattrs ran.
    return value


def make_converter() -> cattrs.Converter:
    """A fresh converter configured for convo's block classes."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, bool, int):
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook(float, _strict_number)
    conv.register_structure_hook(FrozenDict, _frozen_dict_hook)
    conv.register_structure_hook(FrozenList, _frozen_list_hook)
    conv.register_structure_hook_func(
        lambda t: t == (Base64ImageSource | URLImageSource), _source_hook(_IMAGE_SOURCES, conv)
    )
    conv.register_structure_hook_func(
        lambda t: t == (Base64PDFSource | PlainTextSource | URLPDFSource),
        _source_hook(_DOCUMENT_SOURCES, conv),
    )
    conv.register_structure_hook_func(
        lambda t: t == (str | tuple[Block, ...] | None), _result_content_hook
    )
    # Leaves first: a class's generated hook binds the hooks of its fields.
    for cls in (CacheControl, *_SOURCE_CLASSES, *BLOCK_TYPES.values()):
        attrs.resolve_types(cls)
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv))
        # Omit only fields that are absent (None); fields with real defaults
        # (e.g. ``media_type``, ``input``) are always written.
        overrides: dict[str, Any] = {
            f.name: override(omit_if_default=f.default is None) for f in attrs.fields(cls)
        }
        unstructure: Any = make_dict_unstructure_fn(
            cls, conv, _cattrs_omit_if_default=True, **overrides
        )
        conv.register_unstructure_hook(cls, _tagged(cls, unstructure))
    return conv


def _strict_number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return value


def _tagged(cls: type[Any], inner: Any) -> Any:
    tag = getattr(cls, "TYPE", None)
    if tag is None or cls is CacheControl:
        return inner

    def hook(obj: Any) -> dict[str, Any]:
        return {"type": tag, **inner(obj)}

    return hook


CONVERTER = make_converter()
"""The converter convo uses; build your own with ``make_converter()``."""


def block_to_json(block: Block) -> FrozenDict:
    """The block's JSON object, as the API expects it (read-only)."""
    if isinstance(block, UnknownBlock):
        return block.raw
    if type(block) is TextBlock and block.cache_control is None and block.citations is None:
        # The common case, kept off the generic path: appends are hot.
        return FrozenDict({"type": "text", "text": block.text})
    if isinstance(block, ToolResultBlock) and isinstance(block.content, tuple):
        data = CONVERTER.unstructure(attrs.evolve(block, content=None))
        data["content"] = [block_to_json(b) for b in block.content]
        if block.content == () and "content" not in data:  # pragma: no cover
            data["content"] = []
        result: FrozenDict = freeze(_reorder(data, ToolResultBlock))
        return result
    frozen: FrozenDict = freeze(CONVERTER.unstructure(block))
    return frozen


def _reorder(data: dict[str, Any], cls: type[Any]) -> dict[str, Any]:
    order = ["type", *(f.name for f in attrs.fields(cls))]
    return {k: data[k] for k in order if k in data}


@accepts_json("data", path_param="path")  # the input policy (convo.inputs)
def block_from_json(data: Any, path: str = "$") -> Block:
    """Read one block; unknown shapes become ``UnknownBlock``.

    Raises:
        CodecError: the JSON is not an object, or a known block is malformed.
    """
    if not isinstance(data, Mapping):
        raise CodecError(f"a content block must be an object, got {type(data).__name__}", path=path)
    kind = data.get("type")
    cls = BLOCK_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        if not isinstance(kind, str):
            raise CodecError("a content block needs a string 'type'", path=f"{path}.type")
        return UnknownBlock(data)
    body = {k: v for k, v in data.items() if k != "type"}
    if cls is ToolResultBlock and isinstance(body.get("content"), list):
        body["content"] = tuple(
            block_from_json(item, f"{path}.content[{i}]") for i, item in enumerate(body["content"])
        )
    try:
        block: Block = CONVERTER.structure(body, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        if _has(exc, (ForbiddenExtraKeysError, _UnknownShape)):
            return UnknownBlock(data)
        errors = cattrs.transform_error(exc, path=path)
        message, _, where = errors[0].rpartition(" @ ")
        raise CodecError(f"malformed {kind!r} block: {message}", path=where, errors=errors) from None
    except (ForbiddenExtraKeysError, _UnknownShape):
        return UnknownBlock(data)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"malformed {kind!r} block: {exc}", path=path) from None
    if block_to_json(block) != data or not _same_types(block_to_json(block), data):
        # Something (an explicit null, say) would not be written back as it
        # came: keep the block verbatim rather than alter it.
        return UnknownBlock(data)
    return block


def _has(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    if isinstance(exc, kinds):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return any(_has(sub, kinds) for sub in exc.exceptions)
    return False


def _same_types(a: Any, b: Any) -> bool:
    # ``True == 1`` and ``1 == 1.0`` in Python; JSON tells them apart.
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b)
    if isinstance(a, Mapping):
        return all(_same_types(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return isinstance(a, float) == isinstance(b, float)


@accepts_json("content", path_param="path")  # the input policy (convo.inputs)
def content_from_json(content: Any, path: str = "$") -> tuple[Block, ...]:
    """Read a message's ``content`` (a string or an array of blocks)."""
    if isinstance(content, str):
        return (TextBlock(content),)
    if not isinstance(content, (list, tuple)):
        raise CodecError(
            f"content must be a string or an array of blocks, got {type(content).__name__}",
            path=path,
        )
    return tuple(block_from_json(item, f"{path}[{i}]") for i, item in enumerate(content))


def content_to_json(blocks: Sequence[Block]) -> FrozenList:
    """The JSON array form of a block sequence (read-only)."""
    return FrozenList([block_to_json(b) for b in blocks])


def dumps(value: Any) -> str:
    """Compact JSON text that keeps key order (what the store writes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_RESPONSE_SKIP = frozenset({"content", "role", "type"})


@accepts_json("response", envelope=DOCUMENT_ENVELOPE)  # the input policy (convo.inputs)
def split_response(response: Any) -> tuple[tuple[Block, ...], FrozenDict]:
    """Split a Messages API response into its content blocks and its meta
    (every other top-level field: id, model, stop_reason, usage, ...).

    Raises:
        CodecError: the response is not a message object.
    """
    if not isinstance(response, Mapping):
        raise CodecError(f"a response must be an object, got {type(response).__name__}")
    if response.get("type", "message") != "message":
        raise CodecError(f"expected a message, got type {response.get('type')!r}", path="$.type")
    if response.get("role", "assistant") != "assistant":
        raise CodecError(f"a response must be an assistant message, got role {response.get('role')!r}", path="$.role")
    if "content" not in response:
        raise CodecError("a response needs 'content'", path="$.content")
    content = response["content"]
    if not isinstance(content, (list, tuple)):
        raise CodecError("response content must be an array", path="$.content")
    blocks = content_from_json(content, "$.content")
    meta: FrozenDict = freeze({k: v for k, v in response.items() if k not in _RESPONSE_SKIP})
    return blocks, meta


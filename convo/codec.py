"""JSON <-> content blocks, messages and responses.

A private cattrs converter (never the global one) reads the typed fields of
the known block classes; the open world around them is hand-rolled (cattrs'
tagged-union helpers rewrite the tag and drop unknown keys):

* a known ``type`` is always read into its class.  Its modelled fields are
  structured strictly (primitives checked: no silent ``5 -> "5"``); every
  other key, and an explicit ``null`` in an optional field, goes to the
  block's ``extra``; the order of the keys goes to ``key_order``.  Writing
  the block gives back the same keys, in the same order, with the same
  values (checked on every read: a block that would not round-trip raises);
* only an unknown ``type`` makes an ``UnknownBlock`` holding the raw JSON
  (an unknown *source* type inside a known block makes an ``UnknownSource``).

Malformed input (a known block missing a required field, a wrong JSON type
of a modelled field) raises ``CodecError`` with the JSON path of the problem.

Objects from the official SDK (or any object with ``to_dict()`` or
``model_dump()``) are read through that method (``as_json``): convo never
imports the SDK.

This module sits right above ``blocks``: turns use it to compute their
canonical form, and ``Conversation.from_payload`` to read payloads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn

from convo._frozen import FrozenDict, FrozenList, freeze
from convo.blocks import (
    BLOCK_TYPES,
    DOCUMENT_SOURCES,
    IMAGE_SOURCES,
    Block,
    CacheControl,
    DocumentBlock,
    ImageBlock,
    SearchResultBlock,
    TextBlock,
    ToolResultBlock,
    UnknownBlock,
    UnknownSource,
    modelled_fields,
)
from convo.errors import CodecError
from convo.inputs import DOCUMENT_ENVELOPE, accepts_json, as_json

__all__ = [
    "CONVERTER",
    "as_json",
    "block_from_json",
    "block_to_json",
    "content_from_json",
    "content_to_json",
    "make_converter",
    "split_response",
]

_SOURCE_CLASSES: tuple[type[Any], ...] = tuple(
    dict.fromkeys([*IMAGE_SOURCES.values(), *DOCUMENT_SOURCES.values()])
)


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


def _parsed(value: Any, _: Any) -> Any:
    # Nested parts (sources, cache_control, inner blocks) were read, with
    # their own paths, before cattrs ran.
    return value


def _is_parsed_part(t: Any) -> bool:
    fields = {f.type for cls in (ImageBlock, DocumentBlock, ToolResultBlock, SearchResultBlock)
              for f in attrs.fields(cls) if f.name in ("source", "content")}
    return t in fields or t == (CacheControl | None)


def make_converter() -> cattrs.Converter:
    """A fresh converter configured for convo's block classes."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind in (str, bool, int):
        conv.register_structure_hook(kind, _strict(kind))
    conv.register_structure_hook(float, _strict_number)
    conv.register_structure_hook(FrozenDict, _frozen_dict_hook)
    conv.register_structure_hook(FrozenList, _frozen_list_hook)
    conv.register_structure_hook_func(_is_parsed_part, _parsed)
    conv.register_structure_hook(tuple[str, ...] | None, _parsed)
    classes: tuple[type[Any], ...] = (CacheControl, *_SOURCE_CLASSES, *BLOCK_TYPES.values())
    for cls in classes:
        attrs.resolve_types(cls)
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv))
    return conv


def _strict_number(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return value


CONVERTER = make_converter()
"""The converter convo uses to read typed fields; build your own with ``make_converter()``."""


# -- writing -------------------------------------------------------------------


def _write_value(value: Any) -> Any:
    if isinstance(value, UnknownSource):
        return value.raw
    if isinstance(value, tuple):
        return FrozenList([block_to_json(b) for b in value])
    if attrs.has(type(value)):
        return _write(value)
    return value


def _write(obj: Any) -> FrozenDict:
    cls = type(obj)
    tag = getattr(cls, "TYPE", None)
    values: dict[str, Any] = {}
    for name, key in modelled_fields(cls):
        value = getattr(obj, name)
        if value is not None:
            values[key] = value
    extra: FrozenDict = obj.extra
    order: tuple[str, ...] | None = obj.key_order
    out: dict[str, Any] = {}
    if order is None:
        if tag is not None:
            out["type"] = tag
        for key, value in values.items():
            out[key] = _write_value(value)
        out.update(extra)
        return FrozenDict(out)
    for key in order:
        if key == "type" and tag is not None:
            out["type"] = tag
        elif key in values:
            out[key] = _write_value(values.pop(key))
        elif key in extra:
            out[key] = extra[key]
    if tag is not None and "type" not in out:
        out = {"type": tag, **out}
    if values:
        defaults = _defaults(cls)
        for key, value in values.items():
            # A default the JSON did not carry is not written back.
            if key not in order and value == defaults[key]:
                continue
            out[key] = _write_value(value)
    for key, value in extra.items():
        out.setdefault(key, value)
    return FrozenDict(out)


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def _defaults(cls: type[Any]) -> dict[str, Any]:
    """JSON key -> the default of each modelled field (``None`` if required)."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = {}
        fields = attrs.fields_dict(cls)
        for name, key in modelled_fields(cls):
            default: Any = fields[name].default
            factory = getattr(default, "factory", None)
            found[key] = factory() if callable(factory) else (
                None if default is attrs.NOTHING else default
            )
        _DEFAULTS[cls] = found
    return found


_OPTIONAL: dict[type[Any], frozenset[str]] = {}


def _optional(cls: type[Any]) -> frozenset[str]:
    """The attributes whose default is ``None`` (an explicit null is theirs to keep)."""
    found = _OPTIONAL.get(cls)
    if found is None:
        found = frozenset(f.name for f in attrs.fields(cls) if f.default is None)
        _OPTIONAL[cls] = found
    return found


def block_to_json(block: Block) -> FrozenDict:
    """The block's JSON object, as the API expects it (read-only)."""
    if isinstance(block, UnknownBlock):
        return block.raw
    if (
        type(block) is TextBlock
        and block.cache_control is None
        and block.citations is None
        and not block.extra
        and (block.key_order is None or block.key_order == ("type", "text"))
    ):
        # The common case, kept off the generic path: appends are hot.
        return FrozenDict({"type": "text", "text": block.text})
    return _write(block)


# -- reading -------------------------------------------------------------------


def _fail(message: str, path: str) -> CodecError:
    return CodecError(message, path=path)


def _read(cls: type[Any], data: Mapping[str, Any], path: str) -> Any:
    """Read a JSON object into ``cls``: typed fields, ``extra``, ``key_order``."""
    tagged = hasattr(cls, "TYPE")
    optional = _optional(cls)
    by_key = _by_key(cls)
    body: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise _fail(f"object keys must be strings, got {type(key).__name__}", path)
        if key == "type" and tagged:
            continue
        name = by_key.get(key)
        if name is None:
            extra[key] = value
        elif value is None and name in optional:
            extra[key] = None  # an explicit null: kept, the typed field stays None
        else:
            body[name] = _nested(cls, name, value, f"{path}.{key}")
    body["extra"] = extra
    body["key_order"] = tuple(data)
    try:
        return CONVERTER.structure(body, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        errors = cattrs.transform_error(exc, path=path)
        message, _, where = errors[0].rpartition(" @ ")
        for name, key in modelled_fields(cls):
            if name != key and where.startswith(f"{path}.{name}"):
                # cattrs names the attribute; the JSON path names the key.
                where = f"{path}.{key}{where[len(path) + len(name) + 1:]}"
        kind = getattr(cls, "TYPE", "") or cls.__name__
        raise CodecError(f"malformed {kind!r}: {message}", path=where, errors=errors) from None
    except (TypeError, ValueError) as exc:
        kind = getattr(cls, "TYPE", "") or cls.__name__
        raise CodecError(f"malformed {kind!r}: {exc}", path=path) from None


_BY_KEY: dict[type[Any], dict[str, str]] = {}


def _by_key(cls: type[Any]) -> dict[str, str]:
    found = _BY_KEY.get(cls)
    if found is None:
        found = {key: name for name, key in modelled_fields(cls)}
        _BY_KEY[cls] = found
    return found


def _nested(cls: type[Any], name: str, value: Any, path: str) -> Any:
    if name == "cache_control":
        return _object(CacheControl, value, path)
    if name == "source" and cls in (ImageBlock, DocumentBlock):
        value = as_json(value)
        if not isinstance(value, Mapping):
            raise _fail(f"a source must be an object, got {type(value).__name__}", path)
        table = IMAGE_SOURCES if cls is ImageBlock else DOCUMENT_SOURCES
        kind = value.get("type")
        if not isinstance(kind, str):
            raise _fail("a source needs a string 'type'", f"{path}.type")
        source_cls = table.get(kind)
        return UnknownSource(value) if source_cls is None else _read(source_cls, value, path)
    if name == "content" and cls in (ToolResultBlock, SearchResultBlock):
        value = as_json(value)
        if not isinstance(value, (list, tuple)):
            if cls is ToolResultBlock and isinstance(value, str):
                return value
            raise _fail(f"content must be an array of blocks, got {type(value).__name__}", path)
        inner = tuple(block_from_json(item, f"{path}[{i}]") for i, item in enumerate(value))
        if cls is SearchResultBlock:
            for i, block in enumerate(inner):
                if not isinstance(block, TextBlock):
                    raise _fail("search_result content holds text blocks only", f"{path}[{i}]")
        return inner
    return value


def _object(cls: type[Any], value: Any, path: str) -> Any:
    value = as_json(value)
    if not isinstance(value, Mapping):
        raise _fail(f"expected an object, got {type(value).__name__}", path)
    return _read(cls, value, path)


@accepts_json("data", path_param="path")  # the input policy (convo.inputs)
def block_from_json(data: Any, path: str = "$") -> Block:
    """Read one block (a JSON object, or an SDK block object).

    A known ``type`` always gives its typed class (extra fields kept); an
    unknown ``type`` gives an ``UnknownBlock``.

    Raises:
        CodecError: the JSON is not an object, a known block is malformed,
            or (never expected) it would not be written back identically.
    """
    data = as_json(data)
    if not isinstance(data, Mapping):
        raise CodecError(f"a content block must be an object, got {type(data).__name__}", path=path)
    kind = data.get("type")
    if not isinstance(kind, str):
        raise CodecError("a content block needs a string 'type'", path=f"{path}.type")
    cls = BLOCK_TYPES.get(kind)
    if cls is None:
        return UnknownBlock(data)
    data = _api_names(cls, data)
    block: Block = _read(cls, data, path)
    if not _identical(block_to_json(block), data):
        raise CodecError(f"the {kind!r} block would not be sent back as received", path=path)
    return block


def _api_names(cls: type[Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data`` with the SDK's field name for a key that is a Python keyword
    (``from_``, what ``model_dump()`` writes without ``by_alias``) read as the
    API's (``from``), in place: the SDK's model means exactly that key, and
    the API refuses the other spelling.  Only where the API's key is absent,
    so nothing that was sent is dropped."""
    names: Mapping[str, str] = getattr(cls, "JSON_NAMES", {})
    for attribute, key in names.items():
        if attribute in data and key not in data:
            data = {(key if k == attribute else k): v for k, v in data.items()}
    return data


def _identical(a: Any, b: Any) -> bool:
    """Equal as JSON bytes: same keys in the same order, same types
    (``True == 1`` and ``1 == 1.0`` in Python; JSON tells them apart)."""
    if isinstance(a, dict):
        if not isinstance(b, Mapping) or list(a) != list(b):
            return False
        return all(_identical(v, b[k]) for k, v in a.items())
    if isinstance(a, (list, tuple)):
        if not isinstance(b, (list, tuple)) or len(a) != len(b):
            return False
        return all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, float) != isinstance(b, float):
        return False
    return bool(a == b)


@accepts_json("content", path_param="path")  # the input policy (convo.inputs)
def content_from_json(content: Any, path: str = "$") -> tuple[Block, ...]:
    """Read a message's ``content`` (a string or an array of blocks)."""
    content = as_json(content)
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


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
"""``json.dumps`` with these options builds a new encoder on every call
(about a third of the cost of encoding a short turn): one, kept."""


def dumps(value: Any) -> str:
    """Compact JSON text that keeps key order (what the store writes)."""
    return _encode(value)


_RESPONSE_SKIP = frozenset({"content", "role", "type"})


@accepts_json("response", envelope=DOCUMENT_ENVELOPE)  # the input policy (convo.inputs)
def split_response(response: Any) -> tuple[tuple[Block, ...], FrozenDict]:
    """Split a Messages API response into its content blocks and its meta
    (every other top-level field: id, model, stop_reason, usage, ...).

    Raises:
        CodecError: the response is not a message object.
    """
    response = as_json(response)
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


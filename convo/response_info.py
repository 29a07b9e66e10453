"""Typed views of a model turn's meta: :class:`ResponseInfo` and :class:`Usage`.

``Turn.meta`` keeps every top-level field of the response as the API sent
it (a read-only dict: right for saving, awkward for ``mypy --strict``).
``turn.info`` (or :func:`response_info`) reads the fields a program acts on
into frozen, typed values: the response ``id``, ``model``, ``stop_reason``,
``stop_sequence``, the ``request_id`` of the HTTP exchange, and ``usage``.
The meta itself is never changed; fields without an attribute here stay in
``info.meta`` and ``usage.raw``.

A field that is absent (a user turn, an older row) reads as ``None``; one
that is present with the wrong JSON type raises ``CodecError`` with its
path, rather than being guessed at.  For a reply joined to a prefill or a
paused turn, the view describes the last response (the earlier one is in
``meta["prefix_meta"]``).  Layer: the ground (attrs, ``_frozen``, errors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from convo._frozen import FrozenDict, freeze
from convo.errors import CodecError

__all__ = ["ResponseInfo", "Usage", "response_info"]


class _HasMeta(Protocol):
    @property
    def meta(self) -> Mapping[str, Any]: ...


def _int(source: Mapping[str, Any], key: str, path: str) -> int | None:
    value = source.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(
            f"{key} must be an integer, got {type(value).__name__}", path=f"{path}.{key}"
        )
    return value


def _str(source: Mapping[str, Any], key: str, path: str) -> str | None:
    value = source.get(key)
    if value is None or isinstance(value, str):
        return value
    raise CodecError(f"{key} must be a string, got {type(value).__name__}", path=f"{path}.{key}")


@attrs.frozen
class Usage:
    """The token counts of one response (``usage``).

    ``raw`` is the whole ``usage`` object as sent (``server_tool_use``,
    ``service_tier``, ``cache_creation`` and fields added later).
    """

    input_tokens: int | None
    output_tokens: int | None
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None
    raw: FrozenDict

    @property
    def total_input_tokens(self) -> int | None:
        """Input tokens including those written to and read from the cache
        (``None`` when ``input_tokens`` was not reported)."""
        if self.input_tokens is None:
            return None
        return (
            self.input_tokens
            + (self.cache_creation_input_tokens or 0)
            + (self.cache_read_input_tokens or 0)
        )

    @classmethod
    def from_json(cls, usage: Mapping[str, Any], path: str = "$.usage") -> Usage:
        """Read a ``usage`` object.

        Raises:
            CodecError: a count is present but not an integer.
        """
        return cls(
            input_tokens=_int(usage, "input_tokens", path),
            output_tokens=_int(usage, "output_tokens", path),
            cache_creation_input_tokens=_int(usage, "cache_creation_input_tokens", path),
            cache_read_input_tokens=_int(usage, "cache_read_input_tokens", path),
            raw=freeze(dict(usage)),
        )


@attrs.frozen
class ResponseInfo:
    """What a response said about itself, typed (see the module docstring)."""

    id: str | None
    model: str | None
    stop_reason: str | None
    stop_sequence: str | None
    request_id: str | None
    usage: Usage | None
    meta: FrozenDict = attrs.field(repr=False)  # all of it, prefix content included

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ResponseInfo:
        """Read a turn's meta (or a response body without its content).

        Raises:
            CodecError: a field is present with the wrong JSON type.
        """
        if not isinstance(meta, Mapping):
            raise CodecError(f"meta must be an object, got {type(meta).__name__}")
        usage = meta.get("usage")
        if usage is not None and not isinstance(usage, Mapping):
            raise CodecError(f"usage must be an object, got {type(usage).__name__}", path="$.usage")
        return cls(
            id=_str(meta, "id", "$"),
            model=_str(meta, "model", "$"),
            stop_reason=_str(meta, "stop_reason", "$"),
            stop_sequence=_str(meta, "stop_sequence", "$"),
            request_id=_str(meta, "request_id", "$"),
            usage=None if usage is None else Usage.from_json(usage),
            meta=meta if isinstance(meta, FrozenDict) else freeze(dict(meta)),
        )


def response_info(turn: _HasMeta) -> ResponseInfo:
    """The typed view of ``turn.meta`` (``turn.info`` is the same).

    Raises:
        CodecError: a field is present with the wrong JSON type.
    """
    return ResponseInfo.from_meta(turn.meta)

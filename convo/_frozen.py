"""Immutable JSON values: the bottom of the layer stack.

``FrozenDict`` and ``FrozenList`` subclass ``dict`` and ``list`` on purpose:
they compare equal to plain JSON values, ``json``/``orjson`` serialise them
natively, and yet every mutator raises.  That is what lets a turn hand out
its cached request form (``Turn.message``) to every payload without a copy
and without the risk of a caller editing history through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, SupportsIndex

from convo.inputs import check_json

__all__ = ["FrozenDict", "FrozenList", "JSONValue", "freeze", "thaw"]

JSONValue = Any
"""A JSON value: ``None``, bool, int, float, str, list or dict (frozen or not)."""


def _immutable(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is immutable")


class FrozenDict(dict[str, Any]):
    """A read-only, hashable ``dict`` (keys keep their insertion order)."""

    __slots__ = ("_hash",)

    _hash: int | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dict.__init__(self, *args, **kwargs)
        self._hash = None

    def __hash__(self) -> int:  # type: ignore[override]
        # Cached: conversations hash through their turns' meta and blocks.
        if self._hash is None:
            self._hash = hash(tuple(self.items()))
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        # The default dict pickling replays __setitem__, which we forbid.
        return (FrozenDict, (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __or__(self, other: Any) -> FrozenDict:  # type: ignore[override]
        return FrozenDict({**self, **other})

    __setitem__ = _immutable
    __delitem__ = _immutable
    __ior__ = _immutable
    clear = _immutable
    pop = _immutable
    popitem = _immutable
    setdefault = _immutable
    update = _immutable


class FrozenList(list[Any]):
    """A read-only, hashable ``list``."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"

    def __add__(self, other: Any) -> FrozenList:
        return FrozenList([*self, *other])

    def __setitem__(self, index: SupportsIndex | slice, value: Any) -> NoReturn:
        _immutable(self)

    __delitem__ = _immutable
    __iadd__ = _immutable
    __imul__ = _immutable
    append = _immutable
    clear = _immutable
    extend = _immutable
    insert = _immutable
    pop = _immutable
    remove = _immutable
    reverse = _immutable
    sort = _immutable


def freeze(value: Any) -> Any:
    """Return ``value`` with every dict and list (recursively) made immutable.

    Tuples become ``FrozenList`` (JSON has no tuples).  Already frozen values
    are returned as they are, so freezing twice costs one walk of the top.
    Raises:
        CodecError: ``value`` breaks convo's input policy (``convo.inputs``:
            not JSON, too deep, NaN, a lone surrogate...).
    """
    if isinstance(value, (FrozenDict, FrozenList)):
        return value
    check_json(value)  # the input policy (convo.inputs): freezing then cannot fail
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, (FrozenDict, FrozenList)):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({_key(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList([_freeze(v) for v in value])
    return value


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
    return key


def thaw(value: Any) -> Any:
    """Return a mutable deep copy of a (frozen) JSON value."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


"""The input policy: what convo accepts, and the limits it enforces.

Everything convo keeps must be sendable, hashable and saveable later,
whatever the backend, so it is checked where it comes in (a payload, a
response, a block's JSON, an import file, a store argument), not where it
would otherwise fail (a ``UnicodeEncodeError`` in ``save``, a
``RecursionError`` in a ``repr``).  One rule set, stated here and in
``docs/limits.md``:

* **strings** are Unicode text that UTF-8 can encode: a lone surrogate
  (``"\\ud800"``, what ``json.loads`` makes of an unpaired ``\\ud800``
  escape) is refused with a ``CodecError`` naming its JSON path.  Nothing
  is replaced, so nothing is lost without the caller knowing.
* **numbers**: integers of any size up to ``MAX_INTEGER_DIGITS`` digits are
  kept exactly (never turned into floats); ``NaN`` and ``±Infinity`` are
  refused (JSON has no such values and the API never sends them); booleans
  stay booleans.
* **structure**: only JSON values (``None``, bool, int, float, str,
  mappings with string keys, lists and tuples); nesting at most
  ``MAX_DEPTH`` levels, measured from the block, the ``meta`` object or
  the turn's content array that holds it; documents (payloads, responses,
  import files) get the few levels of their envelope on top.
* **documents** read from bytes are UTF-8 (a byte-order mark is dropped)
  and at most ``MAX_DOCUMENT_BYTES`` long.
* **store text** (thread ids, titles, and the keys and strings of a
  thread's ``meta``) holds no NUL character: SQLite keeps it (but its JSON
  functions cut text at it), PostgreSQL refuses it, so both refuse it here.

Every check walks iteratively (no recursion, whatever the input), costs
O(size of the value), and raises ``CodecError`` (a ``ValueError``) whose
``path`` says where, e.g. ``$.messages[3].content[0].input.x``.

This module sits at the bottom of the layer stack, beside ``_frozen``: it
imports only ``convo.errors``.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import wraps
from inspect import Parameter, signature
from typing import IO, Any, Final, TypeVar, cast

from convo.errors import CodecError

__all__ = [
    "DOCUMENT_ENVELOPE",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_INTEGER_DIGITS",
    "accepts_json",
    "check_json",
    "check_nested_blocks",
    "check_store_args",
    "check_turn",
    "text_field",
    "decode_document",
    "describe",
    "load_json",
    "read_document",
]

MAX_DEPTH: Final = 100
"""Deepest nesting of containers convo accepts in one block, one ``meta``
object, or a turn's content array (the outermost object or array is level
1).  Far below Python's recursion limit, so every walk over an accepted
value (freezing, hashing, ``repr``, the store's JSON) stays safe."""

DOCUMENT_ENVELOPE: Final = 3
"""Levels a document adds around content: a payload holds a turn's content
at level 4 (body, ``messages``, the message, ``content``).  A document is
checked against ``MAX_DEPTH + DOCUMENT_ENVELOPE``, so every document built
from accepted parts is accepted back; the parts are then held to
``MAX_DEPTH`` themselves."""

MAX_INTEGER_DIGITS: Final = 4300
"""Longest integer (in decimal digits) convo keeps.  Python's default limit
for int/str conversion, so ``json`` can always write it back exactly."""

MAX_DOCUMENT_BYTES: Final = 256 * 1024 * 1024
"""Largest document convo reads from bytes (``convo import``): 256 MiB,
eight times the API's request size limit."""

# Set while a checked entry point runs: what it passes on was checked
# already, so the entry points and freezes it calls skip their walks.
_CHECKED: ContextVar[bool] = ContextVar("convo_input_checked", default=False)

_SURROGATE = re.compile("[\ud800-\udfff]")
# Integers below 2**_SAFE_BITS have at most MAX_INTEGER_DIGITS digits.
_SAFE_BITS: Final = int((MAX_INTEGER_DIGITS - 1) / math.log10(2))
_TOO_BIG = 10**MAX_INTEGER_DIGITS


# -- values ----------------------------------------------------------------------


def check_json(value: Any, path: str = "$", *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``CodecError`` unless ``value`` is a JSON value convo accepts.

    Args:
        value: the value to check (plain or frozen JSON).
        path: the JSON path of ``value``, used in the error.
        max_depth: the nesting limit (``MAX_DEPTH`` unless the value is a
            document whose envelope adds levels).

    Raises:
        CodecError: the first violation, with its path and the rule or limit
            it breaks.
    """
    if _CHECKED.get():
        return
    if not _accepts(value, max_depth):
        # The fast walk only says "no"; a second walk that tracks paths
        # says where (failure is the rare case).
        _raise_first_problem(value, path, max_depth)


def _accepts(value: Any, max_depth: int) -> bool:
    """The policy, as fast as Python allows: one pass, no paths."""
    # Concrete types before ``Mapping`` in every check: the frozen forms
    # subclass dict and list, and an ABC check costs ten times as much.
    if not _scalar_ok(value):
        return False
    if not isinstance(value, (dict, list, tuple, Mapping)):
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    push = stack.append
    pop = stack.pop
    while stack:
        node, depth = pop()
        if depth > max_depth:
            return False
        if isinstance(node, (list, tuple)):
            items = node
        else:  # a Mapping (only containers are pushed)
            for key in node:
                if type(key) is not str and not isinstance(key, str):
                    return False
                if not key.isascii() and _SURROGATE.search(key) is not None:
                    return False
            items = node.values()
        for item in items:
            kind = type(item)
            if kind is str:
                if not item.isascii() and _SURROGATE.search(item) is not None:
                    return False
            elif kind is int:
                if item.bit_length() > _SAFE_BITS and not _int_ok(item):
                    return False
            elif kind is dict or kind is list:
                push((item, depth + 1))
            elif item is None or kind is bool:
                pass
            elif kind is float:
                if not math.isfinite(item):
                    return False
            elif isinstance(item, (dict, list, tuple, Mapping)):
                push((item, depth + 1))
            elif not _scalar_ok(item):
                return False
    return True


def _scalar_ok(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.isascii() or _SURROGATE.search(value) is None
    if isinstance(value, int):
        return value.bit_length() <= _SAFE_BITS or _int_ok(value)
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (dict, list, tuple, Mapping))


def _int_ok(value: int) -> bool:
    # No str(): converting a huge integer is quadratic.
    limit = sys.get_int_max_str_digits()
    if limit and limit < MAX_INTEGER_DIGITS:
        return value.bit_length() <= int((limit - 1) / math.log10(2)) or abs(value) < 10**limit
    return abs(value) < _TOO_BIG


def _raise_first_problem(value: Any, path: str, max_depth: int) -> None:
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        node, where, depth = stack.pop()
        _check_scalar(node, where)
        if isinstance(node, Mapping):
            if depth > max_depth:
                raise _too_deep(where, max_depth)
            children: list[tuple[Any, str, int]] = []
            for key, item in node.items():
                if not isinstance(key, str):
                    raise CodecError(
                        f"object keys must be strings, got {type(key).__name__}", path=where
                    )
                _check_string(key, f"{where} (a key)")
                step = f".{key}" if key.isidentifier() else f"[{describe(key)}]"
                children.append((item, where + step, depth + 1))
            stack.extend(reversed(children))
        elif isinstance(node, (list, tuple)):
            if depth > max_depth:
                raise _too_deep(where, max_depth)
            stack.extend(
                (item, f"{where}[{i}]", depth + 1) for i, item in reversed(list(enumerate(node)))
            )
    raise AssertionError("unreachable")  # pragma: no cover - _accepts said no


def _too_deep(path: str, max_depth: int) -> CodecError:
    return CodecError(
        f"nesting deeper than {max_depth} levels (convo.inputs.MAX_DEPTH is {MAX_DEPTH})",
        path=path,
    )


def _check_scalar(value: Any, path: str) -> None:
    if value is None or isinstance(value, (bool, Mapping, list, tuple)):
        return
    if isinstance(value, str):
        _check_string(value, path)
    elif isinstance(value, int):
        if not _int_ok(value) and value.bit_length() > _SAFE_BITS:
            raise CodecError(
                f"an integer of more than {MAX_INTEGER_DIGITS} digits "
                "(convo.inputs.MAX_INTEGER_DIGITS): JSON text could not hold it exactly",
                path=path,
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(
                f"{value!r} is not a JSON number (NaN and Infinity are refused)", path=path
            )
    else:
        raise CodecError(f"{type(value).__name__} is not a JSON value", path=path)


def _check_string(value: str, path: str) -> None:
    if value.isascii():
        return
    found = _SURROGATE.search(value)
    if found is not None:
        raise CodecError(
            f"a lone surrogate {found.group()!r} at character {found.start()}: "
            "strings must be valid Unicode (UTF-8 encodable)",
            path=path,
        )


F = TypeVar("F", bound=Callable[..., Any])


def accepts_json(
    param: str, *, path_param: str | None = None, envelope: int = 0
) -> Callable[[F], F]:
    """Decorate a public entry point: ``check_json`` its argument ``param``
    (at the path given by its argument ``path_param``, else ``$``, with
    ``MAX_DEPTH + envelope`` levels allowed) before it runs.

    While it runs, nested checks are skipped: the value was checked once,
    at the boundary, and what the function builds from it is part of it.
    """

    def decorate(fn: F) -> F:
        names = list(signature(fn).parameters)
        params = signature(fn).parameters
        index = names.index(param)
        path_index = names.index(path_param) if path_param is not None else -1
        default_path = "$"
        if path_param is not None and params[path_param].default is not Parameter.empty:
            default_path = params[path_param].default
        limit = MAX_DEPTH + envelope

        @wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if _CHECKED.get():
                return fn(*args, **kwargs)
            positional = len(args) > index
            value = args[index] if positional else kwargs.get(param)
            path: Any = default_path
            if path_param is not None:
                path = args[path_index] if len(args) > path_index else kwargs.get(path_param, path)
            where = path if isinstance(path, str) else "$"
            try:
                check_json(value, where, max_depth=limit)
            except CodecError:
                # SDK models (anywhere inside: Message.to_param() holds block
                # models) are dumped to JSON first, then held to the policy.
                plain = dump_models(value, limit)
                if plain is value:
                    raise
                check_json(plain, where, max_depth=limit)
                if positional:
                    args = (*args[:index], plain, *args[index + 1 :])
                else:
                    kwargs[param] = plain
            token = _CHECKED.set(True)
            try:
                return fn(*args, **kwargs)
            finally:
                _CHECKED.reset(token)

        return cast("F", checked)

    return decorate


# -- store text ------------------------------------------------------------------


def as_json(value: Any) -> Any:
    """``value`` as JSON data: an object with ``to_dict()`` (the official SDK's
    models: API field names, only the fields the API sent) or ``model_dump()``
    (any pydantic model) is dumped; anything else is returned as it is."""
    if isinstance(value, (Mapping, list, tuple, str, int, float)) or value is None:
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        try:
            return model_dump(mode="json", by_alias=True, exclude_unset=True)
        except TypeError:
            return model_dump()
    return value


def dump_models(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` with every SDK model inside it dumped (``as_json``); ``value``
    itself when it holds none.  Past ``max_depth`` levels nothing is
    converted (the policy then refuses the depth), so this never recurses
    without bound."""
    if max_depth < 0:
        return value
    plain = as_json(value)
    if plain is not value:
        return dump_models(plain, max_depth)
    if isinstance(value, Mapping):
        items = {k: dump_models(v, max_depth - 1) for k, v in value.items()}
        if all(items[k] is v for k, v in value.items()):
            return value
        return items
    if isinstance(value, (list, tuple)):
        converted = [dump_models(v, max_depth - 1) for v in value]
        if all(c is v for c, v in zip(converted, value, strict=True)):
            return value
        return converted
    return value


def check_store_args(*, meta: Any = None, **texts: str | None) -> None:
    """Check the arguments of a ``Store``/``AsyncStore`` public method:
    ``texts`` (thread ids, titles) must hold no NUL and no lone surrogate,
    ``meta`` must be JSON under the policy.  ``None`` and non-strings pass
    (the store checks types itself).

    So SQLite and PostgreSQL refuse the same values, the same way, before
    any SQL runs.

    Raises:
        CodecError: ``path`` names the argument.
    """
    for name, value in texts.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise CodecError(
                f"{name} holds a NUL character (at {value.index(chr(0))}): "
                "PostgreSQL cannot store it, so no backend accepts it",
                path=name,
            )
        _check_string(value, name)
    if meta is not None:
        check_json(meta, "meta")
        where = _nul_in(meta, "meta")
        if where is not None:
            raise CodecError(
                f"{where} holds a NUL character: PostgreSQL's jsonb (which indexes a "
                "thread's meta) cannot hold it and SQLite's JSON functions cut text "
                "at it, so no backend accepts it",
                path=where,
            )


def _nul_in(value: Any, path: str) -> str | None:
    """The path of the first key or string holding a NUL, or ``None``
    (iterative: ``value`` passed ``check_json``, so it is bounded)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return where
        elif isinstance(node, Mapping):
            for key, item in node.items():
                if "\x00" in key:
                    return f"{where}[{key!r}]"
                stack.append((item, f"{where}.{key}"))
        elif isinstance(node, (list, tuple)):
            stack.extend((item, f"{where}[{n}]") for n, item in enumerate(node))
    return None


# -- documents -------------------------------------------------------------------


def decode_document(data: bytes, *, source: str = "input") -> str:
    """The text of a UTF-8 document (a leading byte-order mark dropped).

    Raises:
        CodecError: the bytes are longer than ``MAX_DOCUMENT_BYTES`` or are
            not UTF-8 (the message gives the byte offset and line).
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CodecError(
            f"{source} is larger than {MAX_DOCUMENT_BYTES} bytes "
            "(convo.inputs.MAX_DOCUMENT_BYTES)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CodecError(
            f"{source} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} (line {line}) {exc.reason}"
        ) from None
    return text.removeprefix("\ufeff")


def read_document(stream: IO[bytes], *, source: str = "input") -> str:
    """Read a binary stream as a UTF-8 document, never more than
    ``MAX_DOCUMENT_BYTES + 1`` bytes of it (see ``decode_document``)."""
    return decode_document(stream.read(MAX_DOCUMENT_BYTES + 1), source=source)


def load_json(text: str, *, path: str = "$", max_depth: int = MAX_DEPTH + DOCUMENT_ENVELOPE) -> Any:
    """Parse JSON text under the policy (``json.loads`` plus ``check_json``).

    Raises:
        json.JSONDecodeError: the text is not JSON (a ``ValueError``).
        CodecError: it is JSON convo refuses: ``NaN``/``Infinity``, nesting
            past ``max_depth``, an integer past ``MAX_INTEGER_DIGITS``, a
            lone surrogate.
    """
    try:
        # NaN and Infinity parse (as floats) so that check_json can say where.
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(path, max_depth) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        # json raises a bare ValueError for an integer past Python's
        # int/str conversion limit.
        raise CodecError(f"a number convo cannot keep exactly: {exc}", path=path) from None
    check_json(value, path, max_depth=max_depth)
    return value


# -- messages --------------------------------------------------------------------


class _Repr(reprlib.Repr):
    """``reprlib`` that knows convo's frozen containers (by type name)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 60
        self.maxother = 60
        self.maxlist = self.maxtuple = self.maxdict = 6

    def repr_FrozenDict(self, value: Any, level: int) -> str:  # reprlib dispatches on the type name
        return self.repr_dict(value, level)

    def repr_FrozenList(self, value: Any, level: int) -> str:  # reprlib dispatches on the type name
        return self.repr_list(value, level)


_REPR = _Repr()


def describe(value: Any) -> str:
    """A short ``repr`` for error messages: bounded in length and depth,
    whatever the value (never a ``RecursionError``)."""
    try:
        return _REPR.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def check_turn(content: Any, meta: Any) -> None:
    """A turn's JSON content and its ``meta`` (what ``Turn.create`` keeps).

    Raises:
        CodecError: either breaks the policy (path ``$.content...`` or
            ``$.meta...``, the turn's own fields).
    """
    check_json(content, "$.content")
    # meta is walked even inside a checked entry point: a continuation nests
    # the previous turn's meta in the new one, one level per join.
    if meta and not _accepts(meta, MAX_DEPTH):
        _raise_first_problem(meta, "$.meta", MAX_DEPTH)


def text_field(instance: Any, attribute: Any, value: Any) -> None:
    """An attrs validator for the string fields of blocks: a ``str`` (else
    ``TypeError``, as ``instance_of`` says) without a lone surrogate (else
    ``CodecError`` naming ``Class.field``)."""
    if not isinstance(value, str):
        raise TypeError(
            f"'{attribute.name}' must be <class 'str'> (got {describe(value)} that is a "
            f"{type(value)!r})."
        )
    if not value.isascii() and not _CHECKED.get():
        _check_string(value, f"{type(instance).__name__}.{attribute.name}")


def check_nested_blocks(blocks: Any) -> None:
    """Refuse tool_result content whose blocks nest (``content`` tuples of
    blocks holding blocks...) past ``MAX_DEPTH`` JSON levels: such a chain,
    built in Python one constructor at a time, would otherwise recurse when
    it is written as JSON.  Each level of blocks adds two JSON levels (the
    block object and its ``content`` array).

    Raises:
        CodecError: the chain is too deep.
    """
    if _CHECKED.get():
        return
    stack: list[tuple[Any, int]] = [(block, 2) for block in blocks]
    while stack:
        block, depth = stack.pop()
        inner = getattr(block, "content", None)
        if isinstance(inner, tuple):
            if depth + 2 > MAX_DEPTH:
                raise CodecError(
                    f"tool_result content nested deeper than {MAX_DEPTH} JSON levels "
                    "(convo.inputs.MAX_DEPTH)",
                    path="content",
                )
            stack.extend((b, depth + 2) for b in inner)

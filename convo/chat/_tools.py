"""Tool definitions from typed Python functions, and what a tool returns.

``tool_schema(fn)`` reads a function's signature, annotations and docstring
and gives the Messages API tool definition (``API_RULES.md`` A10: ``name``
matching ``^[a-zA-Z0-9_-]{1,128}$``, ``description``, ``input_schema`` a
JSON Schema object).  Supported annotations: ``str``, ``int``, ``float``,
``bool``, ``None``, ``list[X]``/``tuple[X, ...]``/``Sequence[X]``,
``dict[str, X]``/``Mapping``, ``Literal[...]``, ``X | Y`` and
``Annotated[X, "description"]``; anything else is refused with a clear
error rather than guessed.  Parameter descriptions come from a Google-style
``Args:`` section of the docstring.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from convo._frozen import thaw
from convo.blocks import BLOCK_CLASSES, ToolResultBlock
from convo.errors import ToolSchemaError

__all__ = ["TOOL_NAME", "tool_output", "tool_schema"]

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
"""The pattern the API requires of a tool name."""

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}
_ARRAYS = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable)
_OBJECTS = (dict, collections.abc.Mapping)


def tool_schema(fn: Callable[..., Any], *, name: str | None = None) -> dict[str, Any]:
    """The tool definition of ``fn`` (for ``tools=[...]`` in a request).

    Args:
        fn: a function whose parameters are all annotated (keyword-callable;
            no ``*args``/``**kwargs``).
        name: the tool name (default ``fn.__name__``).

    Raises:
        ToolSchemaError: the name does not match the API's pattern, a
            parameter is unannotated or variadic, or an annotation has no
            JSON Schema equivalent here.
    """
    tool_name = name or str(getattr(fn, "__name__", ""))
    if not TOOL_NAME.match(tool_name):
        raise ToolSchemaError(
            f"tool name {tool_name!r} does not match ^[a-zA-Z0-9_-]{{1,128}}$", tool=tool_name
        )
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolSchemaError(f"tool {tool_name!r}: cannot read its signature ({exc})", tool=tool_name) from exc
    summary, arg_docs = _docstring(inspect.getdoc(fn) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolSchemaError(
                f"tool {tool_name!r}: parameter {param.name!r} cannot be passed by keyword "
                "from a JSON object",
                tool=tool_name,
            )
        if param.name not in hints:
            raise ToolSchemaError(f"tool {tool_name!r}: parameter {param.name!r} has no annotation", tool=tool_name)
        schema = _schema(hints[param.name], tool_name, param.name)
        if param.name in arg_docs and "description" not in schema:
            schema = {**schema, "description": arg_docs[param.name]}
        if param.default is param.empty:
            required.append(param.name)
        properties[param.name] = schema
    definition: dict[str, Any] = {"name": tool_name}
    if summary:
        definition["description"] = summary
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    definition["input_schema"] = input_schema
    return definition


def _schema(hint: Any, tool: str, param: str) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        inner = _schema(args[0], tool, param)
        notes = [a for a in args[1:] if isinstance(a, str)]
        return {**inner, "description": " ".join(notes)} if notes else inner
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if origin is typing.Literal:
        values = list(args)
        if not all(isinstance(v, str | int | float | bool) for v in values):
            raise ToolSchemaError(f"tool {tool!r}: {param!r}: Literal of non-JSON values", tool=tool)
        return {"enum": values}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_schema(a, tool, param) for a in args]}
    if hint in _ARRAYS or origin in _ARRAYS:
        if origin is tuple and args and args[-1] is not Ellipsis:
            raise ToolSchemaError(f"tool {tool!r}: {param!r}: only tuple[X, ...] is supported", tool=tool)
        items = _schema(args[0], tool, param) if args else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    if hint in _OBJECTS or origin in _OBJECTS:
        if len(args) == 2:
            return {"type": "object", "additionalProperties": _schema(args[1], tool, param)}
        return {"type": "object"}
    raise ToolSchemaError(
        f"tool {tool!r}: parameter {param!r}: no JSON Schema for {hint!r} "
        "(write the definition by hand, or annotate with a supported type)",
        tool=tool,
    )


def _docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (the text before ``Args:``) and each ``Args:`` entry."""
    lines = doc.splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    section = None
    current = None
    for line in lines:
        stripped = line.strip()
        if re.fullmatch(r"(Args|Arguments|Parameters|Returns|Raises|Yields|Examples?):", stripped):
            section = stripped[:-1]
            current = None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and stripped:
            match = re.match(r"^(\w+)\s*(\([^)]*\))?:\s*(.*)$", stripped)
            if match and line.startswith((" ", "\t")) and not line.startswith(("        ", "\t\t")):
                current = match.group(1)
                args[current] = match.group(3)
            elif current is not None:
                args[current] = f"{args[current]} {stripped}".strip()
    return "\n".join(summary).strip(), args


def tool_output(value: Any) -> Any:
    """What a tool returned, as a tool result: text and blocks as they are,
    anything else as JSON text."""
    if isinstance(value, (str, ToolResultBlock, *BLOCK_CLASSES)):
        return value
    if isinstance(value, Sequence) and value and all(isinstance(v, BLOCK_CLASSES) for v in value):
        return tuple(value)
    if isinstance(value, Mapping | list | tuple) or value is None or isinstance(value, int | float):
        return json.dumps(thaw(value), ensure_ascii=False, default=str)
    return str(value)

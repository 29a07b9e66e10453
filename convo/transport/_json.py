"""Strict JSON for what a server sends: the one reader of response bodies and events.

Stricter than ``json.loads`` where its leniency would let a bad value in
that fails later and far away: NaN and infinities are refused (JSON has no
such numbers), so is a lone surrogate (an escape such as ``\\ud800`` that no
UTF-8 text can hold), and nesting past the interpreter's recursion limit
is a ``ValueError`` like any other bad input, never a ``RecursionError``.
The exception carries no copy of the document (``JSONDecodeError.doc``
would: server text may echo the key).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = ["StrictJSONError", "strict_loads"]

_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_TEXT: Final = re.compile(r"\\u[dD][89a-fA-F]")


class StrictJSONError(ValueError):
    """The text is not strict JSON; the message says why, without quoting it."""


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def strict_loads(data: str | bytes) -> Any:
    """The JSON value of ``data`` (UTF-8 when bytes).

    Raises:
        StrictJSONError: not JSON, not UTF-8, a non-finite number, a lone
            surrogate, or nested too deeply.
    """
    try:
        value = json.loads(data, parse_constant=_no_constant)
        escaped = (
            _SURROGATE_ESCAPE_TEXT.search(data)
            if isinstance(data, str)
            else _SURROGATE_ESCAPE.search(data)
        )
        if escaped:
            # A well-formed pair decodes to one code point and encodes fine.
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError("nested too deeply") from None
    except UnicodeEncodeError:
        raise StrictJSONError("a lone surrogate") from None
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"{exc.msg} at character {exc.pos}") from None
    except ValueError as exc:  # pragma: no cover - json raises only the above
        raise StrictJSONError(str(exc)[:200]) from None
    return value

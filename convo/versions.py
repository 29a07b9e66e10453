"""Messages API versions, as data.

The ``anthropic-version`` header selects the rules a request is judged by
(API_RULES §0.2).  Rules that differ between versions are named in
``convo.rules`` and chosen by the version a request is sent with; transports
send the version they are given.  The default is what the official SDK sends
today.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["API_VERSIONS", "DEFAULT_API_VERSION", "ApiVersion"]

ApiVersion = Literal["2023-06-01", "2026-10-21"]
"""The API versions convo knows, oldest first."""

API_VERSIONS: Final[tuple[ApiVersion, ...]] = get_args(ApiVersion)

DEFAULT_API_VERSION: Final[ApiVersion] = "2026-10-21"
"""What the official Python SDK sends since 2.0.0 (``_constants.py``)."""

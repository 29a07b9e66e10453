"""Messages API versions, as data.

The ``anthropic-version`` header selects the rules a request is judged by
(API_RULES §0.2).  Rules that differ between versions are named in
``convo.rules`` and chosen by the version a request is sent with; transports
send the version they are given.  The default is what the official SDK sends
today.

``VERSIONS`` says, for each version, which send rules it adds (by name) and
where that is documented.  ``convo.rules.version_rules(v)`` gives the rule
objects themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

from attrs import frozen

from convo._frozen import FrozenDict

__all__ = [
    "API_VERSIONS",
    "DEFAULT_API_VERSION",
    "REMOVED_SAMPLING_PARAMETERS",
    "VERSIONS",
    "ApiVersion",
    "VersionInfo",
]

ApiVersion = Literal["2023-06-01", "2026-10-21"]
"""The API versions convo knows, oldest first."""

API_VERSIONS: Final[tuple[ApiVersion, ...]] = get_args(ApiVersion)

DEFAULT_API_VERSION: Final[ApiVersion] = "2026-10-21"
"""What the official Python SDK sends since 2.0.0 (``_constants.py``)."""

REMOVED_SAMPLING_PARAMETERS: Final[tuple[str, ...]] = ("temperature", "top_p", "top_k")
"""Request parameters 2026-10-21 rejects, even at their default values (A9)."""

_VERSIONING = "https://platform.claude.com/docs/en/api/versioning"


@frozen
class VersionInfo:
    """What one API version changes in the send rules.

    Attributes:
        version: the ``anthropic-version`` value.
        send_rules: names of the ``convo.rules`` send rules this version
            adds to the rules every version shares.
        source: where the version and its rules are documented.
    """

    version: ApiVersion
    send_rules: tuple[str, ...]
    source: str


VERSIONS: Final[Mapping[str, VersionInfo]] = FrozenDict(
    {
        "2023-06-01": VersionInfo(
            "2023-06-01", (), f"{_VERSIONING}; API_RULES 0.2 (SDK <= 1.17.0 default)"
        ),
        "2026-10-21": VersionInfo(
            "2026-10-21",
            ("no-sampling-parameters", "no-assistant-document", "no-user-citations"),
            f"{_VERSIONING}; https://platform.claude.com/docs/en/api/migration-2026-10-21; "
            "API_RULES 0.2, A9, C1, C3 (SDK >= 2.0.0 default)",
        ),
    }
)
"""Every known version and the send rules it adds."""

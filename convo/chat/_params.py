"""The request fields a ``Chat`` step takes as keywords, typed and checked.

``RequestParams`` is a ``TypedDict`` used as ``**params: Unpack[RequestParams]``
on every step (``send``, ``tool_results``, ``respond``, ``resume``,
``continue_``, ``payload``), so ``mypy --strict`` refuses ``max_token=5``
and a value of the wrong type; at run time :func:`check_request_params`
refuses a keyword that is not a known request field with a
``RequestParamError`` listing the known ones, before anything is sent.

The API gains fields faster than any list (``API_RULES.md`` A3, A15): a
field convo does not know yet goes in ``extra={...}`` (per step) or in the
chat's ``params`` mapping, both sent unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

from convo.errors import RequestParamError

__all__ = [
    "REQUEST_FIELDS",
    "RESERVED_FIELDS",
    "RequestParams",
    "RunParams",
    "check_request_params",
    "check_reserved",
]


class RunParams(TypedDict, total=False):
    """The request fields of ``RequestParams`` but ``tools``: what
    ``chat.run``/``chat.stream`` take besides ``tools={name: function}``
    (their definitions are derived from the functions)."""

    model: str
    max_tokens: int
    metadata: Mapping[str, Any]
    stop_sequences: Sequence[str]
    temperature: float
    top_p: float
    top_k: int
    tool_choice: Mapping[str, Any]
    thinking: Mapping[str, Any]
    cache_control: Mapping[str, Any] | None
    container: str | Mapping[str, Any] | None
    diagnostics: Mapping[str, Any] | None
    inference_geo: str | None
    output_config: Mapping[str, Any]
    service_tier: Literal["auto", "standard_only"]
    speed: Literal["standard", "fast"] | None
    user_profile_id: str
    workspace_id: str
    mcp_servers: Sequence[Mapping[str, Any]]
    context_management: Mapping[str, Any]


class RequestParams(RunParams, total=False):
    """The Messages API request fields a step may set (``API_RULES.md`` A5-A15).

    ``messages`` and ``system`` come from the conversation and ``stream``
    from ``stream=True``, so they are not here.  Sampling parameters are
    refused by the 2026-10-21 API version (A9); convo still sends them
    when asked, for 2023-06-01.
    """

    tools: Sequence[Mapping[str, Any]]


REQUEST_FIELDS: frozenset[str] = frozenset(RequestParams.__annotations__)
"""The keywords a ``Chat`` step accepts as request fields."""


RESERVED_FIELDS = frozenset({"messages", "system", "stream", "api_version"})
"""Request fields a chat fills in itself."""


def check_reserved(params: Mapping[str, Any]) -> None:
    """Refuse the fields a chat fills in itself.

    Raises:
        ValueError: ``messages``, ``system``, ``stream`` or ``api_version``
            among ``params``.
    """
    bad = RESERVED_FIELDS.intersection(params)
    if bad:
        raise ValueError(
            f"{sorted(bad)} cannot be request params: messages and system come from the "
            "conversation, streaming is chosen with send(stream=True), and the API "
            "version is the transport's"
        )


def check_request_params(params: Mapping[str, Any], *, where: str = "send") -> None:
    """Refuse keywords that are not known request fields.

    Raises:
        ValueError: a reserved field (:func:`check_reserved`).
        RequestParamError: one or more unknown keywords (all are named,
            with the closest known field when one is close).
    """
    check_reserved(params)
    unknown = sorted(key for key in params if key not in REQUEST_FIELDS)
    if unknown:
        raise RequestParamError(unknown, known=sorted(REQUEST_FIELDS), where=where)

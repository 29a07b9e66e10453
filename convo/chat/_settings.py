"""The request settings a thread is built with, saved in its meta JSON.

A thread's settings (model, ``max_tokens``, tools, ``tool_choice``,
thinking, output format and every other request field, plus the betas and
API version its requests go out with) live in the thread's metadata as::

    {"model": "...", "request": {"model": ..., "max_tokens": ..., "tools": [...], ...},
     "betas": [...], "api_version": "..."}

``request`` is the key ``convo import`` already writes for a payload, so
``convo export --format payload`` gives back the request the thread was
built with.  The metadata row is versioned with the thread (every change
bumps its version), forks copy it, and no schema change is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from attrs import field, frozen

from convo._frozen import FrozenDict, freeze, thaw

__all__ = ["ThreadSettings"]


def _frozen_params(value: Mapping[str, Any] | None) -> FrozenDict:
    frozen_value = freeze(dict(value or {}))
    assert isinstance(frozen_value, FrozenDict)
    return frozen_value


def _names(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@frozen
class ThreadSettings:
    """The request settings of a thread.

    Attributes:
        model: the model requests name.
        max_tokens: the requests' ``max_tokens``.
        params: the other request fields (``tools``, ``tool_choice``,
            ``thinking``, ``output_config``, ...), read-only.
        betas: beta names the requests need (``anthropic-beta``).
        api_version: the ``anthropic-version`` they were built for, or ``None``.
    """

    model: str
    max_tokens: int
    params: FrozenDict = field(factory=FrozenDict, converter=_frozen_params)
    betas: tuple[str, ...] = field(default=(), converter=_names)
    api_version: str | None = None

    def to_meta(self) -> dict[str, Any]:
        """The thread-meta keys these settings are saved under."""
        request = {"model": self.model, "max_tokens": self.max_tokens, **thaw(self.params)}
        meta: dict[str, Any] = {"model": self.model, "request": request}
        if self.betas:
            meta["betas"] = list(self.betas)
        if self.api_version is not None:
            meta["api_version"] = self.api_version
        return meta

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ThreadSettings | None:
        """The settings saved in a thread's meta, or ``None`` when it has
        none (a thread saved before settings were kept)."""
        request = meta.get("request")
        if not isinstance(request, Mapping):
            return None
        fields = dict(thaw(request))
        model = fields.pop("model", None) or meta.get("model")
        max_tokens = fields.pop("max_tokens", None)
        fields.pop("stream", None)
        if not isinstance(model, str) or not isinstance(max_tokens, int):
            return None
        betas = meta.get("betas") or ()
        version = meta.get("api_version")
        return cls(
            model,
            max_tokens,
            fields,
            betas if isinstance(betas, Sequence) and not isinstance(betas, str) else (),
            version if isinstance(version, str) else None,
        )

    def merged_meta(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        """``meta`` (a thread's) with these settings written into it."""
        merged = {k: v for k, v in thaw(meta).items() if k not in ("betas", "api_version")}
        return {**merged, **self.to_meta()}

    def evolve(self, **changes: Any) -> ThreadSettings:
        """A copy with ``changes``."""
        return attrs.evolve(self, **changes)

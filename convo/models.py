"""Model profiles: what each model family accepts.

Rules that depend on the target model (prefill, output limits, the context
window, image resolution) read a ``ModelProfile``.  A model id matches the
longest registered family prefix followed by the end of the id, ``-`` or
``@`` (``claude-opus-4-5-20251101`` and Vertex's ``claude-opus-4-5@...``
both match ``claude-opus-4-5``).  An unknown model gets ``permissive``
rules: nothing model-specific is enforced and nothing crashes.

Each entry says which source it follows (``source``).  Where the project's
seed page and observed behaviour disagree (Sonnet 4.5 and prefill), the
entry follows the seed and says so; register your own profile to override.
"""

from __future__ import annotations

import threading

from attrs import frozen

__all__ = ["ModelProfile", "profile_for", "register_profile", "registered_profiles"]


@frozen
class ModelProfile:
    """What a model family accepts.

    Attributes:
        family: the model id prefix this profile covers.
        context_window: input + output tokens, or ``None`` if unknown.
        max_output_tokens: the largest ``max_tokens``, or ``None`` if unknown.
        prefill: whether a trailing assistant turn (prefill) is accepted.
        system_messages: whether ``role: "system"`` messages are accepted
            mid-conversation.
        max_image_edge: the long edge (px) beyond which images are resized.
        max_image_tokens: about the most tokens one image costs.
        source: where these facts come from.
    """

    family: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    prefill: bool = True
    system_messages: bool = False
    max_image_edge: int = 1568
    max_image_tokens: int = 1600
    source: str = ""

    @property
    def known(self) -> bool:
        """False for the permissive profile given to unknown models."""
        return self.context_window is not None

    @classmethod
    def permissive(cls, model: str) -> ModelProfile:
        """The profile for a model convo does not know: enforce nothing."""
        return cls(family=model, source="unknown model: permissive", system_messages=True)


_DOCS = "platform.claude.com models overview and migration guide (API_RULES B7, A6)"
_SEED = "seed working-with-messages page: prefill not supported"

_BUILTIN: tuple[ModelProfile, ...] = (
    ModelProfile("claude-3-haiku", 200_000, 4_096, source=_DOCS),
    ModelProfile("claude-3-opus", 200_000, 4_096, source=_DOCS),
    ModelProfile("claude-3-5-haiku", 200_000, 8_192, source=_DOCS),
    ModelProfile("claude-3-5-sonnet", 200_000, 8_192, source=_DOCS),
    ModelProfile("claude-3-7-sonnet", 200_000, 64_000, source=_DOCS),
    ModelProfile("claude-sonnet-4", 200_000, 64_000, source=_DOCS),
    ModelProfile("claude-opus-4", 200_000, 32_000, source=_DOCS),
    ModelProfile("claude-opus-4-1", 200_000, 32_000, source=_DOCS),
    ModelProfile("claude-haiku-4-5", 200_000, 64_000, source=_DOCS),
    ModelProfile("claude-opus-4-5", 200_000, 64_000, source=_DOCS),
    # The seed says Sonnet 4.5 refuses prefill; strands-agents/sdk-python#1694
    # reports it accepted.  We follow the seed: refusing locally is the
    # cheaper mistake.  Register a profile with prefill=True to override.
    ModelProfile("claude-sonnet-4-5", 200_000, 64_000, prefill=False, source=_SEED),
    ModelProfile("claude-opus-4-6", 200_000, 128_000, prefill=False, source=_SEED),
    ModelProfile("claude-sonnet-4-6", 200_000, 64_000, prefill=False, source=_DOCS),
    ModelProfile("claude-opus-4-7", 200_000, 128_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile(
        "claude-opus-4-8",
        200_000,
        128_000,
        prefill=False,
        system_messages=True,
        source=_DOCS,
        max_image_edge=2576,
        max_image_tokens=4784,
    ),
    ModelProfile("claude-fable-5", 200_000, 128_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile("claude-sonnet-5", 200_000, 64_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile("claude-opus-5", 200_000, 128_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile("claude-opus-5-5", 200_000, 128_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile("claude-sonnet-5-5", 200_000, 64_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
    ModelProfile("claude-haiku-5-5", 200_000, 64_000, prefill=False, source=_DOCS, max_image_edge=2576, max_image_tokens=4784),
)

_lock = threading.Lock()
_profiles: dict[str, ModelProfile] = {p.family: p for p in _BUILTIN}


def register_profile(profile: ModelProfile) -> None:
    """Add or replace the profile of a model family (thread-safe)."""
    with _lock:
        _profiles[profile.family] = profile


def registered_profiles() -> tuple[ModelProfile, ...]:
    """Every registered profile, longest family first."""
    with _lock:
        return tuple(sorted(_profiles.values(), key=lambda p: (-len(p.family), p.family)))


def profile_for(model: str | None) -> ModelProfile:
    """The profile of ``model``; a permissive one if it is unknown or ``None``."""
    if not model:
        return ModelProfile.permissive("")
    with _lock:
        candidates = list(_profiles.values())
    best: ModelProfile | None = None
    for profile in candidates:
        family = profile.family
        if model.startswith(family) and (
            len(model) == len(family) or model[len(family)] in "-@"
        ) and (best is None or len(family) > len(best.family)):
            best = profile
    return best if best is not None else ModelProfile.permissive(model)

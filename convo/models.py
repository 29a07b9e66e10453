"""Model profiles: what each model family accepts.

Rules that depend on the target model (prefill, output limits, the context
window, image resolution, mid-conversation system messages, thinking types)
read a ``ModelProfile``.  A model id matches the
longest registered family prefix followed by the end of the id, ``-`` or
``@`` (``claude-opus-4-5-20251101`` and Vertex's ``claude-opus-4-5@...``
both match ``claude-opus-4-5``).  An unknown model gets ``permissive``
rules: nothing model-specific is enforced and nothing crashes.

Each entry says which source it follows (``source``): the models overview
and each model's page on platform.claude.com as of December 2026, and
API_RULES where the docs say nothing.  Where the project's
seed page and observed behaviour disagree (Sonnet 4.5 and prefill), the
entry follows the seed and says so; register your own profile to override.
"""

from __future__ import annotations

import threading

from attrs import evolve, frozen

__all__ = ["ModelProfile", "Prices", "profile_for", "register_profile", "registered_profiles"]


@frozen
class Prices:
    """USD per million tokens, by kind of token (the pricing page's columns).

    Attributes:
        input: base input tokens (not read from nor written to the cache).
        output: output tokens (thinking included).
        cache_write_5m: input tokens written to the cache with the 5m TTL.
        cache_write_1h: input tokens written with the 1h TTL.
        cache_read: input tokens read from the cache (hits and refreshes).
        source: where the figures come from.
    """

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    source: str = ""

    @classmethod
    def standard(cls, input: float, output: float, *, source: str = "") -> Prices:
        """Prices with the standard cache multipliers: writes 1.25x (5m) and
        2x (1h), reads 0.1x of the base input price."""
        return cls(input, output, input * 1.25, input * 2, input * 0.1, source)


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
        thinking_types: the ``thinking.type`` values the model accepts
            (``enabled``, ``adaptive``, ``disabled``, ``between_tools``), or
            ``None`` when unknown (nothing is checked).
        sampling_parameters: ``False`` for models that refuse
            ``temperature``/``top_p``/``top_k`` whatever the API version.
        min_cache_tokens: the minimum cacheable prefix (shorter prefixes
            are silently not cached), or ``None`` if unknown.
        prices: the price table used by the usage ledger, or ``None``.
    """

    family: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    prefill: bool = True
    system_messages: bool = False
    max_image_edge: int = 1568
    max_image_tokens: int = 1600
    source: str = ""
    thinking_types: tuple[str, ...] | None = None
    sampling_parameters: bool = True
    # Prompt caching and the usage ledger (issue 15): filled in below from
    # _CACHE_FACTS, kept apart from the capability table above.
    min_cache_tokens: int | None = None
    prices: Prices | None = None

    @property
    def known(self) -> bool:
        """False for the permissive profile given to unknown models."""
        return self.context_window is not None

    @classmethod
    def permissive(cls, model: str) -> ModelProfile:
        """The profile for a model convo does not know: enforce nothing
        (mid-conversation system messages allowed, thinking types unchecked)."""
        return cls(family=model, system_messages=True, source="unknown model: permissive")


_OVERVIEW = "https://platform.claude.com/docs/en/about-claude/models/overview"
_PAGE = "https://platform.claude.com/docs/en/models/{}/overview"
_SEED = "seed working-with-messages page: prefill not supported"
_THINKING = "thinking types: API_RULES A14 (enabled rejected on 4.7+, adaptive rejected on 4.5 and earlier)"
_NO_SAMPLING = "sampling parameters refused: skills claude-api shared/error-codes.md (API_RULES A9)"
_SYSTEM = (
    "mid-conversation system messages: "
    "https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages"
)
_OLD = ("enabled", "disabled")
_HYBRID = ("enabled", "adaptive", "disabled")
_ADAPTIVE = ("adaptive", "disabled")
_ALWAYS_ON = ("adaptive",)


def _src(*parts: str) -> str:
    return "; ".join(parts)


_BUILTIN: tuple[ModelProfile, ...] = (
    # Retired or deprecated models: the overview's legacy tables.  No thinking
    # before 3.7, so their thinking types are left unknown (not checked).
    ModelProfile("claude-3-haiku", 200_000, 4_096, source=_OVERVIEW),
    ModelProfile("claude-3-opus", 200_000, 4_096, source=_OVERVIEW),
    ModelProfile("claude-3-5-haiku", 200_000, 8_192, source=_OVERVIEW),
    ModelProfile("claude-3-5-sonnet", 200_000, 8_192, source=_OVERVIEW),
    ModelProfile("claude-3-7-sonnet", 200_000, 64_000, thinking_types=_OLD, source=_src(_OVERVIEW, _THINKING)),
    # Sonnet 4 and 4.5 reach 1M only with the context-1m beta header: the
    # default window is what a request without betas gets.
    ModelProfile("claude-sonnet-4", 200_000, 64_000, thinking_types=_OLD, source=_src(_OVERVIEW, _THINKING)),
    ModelProfile("claude-opus-4", 200_000, 32_000, thinking_types=_OLD, source=_src(_OVERVIEW, _THINKING)),
    ModelProfile("claude-opus-4-1", 200_000, 32_000, thinking_types=_OLD, source=_src(_OVERVIEW, _THINKING)),
    ModelProfile(
        "claude-haiku-4-5", 200_000, 64_000, thinking_types=_OLD,
        source=_src(_PAGE.format("haiku-4-5"), "overview: 200K context, 64K output, extended thinking", _THINKING),
    ),
    ModelProfile(
        "claude-opus-4-5", 200_000, 64_000, thinking_types=_OLD,
        source=_src(_PAGE.format("opus-4-5"), "anthropics/claude-code#24451 (64000 max_tokens)", _THINKING),
    ),
    # The seed says Sonnet 4.5 refuses prefill; strands-agents/sdk-python#1694
    # reports it accepted.  We follow the seed: refusing locally is the
    # cheaper mistake.  Register a profile with prefill=True to override.
    ModelProfile(
        "claude-sonnet-4-5", 200_000, 64_000, prefill=False, thinking_types=_OLD,
        source=_src(_SEED, _PAGE.format("sonnet-4-5"), "1M only with the context-1m beta", _THINKING),
    ),
    ModelProfile(
        "claude-opus-4-6", 1_000_000, 128_000, prefill=False, thinking_types=_HYBRID,
        source=_src(_PAGE.format("opus-4-6"), "1M context, 128K output", _SEED, _THINKING),
    ),
    ModelProfile(
        "claude-sonnet-4-6", 1_000_000, 128_000, prefill=False, thinking_types=_HYBRID,
        source=_src(_PAGE.format("sonnet-4-6"), "1M context, 128K output; no prefill (API_RULES B7)", _THINKING),
    ),
    ModelProfile(
        "claude-opus-4-7", 1_000_000, 128_000, prefill=False, thinking_types=_ADAPTIVE,
        sampling_parameters=False, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("opus-4-7"), "skills claude-api shared/models.md (1M, 128K, adaptive only)",
                    _THINKING, _NO_SAMPLING),
    ),
    ModelProfile(
        "claude-opus-4-8", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ADAPTIVE, sampling_parameters=False, max_image_edge=2576, max_image_tokens=4784,
        source=_src(
            _PAGE.format("opus-4-8"),
            "https://platform.claude.com/docs/en/about-claude/models/whats-new-claude-4-8 "
            "(1M, 128K, adaptive thinking, role system messages)",
            _THINKING,
            _NO_SAMPLING,
        ),
    ),
    # Fable/Mythos 5: thinking is always on; an explicit disabled is a 400.
    ModelProfile(
        "claude-fable-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ALWAYS_ON, sampling_parameters=False, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("fable-5"), "skills shared/models.md (disabled rejected)", _SYSTEM,
                    "langchain-ai/langchainjs @langchain/anthropic 1.5.13 profiles", _NO_SAMPLING),
    ),
    ModelProfile(
        "claude-mythos-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ALWAYS_ON, sampling_parameters=False, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("mythos-5"), "shares Claude Fable 5's specifications", _SYSTEM),
    ),
    # Sonnet 5 and mid-conversation system messages: langchainjs's profiles
    # say yes, a third-party comparison says no.  We accept them: convo must
    # never refuse a history the API takes.
    ModelProfile(
        "claude-sonnet-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ADAPTIVE, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("sonnet-5"), "1M, 128K, adaptive (default) or disabled",
                    "system messages: langchainjs profiles (disputed by apidog.com)"),
    ),
    ModelProfile(
        "claude-opus-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ADAPTIVE, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("opus-5"), "1M, 128K, adaptive; disabled only at effort high or lower", _SYSTEM),
    ),
    ModelProfile(
        "claude-opus-5-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ALWAYS_ON, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("opus-5-5"), "1M, 128K, adaptive (always on): thinking cannot be disabled", _SYSTEM),
    ),
    ModelProfile(
        "claude-sonnet-5-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=("adaptive", "between_tools"), max_image_edge=2576, max_image_tokens=4784,
        source=_src(
            _PAGE.format("sonnet-5-5"),
            "https://platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5 "
            "(turn off up-front thinking with between_tools)",
            _SYSTEM,
        ),
    ),
    ModelProfile(
        "claude-haiku-5-5", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ADAPTIVE, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("haiku-5-5"), "1M, 128K, adaptive thinking", _SYSTEM),
    ),
    ModelProfile(
        "claude-fable-5-1", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ALWAYS_ON, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("fable-5-1"), "1M, 128K, adaptive (always on)", _SYSTEM),
    ),
    ModelProfile(
        "claude-mythos-5-1", 1_000_000, 128_000, prefill=False, system_messages=True,
        thinking_types=_ALWAYS_ON, max_image_edge=2576, max_image_tokens=4784,
        source=_src(_PAGE.format("mythos-5-1"), "shares Claude Fable 5.1's specifications", _SYSTEM),
    ),
)

# -- prompt caching minimums and prices (issue 15) ---------------------------
# Minimums follow API_RULES C10 (the project's notes from the prompt-caching
# page and Anthropic's skill); a third-party summary (dev.to, 2026) gives
# lower minimums for Opus 4.7/4.8 and the 5.x models.  Where the two differ,
# C10 is followed (a higher minimum never wastes a breakpoint); models C10
# does not list take the third-party figure and say so.
# Prices: platform.claude.com/docs/en/about-claude/pricing and the model
# overview pages (Opus 5, Sonnet 5, Sonnet 5.5), USD per MTok; Opus 5.5 and
# Haiku 5.5 from third-party summaries of that page (docs.rs synaps pricing,
# PromptFuel release notes).
_PRICING = "platform.claude.com/docs/en/about-claude/pricing"
_PRICING_3P = "third-party summaries of the pricing page (synaps, PromptFuel)"
_OPUS_45 = Prices(5, 25, 6.25, 10, 0.50, _PRICING)
_OPUS_4 = Prices(15, 75, 18.75, 30, 1.50, _PRICING)
_SONNET_4 = Prices(3, 15, 3.75, 6, 0.30, _PRICING)
_SONNET_5 = Prices(2, 10, 2.50, 4, 0.20, "platform.claude.com model overview (Sonnet 5, Sonnet 5.5)")
_HAIKU_45 = Prices(1, 5, 1.25, 2, 0.10, _PRICING)
_CACHE_FACTS: dict[str, tuple[int | None, Prices | None]] = {
    "claude-3-haiku": (2048, Prices(0.25, 1.25, 0.30, 0.50, 0.03, _PRICING)),
    "claude-3-opus": (1024, _OPUS_4),
    "claude-3-5-haiku": (2048, Prices(0.80, 4, 1, 1.6, 0.08, _PRICING)),
    "claude-3-5-sonnet": (1024, _SONNET_4),
    "claude-3-7-sonnet": (1024, _SONNET_4),
    "claude-sonnet-4": (1024, _SONNET_4),
    "claude-opus-4": (1024, _OPUS_4),
    "claude-opus-4-1": (1024, _OPUS_4),
    "claude-haiku-4-5": (4096, _HAIKU_45),
    "claude-opus-4-5": (4096, _OPUS_45),
    "claude-sonnet-4-5": (1024, _SONNET_4),
    "claude-opus-4-6": (4096, _OPUS_45),
    "claude-sonnet-4-6": (2048, _SONNET_4),
    "claude-opus-4-7": (4096, _OPUS_45),
    "claude-opus-4-8": (4096, _OPUS_45),
    "claude-fable-5": (2048, Prices(10, 50, 12.50, 20, 1, _PRICING)),
    "claude-sonnet-5": (1024, _SONNET_5),  # third-party minimum
    "claude-opus-5": (512, _OPUS_45),  # third-party minimum
    "claude-opus-5-5": (None, Prices(4, 20, 5, 8, 0.20, _PRICING_3P)),
    "claude-sonnet-5-5": (None, _SONNET_5),
    "claude-haiku-5-5": (None, Prices(0.10, 0.50, 0.125, 0.20, 0.01, _PRICING_3P)),
}
_BUILTIN = tuple(
    evolve(p, min_cache_tokens=_CACHE_FACTS[p.family][0], prices=_CACHE_FACTS[p.family][1])
    if p.family in _CACHE_FACTS
    else p
    for p in _BUILTIN
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

"""Timing helpers shared by the benchmark modules: medians with spread."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Stat", "measure", "row"]


class Stat:
    """Median and spread (min, max) of per-call times, in seconds."""

    def __init__(self, samples: list[float]) -> None:
        self.samples = samples
        self.median = statistics.median(samples)
        self.low = min(samples)
        self.high = max(samples)

    @property
    def spread(self) -> float:
        """Relative spread: (max - min) / median."""
        return (self.high - self.low) / self.median if self.median else 0.0


def measure(fn: Callable[[], Any], *, repeat: int = 7, number: int = 1,
            setup: Callable[[], Any] | None = None) -> Stat:
    """Time ``fn`` ``number`` times per sample, ``repeat`` samples; per-call
    seconds.  ``setup`` runs before each sample, untimed."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return Stat(samples)


def row(name: str, convo: Stat, baseline: Stat | None, *, target: float | None = None,
        baseline_name: str = "", unit: str = "s", **extra: Any) -> dict[str, Any]:
    """One result row; ``ratio`` = convo / baseline, ``met`` against ``target``.

    When both were sampled in alternation (the same number of samples, the
    i-th of each taken back to back), the ratio is the median of the
    pair-by-pair ratios, so that a slow phase of the machine hits both
    sides of a pair and cancels out; otherwise the ratio of the medians.
    """
    ratio: float | None = None
    if baseline is not None and baseline.median:
        if len(convo.samples) == len(baseline.samples) > 1 and all(baseline.samples):
            ratio = statistics.median(
                c / b for c, b in zip(convo.samples, baseline.samples, strict=True)
            )
        else:
            ratio = convo.median / baseline.median
    result: dict[str, Any] = {
        "name": name,
        "convo_s": convo.median,
        "convo_spread": round(convo.spread, 3),
        "baseline": baseline_name,
        "baseline_s": None if baseline is None else baseline.median,
        "ratio": ratio,
        "target": target,
        "met": None if target is None or ratio is None else ratio <= target,
    }
    if unit != "s":
        result["unit"] = unit
    result.update(extra)
    return result

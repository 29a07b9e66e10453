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
    """One result row; ``ratio`` = convo / baseline, ``met`` against ``target``."""
    ratio = convo.median / baseline.median if baseline is not None and baseline.median else None
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
    result.update(extra)
    return result

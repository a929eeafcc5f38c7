"""Timing shared by the benchmarks: medians over repeats, the variants taking turns.

Taking turns within each repeat spreads load from elsewhere on a shared machine
over every variant alike, so their ratio stays meaningful when absolute times do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each call over `repeats` rounds, one call of each per round."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}

"""What every benchmark module returns: rows for one shared table of medians and ratios."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BenchRow:
    """One measured figure. ``ratio`` compares ``value`` to ``baseline`` measured in the same run."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str | None = None


def median_seconds(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` (seconds)."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

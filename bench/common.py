"""What every benchmark module returns: rows for one shared table of medians and ratios."""

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx


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


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` by nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def timed_posts(
    url: str, bodies: Sequence[dict[str, Any]], *, in_flight: int, timeout: float = 30.0
) -> tuple[list[float], list[httpx.Response]]:
    """POST every body as JSON with at most ``in_flight`` outstanding; latencies in milliseconds."""
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:

        async def one(body: dict[str, Any]) -> tuple[float, httpx.Response]:
            async with gate:
                started = time.perf_counter()
                response = await client.post(url, json=body)
                return (time.perf_counter() - started) * 1000, response

        results = await asyncio.gather(*(one(body) for body in bodies))
    return [r[0] for r in results], [r[1] for r in results]

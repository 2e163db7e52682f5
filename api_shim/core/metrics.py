"""Prometheus metrics of one shim instance (own registry, so several apps can coexist in tests).

The shim's own HTTP and GraphQL figures are counted in process; job and stage figures come from
Dagster's records through the `JobMetricsCollector` the app attaches with `watch_jobs`.
"""

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector


class JobsSource(Protocol):
    """What `api_shim.job_metrics.JobMetricsCollector` offers the registry."""

    async def refresh(self) -> None: ...

    def collect(self) -> Iterator[Metric]: ...


METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ShimMetrics:
    """HTTP RED metrics per route template, job launches by outcome, GraphQL latency and errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "esl_api_http_requests",
            "HTTP requests answered, by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "esl_api_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.launches = Counter(
            "esl_api_job_launches",
            "Job submissions by outcome (launched, replayed, unavailable, rejected).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.graphql_latency = Histogram(
            "esl_api_dagster_graphql_duration_seconds",
            "Latency of GraphQL calls to the Dagster webserver, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "esl_api_dagster_graphql_errors",
            "Failed GraphQL calls to the Dagster webserver, by operation and kind.",
            ["operation", "kind"],
            registry=self.registry,
        )

        self._jobs = _JobsView()
        self.registry.register(self._jobs)

    def watch_jobs(self, collector: JobsSource | None) -> None:
        """Export `collector`'s job and stage metrics (None: stop, e.g. when the app stops)."""
        self._jobs.source = collector

    async def render_fresh(self) -> bytes:
        """The exposition text, the job metrics refreshed first (at most once per window)."""
        if self._jobs.source is not None:
            await self._jobs.source.refresh()
        return self.render()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _JobsView(Collector):
    """The job metrics of whichever collector the shim watches now (none before startup)."""

    def __init__(self) -> None:
        self.source: JobsSource | None = None

    def collect(self) -> Iterator[Metric]:
        source = self.source
        return source.collect() if source is not None else iter(())

    def describe(self) -> Iterator[Metric]:
        return iter(())

"""Prometheus metrics of one shim instance (own registry, so several apps can coexist in tests)."""

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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

    def render(self) -> bytes:
        return generate_latest(self.registry)

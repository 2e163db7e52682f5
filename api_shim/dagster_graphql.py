"""GraphQL transport to Dagster's webserver: one POST per document over httpx.

Every call maps transport and protocol faults to three exceptions the routes translate:
`DagsterUnavailable` (503: the webserver cannot be reached or the job is not loaded),
`DagsterRejected` (500: Dagster refused a launch we built, e.g. a run-config mismatch) and
`DagsterProtocolError` (500: an answer we do not understand). The readers at the bottom pick
fields out of an answer and raise `DagsterProtocolError` when one has the wrong shape.
"""

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from api_shim.core.metrics import ShimMetrics

logger = logging.getLogger("api_shim.dagster")

# A webserver that does not accept within this is down; an accepted request may still hang.
CONNECT_TIMEOUT_S = 1.0


class DagsterUnavailable(Exception):
    """Dagster could not serve the call; `ambiguous` when a mutation may have taken effect."""

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class DagsterRejected(Exception):
    """Dagster refused a launch (a `launchRun` error union member other than not-found)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class DagsterProtocolError(Exception):
    """An answer that does not have the shape these documents ask for."""


class DagsterGraphQL:
    """Posts documents to one GraphQL endpoint, timing each call and counting its faults.

    Without `metrics` nothing is timed or counted: the job metrics collector reads Dagster while
    Prometheus scrapes, and its reads are not the shim's traffic.
    """

    def __init__(
        self, client: httpx.AsyncClient, url: str, metrics: ShimMetrics | None = None
    ) -> None:
        self._client = client
        self._url = url
        self._metrics = metrics

    async def execute(
        self,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        *,
        mutation: bool = False,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """The `data` of the answer; `timeout_s` bounds the whole request (connect 1 s at most)."""
        started = time.perf_counter()
        timeout = (
            httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
            if timeout_s is not None
            else httpx.USE_CLIENT_DEFAULT
        )
        try:
            # The budget bounds the whole request, not each socket read.
            with anyio.fail_after(timeout_s):
                response = await self._client.post(
                    self._url,
                    json={"query": document, "variables": dict(variables)},
                    timeout=timeout,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self.count_error(operation, "connect")
            raise DagsterUnavailable(f"cannot reach Dagster at {self._url}: {exc!r}") from exc
        except (httpx.TransportError, TimeoutError) as exc:
            # The request may have been delivered: a mutation's effect is unknown.
            self.count_error(operation, "transport")
            raise DagsterUnavailable(
                f"no answer from Dagster at {self._url}: {exc!r}", ambiguous=mutation
            ) from exc
        finally:
            if self._metrics is not None:
                elapsed = time.perf_counter() - started
                self._metrics.graphql_latency.labels(operation).observe(elapsed)
        return self._answer_data(operation, response, mutation=mutation)

    def _answer_data(
        self, operation: str, response: httpx.Response, *, mutation: bool
    ) -> dict[str, Any]:
        if response.status_code >= 500:
            self.count_error(operation, f"http_{response.status_code}")
            raise DagsterUnavailable(
                f"Dagster answered HTTP {response.status_code}", ambiguous=mutation
            )
        try:
            body = response.json()
        except ValueError as exc:
            self.count_error(operation, "not_json")
            raise DagsterProtocolError(
                f"{operation}: HTTP {response.status_code}, body is not JSON"
            ) from exc
        if not isinstance(body, dict):
            self.count_error(operation, "not_object")
            raise DagsterProtocolError(f"{operation}: body is not a JSON object")
        errors = body.get("errors")
        data = body.get("data")
        if errors or not isinstance(data, dict):
            self.count_error(operation, "graphql")
            logger.error(
                "dagster graphql errors",
                extra={"fields": {"operation": operation, "errors": errors}},
            )
            raise DagsterProtocolError(f"{operation}: GraphQL errors {errors!r}")
        return data

    def count_error(self, operation: str, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.graphql_errors.labels(operation, kind).inc()


def object_field(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise DagsterProtocolError(f"field {name!r} missing or not an object")
    return value


def object_list(data: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list):
        raise DagsterProtocolError(f"field {name!r} missing or not a list")
    return [item for item in value if isinstance(item, dict)]


def union_message(result: Mapping[str, Any]) -> str:
    """The text of an error member of a GraphQL result union."""
    if isinstance(result.get("message"), str):
        return str(result["message"])
    errors = result.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "__typename") or "no detail"

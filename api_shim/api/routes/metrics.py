"""Prometheus exposition of the shim's registry, job metrics included."""

from fastapi import APIRouter, Response

from api_shim.api.deps import MetricsDep
from api_shim.core.metrics import METRICS_CONTENT_TYPE

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(registry: MetricsDep) -> Response:
    """Request counts and latency per route, job launches, GraphQL latency and errors, and the job
    and stage metrics read from Dagster (refreshed at most once per `ESL_METRICS_REFRESH_S`)."""
    return Response(await registry.render_fresh(), media_type=METRICS_CONTENT_TYPE)

"""Liveness (no dependency calls) and readiness (Dagster reachable, code location and job loaded)."""

from fastapi import APIRouter, Response

from api_shim.api.deps import GatewayDep, SettingsDep
from api_shim.dagster_gateway import DagsterProtocolError, DagsterUnavailable
from api_shim.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health-live")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health-ready",
    responses={503: {"model": Readiness, "description": "Not ready; see Retry-After."}},
)
async def readyz(response: Response, gateway: GatewayDep, settings: SettingsDep) -> Readiness:
    """Ready when Dagster answers GraphQL and the code location is loaded with the job.

    Answers within `ESL_READINESS_BUDGET_SECONDS` (default 2 s): a hung webserver is not ready.
    """
    try:
        status = await gateway.code_location_status(timeout_s=settings.readiness_budget_s)
    except DagsterUnavailable:
        readiness = Readiness(
            status="not_ready", dagster="unreachable", codeLocation="unknown", job="unknown"
        )
    except DagsterProtocolError:
        readiness = Readiness(
            status="not_ready", dagster="error", codeLocation="unknown", job="unknown"
        )
    else:
        ready = status.location == "loaded" and status.job_present
        readiness = Readiness(
            status="ready" if ready else "not_ready",
            dagster="ok",
            codeLocation=status.location,
            job="present" if status.job_present else "missing",
        )
    if readiness.status != "ready":
        response.status_code = 503
        response.headers["Retry-After"] = str(settings.retry_after_s)
    return readiness

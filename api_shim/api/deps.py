"""FastAPI dependencies: the per-app services built in the lifespan, and bearer-key auth."""

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api_shim.core.config import Settings
from api_shim.core.errors import ApiError
from api_shim.core.metrics import ShimMetrics
from api_shim.dagster_gateway import DagsterGateway
from api_shim.s3_lessons import LessonBucket
from api_shim.submission import JobLauncher

ANONYMOUS = "anonymous"

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="Required on every /jobs route when ESL_API_KEYS is set.",
)


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_gateway(request: Request) -> DagsterGateway:
    gateway: DagsterGateway = request.app.state.gateway
    return gateway


def get_launcher(request: Request) -> JobLauncher:
    launcher: JobLauncher = request.app.state.launcher
    return launcher


def get_lesson_bucket(request: Request) -> LessonBucket | None:
    """The S3 lesson prefix in S3 mode (`ESL_LESSON_S3_URI`), else None."""
    bucket: LessonBucket | None = request.app.state.lesson_bucket
    return bucket


def get_metrics(request: Request) -> ShimMetrics:
    metrics: ShimMetrics = request.app.state.metrics
    return metrics


def get_request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
GatewayDep = Annotated[DagsterGateway, Depends(get_gateway)]
LauncherDep = Annotated[JobLauncher, Depends(get_launcher)]
LessonBucketDep = Annotated[LessonBucket | None, Depends(get_lesson_bucket)]
MetricsDep = Annotated[ShimMetrics, Depends(get_metrics)]
RequestIdDep = Annotated[str | None, Depends(get_request_id)]


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(
        401,
        {"error": "unauthorized", "message": message, "code": code},
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_principal(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """Who is calling: `anonymous` without configured keys, else a digest of the caller's key.

    Every configured key is compared (constant time each), so timing does not tell which matched.
    """
    if not settings.api_keys:
        return ANONYMOUS
    if credentials is None:
        raise _unauthorized("missing_api_key", "Authorization: Bearer <api key> is required")
    presented = credentials.credentials.encode("utf-8")
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(presented, key.encode("utf-8"))
    if not matched:
        raise _unauthorized("invalid_api_key", "the API key is not valid")
    return "key:" + hashlib.sha256(presented).hexdigest()[:16]


PrincipalDep = Annotated[str, Depends(require_principal)]

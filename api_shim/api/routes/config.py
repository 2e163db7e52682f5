"""`/config`: what a client needs to build a job form, from the active config provider."""

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api_shim.api.deps import SettingsDep, require_principal
from api_shim.config_source import ConfigReader, ConfigUnavailable
from api_shim.core.errors import service_unavailable
from api_shim.job_options import job_form_options
from api_shim.schemas import (
    AUTH_AND_INTERNAL_RESPONSES,
    JobOptionsBody,
    OpenApiResponses,
    unavailable_response,
)

logger = logging.getLogger("api_shim.config")

CACHE_CONTROL = "private, max-age=60"

RESPONSES: OpenApiResponses = {
    200: {"headers": {"Cache-Control": {"schema": {"type": "string"}, "example": CACHE_CONTROL}}},
    **AUTH_AND_INTERNAL_RESPONSES,
    503: unavailable_response(
        "The config cannot be read (`code` config_unavailable); see Retry-After."
    ),
}

router = APIRouter(
    prefix="/config",
    tags=["config"],
    dependencies=[Depends(require_principal)],
    responses=RESPONSES,
)


def get_config_reader(request: Request) -> ConfigReader:
    reader: ConfigReader = request.app.state.config_reader
    return reader


ConfigReaderDep = Annotated[ConfigReader, Depends(get_config_reader)]


@router.get("/job-options", operation_id="config-job-options")
async def read_job_options(
    response: Response, reader: ConfigReaderDep, settings: SettingsDep
) -> JobOptionsBody:
    """Presets, students, voices of the active TTS provider, TTS modes, upload targets, Notion
    databases and the defaults a job gets, from the local config folders or the remote config
    provider (whichever the pipeline uses). Cacheable for 60 s."""
    try:
        body = await job_form_options(reader)
    except ConfigUnavailable as exc:
        logger.warning("config unavailable", extra={"fields": {"detail": str(exc)}})
        raise service_unavailable(
            "config_unavailable",
            "the pipeline config cannot be read; retry later",
            settings.retry_after_s,
        ) from exc
    response.headers["Cache-Control"] = CACHE_CONTROL
    return body

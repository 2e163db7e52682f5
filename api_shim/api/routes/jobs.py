"""`/jobs`: the original contract (POST, GET by id) plus list, cancel and rerun."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api_shim.api.deps import (
    GatewayDep,
    LauncherDep,
    LessonBucketDep,
    PrincipalDep,
    RequestIdDep,
    SettingsDep,
    require_principal,
)
from api_shim.api.routes.config import ConfigReaderDep
from api_shim.core.errors import (
    ApiError,
    conflict,
    not_found,
    s3_unavailable,
    service_unavailable,
    validation_failed,
)
from api_shim.dagster_gateway import TerminateOutcome
from api_shim.idempotency import StoreUnavailable
from api_shim.job_options import UnknownPreset, check_preset
from api_shim.job_queries import canonical_job_id, list_jobs, read_job
from api_shim.job_view import job_state
from api_shim.lesson_paths import LessonPathError, resolve_job_lesson
from api_shim.s3_lessons import S3Unavailable
from api_shim.schemas import (
    AUTH_AND_INTERNAL_RESPONSES,
    ErrorBody,
    JobAccepted,
    JobCreate,
    JobList,
    JobState,
    JobStatus,
    NotFoundBody,
    OpenApiResponses,
    RerunRequest,
    unavailable_response,
)
from api_shim.submission import FIRST_OP, IdempotencyConflict, IdempotencyInProgress

logger = logging.getLogger("api_shim.jobs")

COMMON_RESPONSES: OpenApiResponses = {
    **AUTH_AND_INTERNAL_RESPONSES,
    503: unavailable_response("Dagster is unreachable or the job is not loaded; see Retry-After."),
}
VALIDATION_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Invalid request (`error` is validation_failed)."}
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": NotFoundBody, "description": "Unknown or malformed job id."}
}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The job is not in a state that allows this."}
}
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
CURSOR_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class JobListQuery(BaseModel):
    """`GET /jobs` parameters; an unknown one (a typo such as `stat=queued`) is
    `400 unknown_query_parameter` rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")

    state: JobState | None = Field(None, description="Only jobs in this state.")
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = Field(
        None,
        pattern=CURSOR_PATTERN,
        description="`nextCursor` of the previous page (a run id). Anything else is "
        "`400 invalid_cursor`; the cursor of a run that no longer exists ends the list.",
        examples=["0b5b1c0e-4a8e-4f3a-9a57-2f1f3f4e5d6c"],
    )


router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    dependencies=[Depends(require_principal)],
    responses=COMMON_RESPONSES,
)

JobIdPath = Annotated[str, Path(alias="jobId", description="The job id (a UUID).")]


def _job_location(job_id: str) -> str:
    return f"/jobs/{job_id}"


async def _resolve_md(md: str, settings: SettingsDep, bucket: LessonBucketDep) -> str:
    try:
        return await resolve_job_lesson(md, settings, bucket)
    except LessonPathError as exc:
        raise validation_failed(exc.code, exc.message) from exc
    except S3Unavailable as exc:
        logger.warning("s3 unavailable", extra={"fields": {"md": md, "detail": str(exc)}})
        raise s3_unavailable(settings.retry_after_s) from exc


async def _check_preset(preset: str | None, reader: ConfigReaderDep) -> None:
    try:
        await check_preset(reader, preset)
    except UnknownPreset as exc:
        raise validation_failed("unknown_preset", str(exc)) from exc


def _job_id_or_404(raw: str) -> str:
    job_id = canonical_job_id(raw)
    if job_id is None:
        raise not_found()
    return job_id


def _error_example(code: str, message: str, error: str = "validation_failed") -> dict[str, Any]:
    return {"value": {"error": error, "message": message, "code": code}}


CREATE_JOB_BODY_EXAMPLES: dict[str, Any] = {
    "local": {
        "summary": "A lesson inside a lesson root",
        "value": {"md": "./lessons/01-monologue-narrator-fish-market.md"},
    },
    "s3": {
        "summary": "S3 mode (ESL_LESSON_S3_URI=s3://lessons-bucket/teachers): an upload's md",
        "value": {
            "md": "s3://lessons-bucket/teachers/.uploads/"
            "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea.md"
        },
    },
}
CREATE_JOB_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Invalid request (`error` is validation_failed). An `s3://` md outside "
        "the S3 lesson prefix (or without S3 mode) is `md_outside_roots`, one S3 does not have "
        "is `md_not_found`; nothing is launched.",
        "content": {
            "application/json": {
                "examples": {
                    "md_outside_roots": _error_example(
                        "md_outside_roots",
                        "md 's3://other/x.md' is not an object under the S3 lesson prefix "
                        "s3://lessons-bucket/teachers",
                    ),
                    "md_not_found": _error_example(
                        "md_not_found", "md 's3://lessons-bucket/teachers/x.md' was not found"
                    ),
                }
            }
        },
    },
    503: unavailable_response(
        "Nothing launched: Dagster is unreachable (`dagster_unavailable`), the "
        "idempotency store is (`idempotency_store_unavailable`), or for an `s3://` md S3 did "
        "not answer whether the lesson exists (`s3_unavailable`); see Retry-After.",
        {
            "s3_unavailable": _error_example(
                "s3_unavailable",
                "S3 lesson storage is unavailable; retry later",
                "service_unavailable",
            ),
            "dagster_unavailable": _error_example(
                "dagster_unavailable",
                "Dagster is unavailable; retry later",
                "service_unavailable",
            ),
        },
    ),
}


@router.post(
    "",
    status_code=202,
    operation_id="jobs-create",
    responses={
        **CREATE_JOB_ERRORS,
        202: {
            "description": "Accepted; poll the Location. A replayed Idempotency-Key answers "
            "the original job id with `Idempotent-Replayed: true`.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        409: {
            "model": ErrorBody,
            "description": "A request with this Idempotency-Key is in flight.",
        },
        422: {"model": ErrorBody, "description": "Idempotency-Key reused with another body."},
    },
)
async def create_job(
    body: Annotated[JobCreate, Body(openapi_examples=CREATE_JOB_BODY_EXAMPLES)],
    response: Response,
    settings: SettingsDep,
    launcher: LauncherDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
    config_reader: ConfigReaderDep,
    bucket: LessonBucketDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Same key and body: the same job; same key, other body: 422.",
        ),
    ] = None,
) -> JobAccepted:
    """Submit a lesson job (the original contract). Nothing is launched unless `md` is valid
    and the preset, when given, exists in the pipeline config."""
    lesson = await _resolve_md(body.md, settings, bucket)
    await _check_preset(body.preset, config_reader)
    try:
        submission = await launcher.submit(
            body,
            lesson,
            principal=principal,
            idempotency_key=idempotency_key,
            request_id=request_id,
        )
    except (IdempotencyConflict, StoreUnavailable, IdempotencyInProgress) as exc:
        raise _idempotency_error(exc, settings.retry_after_s) from exc
    response.headers["Location"] = _job_location(submission.job_id)
    if submission.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return JobAccepted(jobId=submission.job_id)


def _idempotency_error(exc: Exception, retry_after_s: int) -> ApiError:
    """The answer to a submission the idempotency store refused or could not check."""
    if isinstance(exc, IdempotencyInProgress):
        return conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being processed",
            retry_after_s=1,
        )
    if isinstance(exc, StoreUnavailable):
        return service_unavailable(
            "idempotency_store_unavailable",
            "the idempotency store is unavailable; retry later",
            retry_after_s,
        )
    return ApiError(
        422,
        {
            "error": "idempotency_key_reused",
            "message": "this Idempotency-Key was used with a different request body",
            "code": "idempotency_key_reused",
        },
    )


@router.get(
    "",
    operation_id="jobs-list",
    responses=VALIDATION_RESPONSE,
)
async def list_all_jobs(gateway: GatewayDep, query: Annotated[JobListQuery, Query()]) -> JobList:
    """Jobs, newest first, one entry per job id (its newest run)."""
    page = await list_jobs(gateway, state=query.state, cursor=query.cursor, limit=query.limit)
    return JobList(items=page.items, nextCursor=page.next_cursor)


@router.get("/{jobId}", operation_id="jobs-get", responses=NOT_FOUND_RESPONSE)
async def get_job(job_id: JobIdPath, gateway: GatewayDep) -> JobStatus:
    """The job's state, read from its newest Dagster run (the original contract)."""
    status = await read_job(gateway, _job_id_or_404(job_id))
    if status is None:
        raise not_found()
    return status


@router.post(
    "/{jobId}/cancel",
    status_code=202,
    operation_id="jobs-cancel",
    responses={**NOT_FOUND_RESPONSE, **CONFLICT_RESPONSE},
)
async def cancel_job(job_id: JobIdPath, gateway: GatewayDep) -> JobStatus:
    """Terminate the job's run (a queued run is canceled at once, a running one shortly after)."""
    canonical = _job_id_or_404(job_id)
    run = await gateway.newest_job_run(canonical)
    if run is None:
        raise not_found()
    if job_state(run) in ("succeeded", "failed"):
        raise conflict("job_finished", "the job has already finished")
    result = await gateway.terminate_run(run.run_id)
    if result.outcome is TerminateOutcome.NOT_FOUND:
        raise not_found()
    if result.outcome is TerminateOutcome.REFUSED:
        raise conflict("cancel_refused", result.message or "Dagster refused to terminate the run")
    status = await read_job(gateway, canonical)
    if status is None:
        raise not_found()
    return status


@router.post(
    "/{jobId}/rerun",
    status_code=202,
    operation_id="jobs-rerun",
    responses={
        **VALIDATION_RESPONSE,
        **NOT_FOUND_RESPONSE,
        **CONFLICT_RESPONSE,
        202: {"description": "Accepted", "headers": {"Location": {"schema": {"type": "string"}}}},
    },
)
async def rerun_job(
    job_id: JobIdPath,
    body: Annotated[RerunRequest, Body()],
    response: Response,
    settings: SettingsDep,
    gateway: GatewayDep,
    launcher: LauncherDep,
    request_id: RequestIdDep,
    bucket: LessonBucketDep,
) -> JobAccepted:
    """Run the given stages again from the job's manifest, as a new run of the same job."""
    if len(set(body.steps)) != len(body.steps):
        raise validation_failed("invalid_steps", "steps must not repeat")
    canonical = _job_id_or_404(job_id)
    previous = await gateway.newest_job_run(canonical, with_config=True)
    if previous is None:
        raise not_found()
    if job_state(previous) not in ("succeeded", "failed"):
        raise conflict("job_active", "the job is still queued or running")
    options = _previous_options(previous.run_config)
    if options is None:
        raise conflict("not_rerunnable", "the job's run has no lesson options to rerun")
    lesson = await _resolve_md(str(options["md"]), settings, bucket)
    await launcher.rerun(previous, {**options, "md": lesson}, body.steps, request_id)
    response.headers["Location"] = _job_location(canonical)
    return JobAccepted(jobId=canonical)


def _previous_options(run_config: dict[str, Any] | None) -> dict[str, Any] | None:
    ops = (run_config or {}).get("ops")
    op = ops.get(FIRST_OP) if isinstance(ops, dict) else None
    config = op.get("config") if isinstance(op, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("md"), str):
        return None
    return {key: value for key, value in config.items() if key != "rerun_steps"}

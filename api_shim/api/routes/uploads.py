"""`POST /uploads`: send a lesson file; the answer's `md` is what `POST /jobs` takes."""

import hashlib
import logging
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api_shim.api.deps import LessonBucketDep, SettingsDep, require_principal
from api_shim.api.routes.jobs import COMMON_RESPONSES
from api_shim.core.config import Settings
from api_shim.core.errors import ApiError, s3_unavailable, service_unavailable
from api_shim.s3_lessons import LessonBucket, S3Unavailable
from api_shim.schemas import ErrorBody, unavailable_response
from api_shim.upload_schemas import (
    UPLOAD_EXAMPLES,
    UPLOAD_UNAVAILABLE_EXAMPLES,
    UploadResult,
    ValidationFailedBody,
)
from api_shim.uploads import (
    LessonValidation,
    LessonValidator,
    UploadRejected,
    ValidatorUnavailable,
    check_lesson_bytes,
    read_lesson_file,
    store_lesson,
)

logger = logging.getLogger("api_shim.uploads")

router = APIRouter(
    prefix="/uploads",
    tags=["uploads"],
    dependencies=[Depends(require_principal)],
    responses=COMMON_RESPONSES,
)

MULTIPART_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The lesson: one UTF-8 Markdown file named *.md.",
                    }
                },
            }
        }
    },
}


def _rejected(exc: UploadRejected) -> ApiError:
    error = "payload_too_large" if exc.status == 413 else "validation_failed"
    return ApiError(exc.status, {"error": error, "message": exc.message, "code": exc.code})


def _md_for(path: Path, cwd: Path) -> str:
    """The path relative to PIPELINE_CWD when it lies below it (portable), else absolute."""
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _validator_unavailable(exc: ValidatorUnavailable, settings: Settings) -> ApiError:
    logger.error("upload validation failed to run", extra={"fields": {"detail": str(exc)}})
    return service_unavailable(
        "validator_unavailable",
        "the lesson validator is unavailable; retry later",
        settings.retry_after_s,
    )


async def _store_and_validate(
    data: bytes, settings: Settings, bucket: LessonBucket | None, validator: LessonValidator
) -> tuple[str, LessonValidation]:
    """(md, findings): stored first, then validated, in either mode (strict only changes the
    answer, never what is stored)."""
    try:
        if bucket is None:
            stored = await anyio.to_thread.run_sync(
                store_lesson, data, settings.resolved_upload_dir
            )
            return _md_for(stored.path, settings.resolved_cwd), await validator.validate(stored)
        try:
            put = await anyio.to_thread.run_sync(bucket.store_upload, data)
        except S3Unavailable as exc:
            logger.warning("upload not stored", extra={"fields": {"detail": str(exc)}})
            raise s3_unavailable(settings.retry_after_s) from exc
        logger.info("upload stored", extra={"fields": {"md": put.uri, "written": put.written}})
        return put.uri, await validator.validate_bytes(data)
    except ValidatorUnavailable as exc:
        raise _validator_unavailable(exc, settings) from exc


@router.post(
    "",
    status_code=201,
    operation_id="uploads-create",
    response_model=UploadResult,
    openapi_extra={"requestBody": MULTIPART_BODY},
    responses={
        201: {
            "description": "Stored; `md` is what `POST /jobs` takes: a path in local mode, an "
            "`s3://` URI under `ESL_LESSON_S3_URI` in S3 mode.",
            "content": {"application/json": {"examples": UPLOAD_EXAMPLES}},
        },
        400: {
            "model": ValidationFailedBody,
            "description": "No file (`file_required`), two files (`too_many_files`), not "
            "multipart (`not_multipart`, `invalid_multipart`), not Markdown (`not_markdown`: "
            "name not *.md or binary content), not UTF-8 (`not_utf8`), empty (`empty_file`), "
            "or with `strict=true` an invalid lesson (`lesson_invalid`, findings in `details`).",
        },
        413: {"model": ErrorBody, "description": "The file exceeds ESL_MAX_UPLOAD_BYTES."},
        503: unavailable_response(
            "The lesson validator could not run (`validator_unavailable`), or "
            "in S3 mode S3 did not answer (`s3_unavailable`: unreachable, timeout, 5xx, access "
            "refused; nothing stored).",
            UPLOAD_UNAVAILABLE_EXAMPLES,
        ),
    },
)
async def create_upload(
    request: Request,
    settings: SettingsDep,
    bucket: LessonBucketDep,
    strict: Annotated[
        bool, Query(description="Answer 400 instead of 201 for an invalid lesson.")
    ] = False,
) -> UploadResult | JSONResponse:
    """Store a lesson by content (SHA-256), inside the lesson roots or, in S3 mode, under the S3
    lesson prefix, and validate it (relaxed).

    The same bytes always answer the same `md`. An invalid lesson is stored and answered
    `ok: false`, or with `strict=true` answered 400 (`lesson_invalid`).
    """
    try:
        filename, data = await read_lesson_file(
            request.headers, request.stream(), settings.max_upload_bytes
        )
        check_lesson_bytes(filename, data)
    except UploadRejected as exc:
        raise _rejected(exc) from exc
    validator: LessonValidator = request.app.state.lesson_validator
    md, validation = await _store_and_validate(data, settings, bucket, validator)
    if strict and not validation.ok:
        body = {
            "error": "validation_failed",
            "message": "the lesson is not valid: "
            + "; ".join(str(item.get("message")) for item in validation.errors[:3]),
            "code": "lesson_invalid",
            "details": {"errors": validation.errors, "warnings": validation.warnings},
        }
        return JSONResponse(body, status_code=400)
    return UploadResult.model_validate(
        {
            "md": md,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "validation": {
                "ok": validation.ok,
                "errors": validation.errors,
                "warnings": validation.warnings,
            },
        }
    )

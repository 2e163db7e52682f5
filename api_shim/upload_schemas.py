"""Response models of `POST /uploads` (OpenAPI and validation of the answer)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

UPLOAD_EXAMPLE: dict[str, Any] = {
    "md": "lessons/.uploads/3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea.md",
    "sha256": "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
    "bytes": 1843,
    "validation": {
        "ok": True,
        "errors": [],
        "warnings": [],
    },
}

S3_UPLOAD_EXAMPLE: dict[str, Any] = {
    **UPLOAD_EXAMPLE,
    "md": "s3://lessons-bucket/teachers/.uploads/"
    "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea.md",
}
UPLOAD_EXAMPLES: dict[str, Any] = {
    "local": {
        "summary": "Local mode: a path inside the lesson roots (relative to PIPELINE_CWD)",
        "value": UPLOAD_EXAMPLE,
    },
    "s3": {
        "summary": "S3 mode (ESL_LESSON_S3_URI=s3://lessons-bucket/teachers): the object's URI",
        "value": S3_UPLOAD_EXAMPLE,
    },
}
UPLOAD_UNAVAILABLE_EXAMPLES: dict[str, Any] = {
    "validator_unavailable": {
        "value": {
            "error": "service_unavailable",
            "message": "the lesson validator is unavailable; retry later",
            "code": "validator_unavailable",
        }
    },
    "s3_unavailable": {
        "summary": "S3 mode: S3 did not answer; nothing was stored",
        "value": {
            "error": "service_unavailable",
            "message": "S3 lesson storage is unavailable; retry later",
            "code": "s3_unavailable",
        },
    },
}


class Finding(BaseModel):
    """One validator finding (the engine's `esl validate --json` entries)."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    line: int | None = None


class UploadValidation(BaseModel):
    ok: bool = Field(description="False when the lesson has errors (relaxed validation).")
    errors: list[Finding]
    warnings: list[Finding]


class UploadResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": UPLOAD_EXAMPLE})

    md: str = Field(
        description="Pass as `md` to `POST /jobs`: a path relative to PIPELINE_CWD, or in S3 "
        "mode `s3://<bucket>/<prefix>/.uploads/<sha256>.md`."
    )
    sha256: str = Field(description="SHA-256 of the file's bytes (the storage key).")
    bytes: int = Field(description="Size of the file in bytes.")
    validation: UploadValidation


class ValidationFindings(BaseModel):
    errors: list[Finding]
    warnings: list[Finding]


class ValidationFailedBody(BaseModel):
    """400 envelope; `details` is present for `lesson_invalid` (with `strict=true`)."""

    error: str
    message: str
    code: str
    details: ValidationFindings | None = None

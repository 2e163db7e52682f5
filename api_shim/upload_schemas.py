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

    md: str = Field(description="Pass as `md` to `POST /jobs` (relative to PIPELINE_CWD).")
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

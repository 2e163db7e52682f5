"""Request and response bodies of the `/jobs` API (field names are the original's, camelCase)."""

from typing import Annotated, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

JobState = Literal["queued", "running", "succeeded", "failed"]
UploadTarget = Literal["s3", "auto", "local", "none"]
UPLOAD_TARGETS: Final[tuple[str, ...]] = get_args(UploadTarget)
TtsMode = Literal["auto", "dialogue", "monologue"]
RerunStep = Literal["tts", "upload", "add-audio"]

TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
Timestamp = Annotated[
    str,
    Field(
        pattern=TIMESTAMP_PATTERN,
        description="ISO-8601 UTC with milliseconds, e.g. 2025-01-31T09:15:02.123Z",
    ),
]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class JobCreate(BaseModel):
    """`POST /jobs` body. Only `md` is required; unknown fields are ignored, as in the original."""

    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=False)

    md: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="Lesson file, relative to PIPELINE_CWD or absolute; must be a .md file "
            "inside a lesson root.",
            examples=["./lessons/mission.md"],
        ),
    ]
    preset: Annotated[str, Field(max_length=256)] | None = Field(
        default=None, description="Colour preset name; empty means no preset."
    )
    with_tts: bool | None = Field(
        default=None, alias="withTts", description="Synthesize audio; absent means no audio."
    )
    upload: Annotated[str, Field(max_length=256)] | None = Field(
        default=None,
        description="Upload target: s3, auto, local or none. Free text as in the original: any "
        "other value, like an omitted one, means the deployment default (auto).",
        examples=list(UPLOAD_TARGETS),
    )
    student: ShortText | None = Field(default=None, description="Student profile name.")
    mode: TtsMode | None = Field(default=None, description="TTS mode.")
    voice_id: ShortText | None = Field(default=None, alias="voiceId")
    voice_accent: ShortText | None = Field(default=None, alias="voiceAccent")
    force: bool | None = Field(
        default=None, description="Re-run stages whose inputs are unchanged."
    )
    force_tts: bool | None = Field(
        default=None, alias="forceTts", description="Re-synthesize audio even when cached."
    )
    dry_run: bool | None = Field(
        default=None, alias="dryRun", description="Report what would happen; no side effects."
    )
    notion_database: ShortText | None = Field(default=None, alias="notionDatabase")
    notion_data_source: ShortText | None = Field(default=None, alias="notionDataSource")

    @field_validator("preset")
    @classmethod
    def _empty_preset_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("upload")
    @classmethod
    def _unknown_upload_is_no_override(cls, value: str | None) -> str | None:
        return value if value in UPLOAD_TARGETS else None


class RerunRequest(BaseModel):
    """`POST /jobs/{jobId}/rerun` body: the stages to run again from the job's manifest."""

    model_config = ConfigDict(strict=True, extra="ignore")

    steps: Annotated[list[RerunStep], Field(min_length=1, max_length=3)]


class JobAccepted(BaseModel):
    jobId: str


class JobStatus(BaseModel):
    """The job resource. The first eight fields are the original contract; `runId` is extra."""

    jobId: str
    state: JobState
    createdAt: Timestamp
    updatedAt: Timestamp
    startedAt: Timestamp | None
    finishedAt: Timestamp | None
    error: str | None
    manifestPath: str | None
    runId: str = Field(description="The Dagster run currently representing the job.")


class JobList(BaseModel):
    items: list[JobStatus]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class ErrorBody(BaseModel):
    """Error envelope with a machine-readable `code` (400, 401, 409, 422, 503)."""

    error: str
    message: str
    code: str


class NotFoundBody(BaseModel):
    error: Literal["not_found"]


class InternalErrorBody(BaseModel):
    error: Literal["internal_error"]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    dagster: Literal["ok", "unreachable", "error"]
    codeLocation: Literal["loaded", "loading", "error", "missing", "unknown"]
    job: Literal["present", "missing", "unknown"]

"""Request and response bodies of the `/jobs` API (field names are the original's, camelCase)."""

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

JobState = Literal["queued", "running", "succeeded", "failed"]
UploadTarget = Literal["auto", "s3", "notion", "local", "none"]
UPLOAD_TARGETS: Final[tuple[str, ...]] = get_args(UploadTarget)
TtsMode = Literal["auto", "dialogue", "monologue"]
RerunStep = Literal["tts", "upload", "add-audio"]
StageName = Literal["validate", "import", "colorize", "tts", "upload", "add-audio", "manifest"]
StepStatus = Literal["pending", "running", "succeeded", "skipped", "failed"]

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
            "inside a lesson root. In S3 mode (ESL_LESSON_S3_URI set) also an object under the "
            "S3 lesson prefix, as `s3://<bucket>/<prefix>/<key>.md` (what `POST /uploads` "
            "answers there).",
            examples=["./lessons/01-monologue-narrator-fish-market.md"],
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
        description="Upload target: s3, auto, local, notion or none. Free text as in the "
        "original: any other value, like an omitted one, means the deployment default (auto).",
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

    steps: Annotated[
        list[RerunStep],
        Field(
            min_length=1,
            max_length=3,
            json_schema_extra={"uniqueItems": True},
            description="Distinct stages to run again, in any order.",
        ),
    ]


class JobAccepted(BaseModel):
    jobId: str


class JobStep(BaseModel):
    """One stage of the job, as its newest run that reached it tells (retries included)."""

    name: StageName
    status: StepStatus = Field(
        description="pending (not reached yet), running, succeeded, skipped (not needed, e.g. no "
        "TTS asked, or not reached because an earlier stage failed) or failed."
    )
    startedAt: Timestamp | None
    finishedAt: Timestamp | None
    message: str | None = Field(description="Why it was skipped, or why it failed.")


class JobStatus(BaseModel):
    """The job resource. The first eight fields are the original contract; the rest are extra."""

    jobId: str
    state: JobState
    createdAt: Timestamp
    updatedAt: Timestamp
    startedAt: Timestamp | None
    finishedAt: Timestamp | None
    error: str | None
    manifestPath: str | None
    runId: str = Field(description="The Dagster run currently representing the job.")
    md: str | None = Field(description="The lesson file the job processes.")
    preset: str | None = Field(description="Colour preset asked for; null: the profile's.")
    withTts: bool | None = Field(description="TTS asked for; null: the deployment default.")
    voiceId: str | None
    upload: str | None = Field(description="Upload target asked for; null: the default (auto).")
    voiceAccent: str | None
    forceTts: bool | None
    notionDatabase: str | None
    mode: TtsMode | None = Field(description="TTS mode asked for; null: the default.")
    notionUrl: str | None = Field(description="The Notion page; null in preview mode.")
    audioUrl: str | None = Field(
        description="The audio the page links (what add-audio attached or the upload URL), or "
        "the local MP3 path when nothing was uploaded."
    )
    attempts: int = Field(ge=1, description="Dagster runs of this job so far (retries, reruns).")
    canceled: bool = Field(description="Canceled by a client or operator (state `failed`).")
    steps: list[JobStep] = Field(description="The seven stages, in pipeline order.")


class JobList(BaseModel):
    items: list[JobStatus]
    nextCursor: str | None = Field(
        description="Pass as `cursor` for the next page (a run id); null at the end."
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


TtsProvider = Literal["elevenlabs", "espeak"]


class VoiceOption(BaseModel):
    id: str = Field(description="Pass as `voiceId` (a name works too).")
    name: str
    accent: str | None = Field(description="Accent label, e.g. american; usable as voiceAccent.")
    gender: str | None
    category: str | None
    provider: TtsProvider


class NotionDatabaseOption(BaseModel):
    id: str
    name: str = Field(description="The student whose profile names this database.")


class JobDefaults(BaseModel):
    """What a job gets for a field the request leaves out."""

    preset: str | None = Field(description="The `Default` student profile's preset.")
    withTts: bool
    mode: TtsMode = Field(description="ELEVENLABS_TTS_MODE of the deployment.")
    upload: UploadTarget
    voiceAccent: str | None = Field(description="The `Default` profile's accent preference.")


class JobOptionsBody(BaseModel):
    """`GET /config/job-options`: everything a client needs to build a job form."""

    presets: list[str] = Field(description="Colour preset names, sorted (`preset`).")
    students: list[str] = Field(description="Student profile names (`student`).")
    voices: list[VoiceOption] = Field(description="Voices of the active TTS provider, by name.")
    voiceAccents: list[str] = Field(description="Distinct voice accents (`voiceAccent`).")
    modes: list[TtsMode] = Field(description="TTS modes (`mode`).")
    uploadOptions: list[UploadTarget] = Field(description="Upload targets (`upload`).")
    notionDatabases: list[NotionDatabaseOption]
    ttsProvider: TtsProvider = Field(
        description="elevenlabs when ELEVENLABS_API_KEY is set, else the offline espeak engine."
    )
    configSource: Literal["local", "remote"]
    defaults: JobDefaults


# OpenAPI `responses` entries the routers share.
OpenApiResponses = dict[int | str, dict[str, Any]]
AUTH_AND_INTERNAL_RESPONSES: Final[OpenApiResponses] = {
    401: {"model": ErrorBody, "description": "Missing or invalid API key (when keys are set)."},
    500: {"model": InternalErrorBody, "description": "Unexpected failure."},
}


def unavailable_response(
    description: str, examples: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The OpenAPI entry of a 503 `service_unavailable` answer, which carries Retry-After."""
    response: dict[str, Any] = {
        "model": ErrorBody,
        "description": description,
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
    if examples is not None:
        response["content"] = {"application/json": {"examples": examples}}
    return response

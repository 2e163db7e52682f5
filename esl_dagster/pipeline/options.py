"""The options of one lesson job: every flag of the original ``esl`` run, in snake_case.

The CLI, the Dagster run config and the /jobs shim all build a :class:`JobOptions`; the stages read
nothing else. ``None`` means "not given": the student profile and the settings fill it in at the
start of a run (see ``stages.start_run``).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TtsMode = Literal["auto", "dialogue", "monologue"]
UploadMode = Literal["auto", "s3", "notion", "local", "none"]
RerunStep = Literal["tts", "upload", "add-audio"]

RERUN_STEPS: tuple[RerunStep, ...] = ("tts", "upload", "add-audio")
DEFAULT_RERUN_STEPS: tuple[RerunStep, ...] = ("upload", "add-audio")


class JobOptions(BaseModel):
    """One job's flags. Unknown keys are rejected so a typo in a run config fails loudly."""

    model_config = ConfigDict(extra="forbid")

    md: str = Field(min_length=1, description="Path to the lesson Markdown file.")
    student: str | None = Field(
        default=None, description="Student name: selects the profile and the Notion relation."
    )
    preset: str | None = Field(
        default=None, description="Colour preset name; the student profile's preset when unset."
    )
    with_tts: bool = Field(
        default=False,
        description="Build the MP3 of the study text (off unless asked, as in the original).",
    )
    tts_mode: TtsMode | None = Field(
        default=None, description="auto | dialogue | monologue; ELEVENLABS_TTS_MODE when unset."
    )
    voices: str | None = Field(default=None, description="voices.yml path (speaker -> voice).")
    voice_id: str | None = Field(
        default=None, description="Forced default voice: a catalog id or name."
    )
    accent: str | None = Field(
        default=None, description="Preferred accent for automatic voices (or a voice name/id)."
    )
    upload: UploadMode = Field(
        default="auto",
        description=(
            "auto = S3 when configured, else Notion-hosted when Notion is live, else the local "
            "upload folder; notion = Notion's File Upload API; none = no upload."
        ),
    )
    prefix: str | None = Field(default=None, description="Key prefix; S3_PREFIX when unset.")
    public_read: bool = Field(default=False, description="Upload with the public-read ACL.")
    presign: int | None = Field(
        default=None, ge=1, description="Return a presigned URL valid this many seconds."
    )
    dry_run: bool = Field(
        default=False, description="Report what would happen; write and call nothing."
    )
    force: bool = Field(default=False, description="Run every stage even when unchanged.")
    skip_import: bool = Field(default=False, description="Reuse the page recorded in the manifest.")
    skip_tts: bool = Field(default=False, description="Reuse the audio recorded in the manifest.")
    skip_upload: bool = Field(
        default=False, description="Reuse the audio URL in the manifest; skips add-audio too."
    )
    redo_tts: bool = Field(default=False, description="Rebuild the audio, bypassing its cache.")
    out: str | None = Field(
        default=None, description="Audio output folder; the lesson's folder when unset."
    )
    db_id: str | None = Field(default=None, description="Notion database id.")
    db: str | None = Field(default=None, description="Notion database name.")
    data_source_id: str | None = Field(default=None, description="Notion data source id.")
    data_source: str | None = Field(default=None, description="Notion data source name.")
    dialogue_language: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$", description="ISO 639-1 code for dialogue mode."
    )
    dialogue_stability: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Dialogue stability, 0..1."
    )
    dialogue_seed: int | None = Field(default=None, ge=0, description="Dialogue seed.")
    rerun_steps: list[RerunStep] | None = Field(
        default=None,
        description=(
            "Rerun mode: only these post-import steps run, from the manifest's state; "
            "validate, import and colorize do not run."
        ),
    )

    @property
    def is_rerun(self) -> bool:
        return self.rerun_steps is not None

"""The state one lesson job carries from stage to stage (JSON-serialisable: Dagster passes it
between ops), and what each stage reports."""

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from esl_dagster.pipeline.lesson.parsed import ParsedLesson
from esl_dagster.pipeline.manifest import Manifest, ManifestAudio, NotionRecord, StageRecord
from esl_dagster.pipeline.options import JobOptions

StageName = Literal["validate", "import", "colorize", "tts", "upload", "add-audio", "manifest"]
STAGES: tuple[StageName, ...] = (
    "validate",
    "import",
    "colorize",
    "tts",
    "upload",
    "add-audio",
    "manifest",
)
StageStatus = Literal["success", "skipped", "failed"]


class StageResult(BaseModel):
    """What one stage did: ``success`` (ran, or in a dry run: would run), ``skipped`` (with the
    reason) or ``failed``; ``detail`` is the stage's report (counts, paths, dry-run payloads).
    Frozen: a recorded result is never changed, so the copies of the state share it."""

    model_config = ConfigDict(frozen=True)

    status: StageStatus
    duration_ms: float
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class RunState(BaseModel):
    """Everything the stages of one run share.

    ``options`` are the resolved options (student profile defaults applied); ``options.md`` names
    the lesson as read (a path, or an ``s3://`` URI), ``md_path`` is its local path (the manifest's
    key) and ``lesson`` the job's one read of it, parsed (stages take it through
    ``stages.common.current_lesson``, never from the source). ``previous`` is the manifest found at
    the start; ``records`` holds the stage records of this run's successes and
    is merged into the manifest by the ``manifest`` stage.
    """

    options: JobOptions
    run_id: str
    job_id: str | None = None
    md_path: str
    md_hash: str
    lesson: ParsedLesson
    profile: str
    steps: list[str] = Field(default_factory=list)
    stage_results: dict[str, StageResult] = Field(default_factory=dict)
    page_id: str | None = None
    page_url: str | None = None
    notion: NotionRecord | None = None
    audio: ManifestAudio | None = None
    voice_summary: str | None = None
    colorized: bool = False
    manifest_path: str | None = None
    manifest_written: bool = False
    previous: Manifest | None = None
    records: dict[str, StageRecord] = Field(default_factory=dict)

    def stage_copy(self) -> "RunState":
        """A deep copy for a stage to change (the caller's state stays as it was if the stage
        fails), sharing the frozen parts: the parsed lesson and the results already recorded
        (a dry run's import result holds the whole page payload). Copying those on every stage
        cost more than the stages of an unchanged lesson themselves."""
        shared = [self.lesson, *self.stage_results.values()]
        return copy.deepcopy(self, memo={id(part): part for part in shared})

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def rerun(self) -> bool:
        return self.options.rerun_steps is not None

    def requested(self, stage: str) -> bool:
        """In rerun mode: was ``stage`` asked for? (Always True outside rerun mode.)"""
        steps = self.options.rerun_steps
        return steps is None or stage in steps

    def previous_record(self, stage: str) -> StageRecord | None:
        return self.previous.stages.get(stage) if self.previous else None

    def input_hash_of(self, stage: str) -> str | None:
        """The input hash ``stage`` ran (or was skipped) with in this state's lineage."""
        record = self.records.get(stage) or self.previous_record(stage)
        return record.input_hash if record else None

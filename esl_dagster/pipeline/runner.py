"""The in-process runner: a whole lesson job in this process, stage after stage.

It only loops :func:`~esl_dagster.pipeline.stages.run_stage` over the stages; the Dagster ops
call the same function per op, so no stage logic exists twice. ``run_id`` is taken from the
caller and propagated to every event and to the manifest (the original silently dropped it).
"""

import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.lesson.source import locate_lesson
from esl_dagster.pipeline.manifest import Manifest, ManifestAudio, sha256_hex
from esl_dagster.pipeline.observability import Operation, PipelineTelemetry
from esl_dagster.pipeline.options import JobOptions, RerunStep
from esl_dagster.pipeline.run_state import STAGES, RunState, StageResult
from esl_dagster.pipeline.services import Services, build_services
from esl_dagster.pipeline.settings import Settings
from esl_dagster.pipeline.stages import run_stage, start_run
from esl_dagster.pipeline.tracing import configure_tracing, run_span, stage_span


class AssignmentResult(BaseModel):
    """What a run did: the original's result fields plus the run's ids and per-stage results."""

    run_id: str
    job_id: str | None
    md: str
    dry_run: bool
    steps: list[str]
    stages: dict[str, StageResult]
    page_id: str | None = None
    page_url: str | None = None
    notion_preview: str | None = Field(
        default=None, description="Where the preview payloads are (Notion preview mode)."
    )
    audio: ManifestAudio | None = None
    voice_summary: str | None = None
    colorized: bool = False
    manifest_path: str | None = None
    manifest_written: bool = False

    @classmethod
    def from_state(cls, state: RunState) -> "AssignmentResult":
        """The result as ``state`` holds it: every field the two models share is copied by name;
        the others are named or derived here."""
        shared = cls.model_fields.keys() & RunState.model_fields.keys()
        preview = state.notion.preview_path if state.notion and not state.notion.imported else None
        return cls(
            **{name: getattr(state, name) for name in shared},
            md=state.md_path,
            dry_run=state.dry_run,
            stages=state.stage_results,
            notion_preview=preview,
        )


class AssignmentStatus(BaseModel):
    """``esl status``: the manifest and whether it still matches the lesson and the audio file."""

    manifest_path: str
    manifest: Manifest | None
    md_exists: bool
    md_hash_matches: bool
    audio_file_exists: bool


def new_run_id() -> str:
    return str(uuid.uuid4())


class Pipeline:
    """``new_assignment``, ``rerun_assignment`` and ``get_assignment_status`` over ``services``."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "Pipeline":
        return cls(build_services(settings, **kwargs))

    def _telemetry(self, run_id: str | None, job_id: str | None) -> PipelineTelemetry:
        logger = self.services.logger.bind(run_id=run_id, job_id=job_id)
        return PipelineTelemetry(logger, self.services.metrics)

    def _run(
        self,
        operation: Operation,
        options: JobOptions,
        run_id: str | None,
        job_id: str | None,
        start_detail: dict[str, Any],
    ) -> AssignmentResult:
        run_id = run_id or new_run_id()
        configure_tracing()
        with run_span("lesson", run_id=run_id, traceparent=None, attributes={"esl.md": options.md}):
            telemetry = self._telemetry(run_id, job_id)
            started = telemetry.operation_start(operation, start_detail)
            try:
                state = start_run(options, self.services, run_id=run_id, job_id=job_id)
                for stage in STAGES:
                    with stage_span(stage, run_id=run_id, traceparent=None):
                        state = run_stage(stage, state, self.services)
            except Exception as exc:
                telemetry.operation_failure(operation, started, exc)
                raise
            telemetry.operation_success(operation, started, {"steps": state.steps})
        return AssignmentResult.from_state(state)

    def new_assignment(
        self, options: JobOptions, *, run_id: str | None = None, job_id: str | None = None
    ) -> AssignmentResult:
        """The whole job: validate, import, colorize, tts, upload, add-audio, manifest."""
        if options.rerun_steps is not None:
            options = options.model_copy(update={"rerun_steps": None})
        detail = {"md": options.md, "preset": options.preset, "student": options.student}
        return self._run("newAssignment", options, run_id, job_id, detail)

    def rerun_assignment(
        self,
        md: str,
        steps: list[RerunStep] | None = None,
        *,
        run_id: str | None = None,
        job_id: str | None = None,
        **flags: Any,
    ) -> AssignmentResult:
        """Rerun post-import steps (default: upload and add-audio) from the lesson's manifest.

        ``flags`` are further :class:`JobOptions` fields (``force``, ``dry_run``, ``upload``,
        ``prefix``, ``voices``, ``tts_mode``...).
        """
        options = JobOptions(md=md, rerun_steps=list(steps or []), **flags)
        return self._run("rerunAssignment", options, run_id, job_id, {"md": md, "steps": steps})

    def get_assignment_status(self, md: str) -> AssignmentStatus:
        telemetry = self._telemetry(None, None)
        started = telemetry.operation_start("getAssignmentStatus", {"md": md})
        try:
            # An S3 lesson is compared through its staged copy (no request to S3).
            md_path = str(locate_lesson(md, self.services.settings).path)
            store = self.services.manifest_store
            manifest = store.read_manifest(md_path)
            try:
                current: str | None = sha256_hex(Path(md_path).read_bytes())
            except OSError:
                current = None
            if current is None and manifest is None:
                raise ConfigurationError(
                    f"lesson file not found: {md_path} (and no manifest for it); check the path"
                )
            audio_path = manifest.audio.path if manifest and manifest.audio else None
            status = AssignmentStatus(
                manifest_path=store.manifest_path_for(md_path),
                manifest=manifest,
                md_exists=current is not None,
                md_hash_matches=bool(manifest and current and manifest.md_hash == current),
                audio_file_exists=bool(audio_path and Path(audio_path).is_file()),
            )
        except Exception as exc:
            telemetry.operation_failure("getAssignmentStatus", started, exc)
            raise
        telemetry.operation_success(
            "getAssignmentStatus",
            started,
            {"mdHashMatches": status.md_hash_matches, "audioFileExists": status.audio_file_exists},
        )
        return status


__all__ = ["AssignmentResult", "AssignmentStatus", "Pipeline", "new_run_id"]

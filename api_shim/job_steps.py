"""The seven stages of a job, read from Dagster's step stats and the ops' output metadata.

Each stage is an op of `lesson_job` (`STAGE_OPS`). A job may have several runs (a daemon retry
from failure re-executes only the failed steps, a rerun runs all ops again), so a stage reads as
the newest run that reached its op. The ops write output metadata: `status` (success|skipped),
`reason`, `detail` (JSON), `notion_page` (URL), `audio_path`, `audio_url`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from api_shim.dagster_gateway import DagsterRun, MetadataValue, RunEvents, StepStat
from api_shim.schemas import JobStep, StageName, StepStatus
from api_shim.timestamps import format_optional

STAGE_OPS: Final[tuple[tuple[StageName, str], ...]] = (
    ("validate", "validate_lesson"),
    ("import", "import_to_notion"),
    ("colorize", "colorize_page"),
    ("tts", "synthesize_audio"),
    ("upload", "upload_audio"),
    ("add-audio", "attach_audio"),
    ("manifest", "write_manifest"),
)
TERMINAL_RUN_STATUSES: Final = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
UPSTREAM_FAILED: Final = "not run: an earlier stage did not succeed"


@dataclass(frozen=True)
class StepSource:
    """The run whose stats stand for a stage, and those stats."""

    run: DagsterRun
    stat: StepStat


def step_sources(runs: Sequence[DagsterRun]) -> dict[StageName, StepSource]:
    """Each stage's newest run (runs are newest first) that has stats for the stage's op."""
    sources: dict[StageName, StepSource] = {}
    for stage, op in STAGE_OPS:
        for run in runs:
            stat = next((s for s in run.step_stats if s.step_key == op), None)
            if stat is not None:
                sources[stage] = StepSource(run, stat)
                break
    return sources


def runs_with_step_events(sources: Mapping[StageName, StepSource]) -> list[str]:
    """Runs whose event log holds an output or a failure that a stage reads."""
    needed = [
        source.run.run_id
        for source in sources.values()
        if source.stat.status in ("SUCCESS", "FAILURE")
    ]
    return list(dict.fromkeys(needed))


def stage_outputs(
    sources: Mapping[StageName, StepSource],
    events: Mapping[str, RunEvents],
    stage: StageName,
) -> dict[str, MetadataValue]:
    """The output metadata of a stage's op in its source run (empty when it has none)."""
    source = sources.get(stage)
    if source is None or source.stat.status != "SUCCESS":
        return {}
    run_events = events.get(source.run.run_id)
    return dict(run_events.outputs.get(source.stat.step_key, {})) if run_events else {}


def _text(value: MetadataValue) -> str | None:
    return value if isinstance(value, str) and value else None


def _status(
    source: StepSource, outputs: Mapping[str, MetadataValue], events: Mapping[str, RunEvents]
) -> tuple[StepStatus, str | None]:
    """What the source run's stats and events say of the stage: (status, message)."""
    stat = source.stat
    if stat.status == "SUCCESS":
        status: StepStatus = "skipped" if outputs.get("status") == "skipped" else "succeeded"
        return status, _text(outputs.get("reason"))
    if stat.status == "FAILURE":
        run_events = events.get(source.run.run_id)
        return "failed", run_events.failures.get(stat.step_key) if run_events else None
    if stat.status == "SKIPPED":
        return "skipped", UPSTREAM_FAILED
    if source.run.status in TERMINAL_RUN_STATUSES:
        return "failed", "interrupted: the run ended while this stage ran"
    return "running", None


def _step(
    stage: StageName,
    source: StepSource | None,
    outputs: Mapping[str, MetadataValue],
    events: Mapping[str, RunEvents],
    newest: DagsterRun,
    *,
    job_finished: bool,
) -> JobStep:
    if source is None:
        status: StepStatus = "skipped" if job_finished else "pending"
        return JobStep(name=stage, status=status, startedAt=None, finishedAt=None, message=None)
    status, message = _status(source, outputs, events)
    retry_pending = (
        newest.run_id != source.run.run_id and newest.status not in TERMINAL_RUN_STATUSES
    )
    if status == "failed" and retry_pending:
        # A newer run of the job (a retry from failure) has yet to reach this stage.
        retry_message = f"to be retried after: {message}" if message else None
        return JobStep(
            name=stage, status="pending", startedAt=None, finishedAt=None, message=retry_message
        )
    return JobStep(
        name=stage,
        status=status,
        startedAt=format_optional(source.stat.start_time),
        finishedAt=format_optional(source.stat.end_time) if status != "running" else None,
        message=message,
    )


def job_steps(
    sources: Mapping[StageName, StepSource],
    events: Mapping[str, RunEvents],
    newest: DagsterRun,
    *,
    job_finished: bool,
) -> list[JobStep]:
    """The seven stages in pipeline order (`newest`: the job's newest run)."""
    return [
        _step(
            stage,
            sources.get(stage),
            stage_outputs(sources, events, stage),
            events,
            newest,
            job_finished=job_finished,
        )
        for stage, _op in STAGE_OPS
    ]


def notion_url(
    sources: Mapping[StageName, StepSource], events: Mapping[str, RunEvents]
) -> str | None:
    """The page the job imported to; None when the import ran in preview mode (no token)."""
    imported = stage_outputs(sources, events, "import")
    detail = imported.get("detail")
    if isinstance(detail, dict) and detail.get("imported") is False:
        return None
    stages: tuple[StageName, ...] = ("add-audio", "colorize", "import")
    for stage in stages:
        url = _text(stage_outputs(sources, events, stage).get("notion_page"))
        if url is not None:
            return url
    return None


def audio_url(
    sources: Mapping[StageName, StepSource], events: Mapping[str, RunEvents]
) -> str | None:
    """What add-audio attached, else the upload URL, else the local MP3 path."""
    candidates: tuple[tuple[StageName, str], ...] = (
        ("add-audio", "audio_url"),
        ("upload", "audio_url"),
        ("upload", "audio_path"),
        ("tts", "audio_path"),
    )
    for stage, label in candidates:
        outputs = stage_outputs(sources, events, stage)
        if outputs.get("status") == "skipped":
            continue
        value = _text(outputs.get(label))
        if value is not None:
            return value
    return None

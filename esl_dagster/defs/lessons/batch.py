"""``lesson_batch_job``: a whole folder in ONE run, one dynamic step per lesson.

For large folders one run per lesson costs too much (each run is a fresh process, about 2 s and
2 CPU-seconds; see the benchmark). Each lesson's step runs the engine's ``Pipeline``, as ``esl run``
does;
a transient fault retries that lesson's step (stages are idempotent, design D3), a permanent one
is recorded and the other lessons go on; the summary step fails the run if any lesson failed.
The folder's ``esl.defaults.json`` applies as for the sensor.

Mutual exclusion: the batch run carries no per-lesson tag (one run holds many lessons), so it
should not be started over a folder the sensor is watching at the same time.
"""

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic

from esl_dagster.defs.lessons.ops import SERVICE_RETRY_POLICY
from esl_dagster.defs.lessons.stage_ops import record_error, retry_if_transient, root_cause_message
from esl_dagster.defs.lessons.tags import JOB_ID_TAG
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.resources.lesson_sources import list_folder
from esl_dagster.resources.pipeline import PipelineResource


class BatchConfig(dg.Config):
    folder: str = pydantic.Field(description="Folder whose *.md lessons are processed.")
    dry_run: bool = pydantic.Field(default=False, description="Report only; write nothing.")
    with_tts: bool | None = pydantic.Field(
        default=None,
        description="Build the MP3s; unset: the folder's esl.defaults.json decides (else no audio).",
    )


def _mapping_key(index: int, relative: str) -> str:
    return f"{index:05d}_{re.sub(r'[^A-Za-z0-9_]', '_', relative)}"[:200]


@dg.op(out=dg.DynamicOut(JobOptions), tags={"esl/stage": "discover"})
def discover_lessons(context: dg.OpExecutionContext, config: BatchConfig) -> Any:
    """One dynamic output per lesson of the folder, with the folder's default options."""
    listing = list_folder(Path(config.folder))
    for problem in listing.problems:
        context.log.warning(problem)
    if not listing.candidates and listing.problems:
        raise dg.Failure(description="; ".join(listing.problems), allow_retries=False)
    overrides: dict[str, Any] = {"dry_run": config.dry_run}
    if config.with_tts is not None:
        overrides["with_tts"] = config.with_tts
    for index, candidate in enumerate(listing.candidates):
        options = JobOptions.model_validate(
            {**listing.defaults, **overrides, "md": str(candidate.local_path)}
        )
        yield dg.DynamicOutput(options, mapping_key=_mapping_key(index, candidate.key))


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "lesson"})
def process_lesson(
    context: dg.OpExecutionContext, options: JobOptions, esl: PipelineResource
) -> dg.Output[dict[str, Any]]:
    """Every stage of one lesson; a permanent failure becomes a ``failed`` outcome. What the
    lesson's stages did is the output's metadata (in the step's output event, not an event of
    its own: a batch writes one event fewer per lesson)."""
    from esl_dagster.pipeline.runner import Pipeline  # the engine: imported when a run needs it

    pipeline = Pipeline(esl.services())
    try:
        result = pipeline.new_assignment(
            options, run_id=context.run_id, job_id=context.run.tags.get(JOB_ID_TAG)
        )
    except Exception as exc:  # transient: retried; otherwise this lesson's outcome
        retry_if_transient(context, "lesson", exc)
        error = root_cause_message("lesson", exc)
        failed = {"md": options.md, "status": "failed", "error": error}
        return dg.Output(failed, metadata={"lesson": options.md, "error": error})
    steps = " ".join(result.steps) or "no changes"
    outcome: dict[str, Any] = {
        "md": options.md,
        "status": "succeeded",
        "manifest_path": result.manifest_path,
    }
    return dg.Output(outcome, metadata={"lesson": options.md, "steps": steps})


@dg.op(tags={"esl/stage": "summary"})
def summarize_batch(
    context: dg.OpExecutionContext, outcomes: list[dict[str, Any]]
) -> dg.Output[int]:
    """Count the outcomes; fail the run (listing the failed lessons) if any lesson failed."""
    failed = [outcome for outcome in outcomes if outcome["status"] == "failed"]
    rows = "\n".join(f"| {o['md']} | {o['error'].splitlines()[0]} |" for o in failed)
    metadata: dict[str, Any] = {
        "lessons": len(outcomes),
        "succeeded": len(outcomes) - len(failed),
        "failed": len(failed),
        "failures": dg.MetadataValue.md(
            "| lesson | error |\n|---|---|\n" + rows if failed else "none"
        ),
    }
    if failed:
        message = f"{len(failed)} of {len(outcomes)} lesson(s) failed: " + "; ".join(
            f"{Path(o['md']).name}: {o['error'].splitlines()[0]}" for o in failed
        )
        record_error(context, message)
        raise dg.Failure(description=message, metadata=metadata, allow_retries=False)
    return dg.Output(len(outcomes), metadata=metadata)


@dg.job(
    description="Process every lesson of a folder in one run (dynamic fan-out, one step per lesson).",
    executor_def=dg.in_process_executor,
    tags={"esl/kind": "batch"},
)
def lesson_batch_job() -> None:
    summarize_batch(discover_lessons().map(process_lesson).collect())

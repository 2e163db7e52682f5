"""Nightly revalidation: a small job that validates every lesson in the watched folders and
reports the invalid ones (op metadata lists them; the run fails when any is invalid, so the
schedule's red tick is the alert). It changes nothing: no Notion, TTS, upload or manifest.
"""

import datetime
from typing import Any

import dagster as dg

from esl_dagster.defs.lessons.tags import SOURCE_TAG, outcome_tags
from esl_dagster.resources.lesson_sources import LessonSourcesResource


@dg.op(tags={"esl/stage": "revalidate"})
def revalidate_lessons(
    context: dg.OpExecutionContext, lesson_sources: LessonSourcesResource
) -> dg.Output[int]:
    """Validate each local lesson; output the number of valid lessons."""
    from esl_dagster.pipeline.lesson.validator import validate_file  # markdown-it: only when run

    invalid: list[tuple[str, int, str]] = []
    checked = 0
    problems: list[str] = []
    for listing in lesson_sources.listings():
        problems.extend(listing.problems)
        for candidate in listing.candidates:
            if candidate.key.startswith("s3:"):
                continue  # S3 lessons are validated by their runs after staging
            checked += 1
            result = validate_file(candidate.local_path)
            if not result.ok:
                invalid.append((candidate.key, len(result.errors), result.errors[0].message))
    rows = "\n".join(f"| {key} | {count} | {first} |" for key, count, first in invalid)
    metadata: dict[str, Any] = {
        "checked": checked,
        "invalid": len(invalid),
        "problems": dg.MetadataValue.json(problems),
        "invalid_lessons": dg.MetadataValue.md(
            "| lesson | errors | first error |\n|---|---|---|\n" + rows
            if invalid
            else "All lessons are valid."
        ),
    }
    for problem in problems:
        context.log.warning(problem)
    if invalid or problems:
        message = f"{len(invalid)} of {checked} lesson(s) invalid, {len(problems)} problem(s): " + (
            "; ".join([key for key, _, _ in invalid] + problems)
        )
        context.instance.add_run_tags(
            context.run_id, outcome_tags(context.run_id, context.run.tags, error=message)
        )
        raise dg.Failure(description=message, metadata=metadata, allow_retries=False)
    return dg.Output(checked - len(invalid), metadata=metadata)


@dg.job(
    description="Validate every lesson in the watched folders; fails listing the invalid ones.",
    executor_def=dg.in_process_executor,
    tags={"esl/kind": "revalidation"},
)
def revalidate_folder_job() -> None:
    revalidate_lessons()


@dg.schedule(
    job=revalidate_folder_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Nightly (02:00 UTC) revalidation of the watched lesson folders.",
)
def nightly_revalidation(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time or datetime.datetime.now(datetime.UTC)
    day = scheduled.strftime("%Y-%m-%d")
    return dg.RunRequest(
        run_key=f"revalidate:{day}", tags={SOURCE_TAG: "schedule", "esl/date": day}
    )

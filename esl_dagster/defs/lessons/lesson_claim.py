"""Per-lesson mutual exclusion for launches that did not tag the run (e.g. the UI launchpad).

The run queue guarantees "one run per lesson at a time" through the ``.dagster/esl.lesson_key`` tag with a
limit of 1 per unique value (``dagster.yaml``). The API shim, the sensor and the schedule set that
tag at launch. A run launched without it (UI launchpad, a bare GraphQL call) cannot be held by the
queue, because the job's default tags cannot know the lesson. For those runs ``validate_lesson``
claims the lesson before touching anything: it adds the missing tags to its own run, so every run
of that lesson queued afterwards waits for it in the queue, then waits while an *earlier* started
run of the same lesson is still in progress (earlier by creation time, so two untagged runs never
wait for each other). A run re-executed from the UI copies the visible tags of its parent (not the
hidden lesson key), so it claims the lesson the same way.
"""

import time

import dagster as dg

from esl_dagster.defs.lessons.tags import (
    JOB_ID_TAG,
    LESSON_KEY_TAG,
    SOURCE_TAG,
    lesson_run_tags,
    reexecuted_from_ui,
)
from esl_dagster.pipeline.errors import PipelineError
from esl_dagster.pipeline.options import JobOptions

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
CLAIM_POLL_SECONDS = 2.0
CLAIM_TIMEOUT_SECONDS = 3600.0


class LessonBusyError(PipelineError):
    """Another run of the same lesson kept running past the claim timeout."""

    code = "lesson_busy"


def claim_lesson(
    context: dg.OpExecutionContext,
    options: JobOptions,
    *,
    poll_seconds: float = CLAIM_POLL_SECONDS,
    timeout_seconds: float = CLAIM_TIMEOUT_SECONDS,
) -> None:
    """Tag an untagged run with its lesson key, then wait for earlier runs of that lesson.

    A run re-executed from the UI is marked ``esl/source: ui`` (it copied its parent's source).
    """
    tags = context.run.tags
    if reexecuted_from_ui(tags) and tags.get(SOURCE_TAG) != "ui":
        context.instance.add_run_tags(context.run_id, {SOURCE_TAG: "ui"})
    if LESSON_KEY_TAG in tags:
        return
    wanted = lesson_run_tags(
        options, source="ui", lesson=options.md, job_id=tags.get(JOB_ID_TAG) or context.run_id
    )
    context.instance.add_run_tags(
        context.run_id, {key: value for key, value in wanted.items() if key not in tags}
    )
    key = wanted[LESSON_KEY_TAG]
    own = context.instance.get_run_record_by_id(context.run_id)
    own_created = own.create_timestamp if own is not None else None
    deadline = time.monotonic() + timeout_seconds
    while True:
        earlier = [
            record.dagster_run.run_id
            for record in context.instance.get_run_records(
                filters=dg.RunsFilter(tags={LESSON_KEY_TAG: key}, statuses=IN_PROGRESS)
            )
            if record.dagster_run.run_id != context.run_id
            and (own_created is None or record.create_timestamp < own_created)
        ]
        if not earlier:
            return
        if time.monotonic() >= deadline:
            raise LessonBusyError(
                f"lesson {options.md} is still being processed by run {earlier[0]}; try again later"
            )
        context.log.info(f"waiting for run {earlier[0]} of the same lesson to finish")
        time.sleep(poll_seconds)

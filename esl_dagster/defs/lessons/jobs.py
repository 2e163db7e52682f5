"""``lesson_job``: one run per lesson, one op per stage, in-process executor by default (D9)."""

import dagster as dg

from esl_dagster.defs.lessons.ops import LATER_STAGE_OPS, SERVICE_RETRY_POLICY, validate_lesson
from esl_dagster.defs.lessons.stage_ops import record_error_from_hook

LESSON_JOB_DESCRIPTION = (
    "Validate an ESL lesson, import it into Notion, colour its headings, speak its study text to "
    "an MP3, upload the MP3, attach it to the page and record the manifest. Run config: the job "
    "options on validate_lesson. Launches must carry the .dagster/esl.lesson_key tag (the API, sensor and "
    "schedule set it; a launch without it claims the lesson in validate_lesson)."
)


def build_lesson_job(
    name: str = "lesson_job",
    *,
    retry_policy: dg.RetryPolicy = SERVICE_RETRY_POLICY,
    executor_def: dg.ExecutorDefinition = dg.in_process_executor,
) -> dg.JobDefinition:
    """The lesson graph as a job; tests pass a fast ``retry_policy``, the benchmark an executor."""

    @dg.graph(name="lesson_graph", description=LESSON_JOB_DESCRIPTION)
    def lesson_graph() -> None:
        state = validate_lesson.with_retry_policy(retry_policy)()
        for op_def in LATER_STAGE_OPS:
            state = op_def.with_retry_policy(retry_policy)(state)

    return lesson_graph.to_job(
        name=name,
        description=LESSON_JOB_DESCRIPTION,
        executor_def=executor_def,
        hooks={record_error_from_hook},
        tags={"esl/kind": "lesson"},
    )


lesson_job = build_lesson_job()


def get_lesson_job() -> dg.JobDefinition:
    """``lesson_job`` for ``dg.reconstructable`` (multiprocess execution)."""
    return lesson_job

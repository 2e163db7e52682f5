"""The seven ops of ``lesson_job``, one per engine stage; each only calls ``run_stage``.

``validate_lesson`` takes the job options as its typed config, starts the run state and claims the
lesson (see :mod:`esl_dagster.defs.lessons.lesson_claim`); the others take the state produced by
the op before them.
"""

import dagster as dg

from esl_dagster.defs.lessons.launch_guard import refuse_abandoned_launch
from esl_dagster.defs.lessons.lesson_claim import claim_lesson
from esl_dagster.defs.lessons.run_config import LessonRunConfig
from esl_dagster.defs.lessons.stage_ops import (
    execute_stage,
    fail_or_retry,
    mark_step,
    stage_trace,
)
from esl_dagster.defs.lessons.tags import JOB_ID_TAG
from esl_dagster.pipeline.retry_budget import OP_MAX_RETRIES
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.stages import start_run
from esl_dagster.resources.pipeline import PipelineResource

# Exponential waits of 1, 3, 7 and 15 s (Dagster computes delay * (2**n - 1)): five attempts, as
# in the original. Every op carries it because every stage may call a service (validate_lesson
# reads the config provider, which may be remote). It retries only transient faults that no client
# retried already (pipeline/retry_budget.py); invalid input and faults a client gave up on are
# raised as ``Failure(allow_retries=False)``.
SERVICE_RETRY_POLICY = dg.RetryPolicy(
    max_retries=OP_MAX_RETRIES, delay=1, backoff=dg.Backoff.EXPONENTIAL
)


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "validate"})
def validate_lesson(
    context: dg.OpExecutionContext, config: LessonRunConfig, esl: PipelineResource
) -> dg.Output[RunState]:
    """Resolve the job options, read the lesson and its manifest, then validate the lesson."""
    services = esl.services()
    mark_step(context, services)  # the config provider's requests count for the stage
    with stage_trace(context, "validate"):  # the config provider's requests are in the span too
        try:
            refuse_abandoned_launch(context)
            options = config.to_options()
            claim_lesson(context, options)
            state = start_run(
                options, services, run_id=context.run_id, job_id=context.run.tags.get(JOB_ID_TAG)
            )
        except Exception as exc:  # classified by fail_or_retry
            fail_or_retry(context, "validate", exc, services)
        return execute_stage(context, "validate", state, services)


def _stage_op(name: str, stage: str, description: str) -> dg.OpDefinition:
    """An op that runs one engine stage on the state the op before it produced."""

    @dg.op(
        name=name,
        description=description,
        retry_policy=SERVICE_RETRY_POLICY,
        tags={"esl/stage": stage},
    )
    def run_one_stage(
        context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
    ) -> dg.Output[RunState]:
        return execute_stage(context, stage, state, esl.services())

    return run_one_stage


import_to_notion = _stage_op(
    "import_to_notion",
    "import",
    "Create or update the lesson's Notion page (preview payloads without NOTION_TOKEN).",
)
colorize_page = _stage_op(
    "colorize_page", "colorize", "Apply the colour preset to the page's headings."
)
synthesize_audio = _stage_op(
    "synthesize_audio",
    "tts",
    "Speak the study text to an MP3 (ElevenLabs, or espeak-ng without ELEVENLABS_API_KEY).",
)
upload_audio = _stage_op(
    "upload_audio",
    "upload",
    "Upload the MP3 (S3/MinIO; without S3, Notion itself when it is live, else the local "
    "upload folder).",
)
attach_audio = _stage_op(
    "attach_audio", "add-audio", "Place (or replace) the audio block above the study-text toggle."
)
write_manifest = _stage_op(
    "write_manifest",
    "manifest",
    "Record the run in the manifest; its path becomes the run tag ``esl/manifest_path``.",
)

# The ops after ``validate_lesson``, in stage order: each takes the state the one before produced.
LATER_STAGE_OPS = (
    import_to_notion,
    colorize_page,
    synthesize_audio,
    upload_audio,
    attach_audio,
    write_manifest,
)

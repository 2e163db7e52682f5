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
from esl_dagster.resources.services import PipelineResource

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


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "import"})
def import_to_notion(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Create or update the lesson's Notion page (preview payloads without NOTION_TOKEN)."""
    return execute_stage(context, "import", state, esl.services())


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "colorize"})
def colorize_page(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Apply the colour preset to the page's headings."""
    return execute_stage(context, "colorize", state, esl.services())


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "tts"})
def synthesize_audio(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Speak the study text to an MP3 (ElevenLabs, or espeak-ng without ELEVENLABS_API_KEY)."""
    return execute_stage(context, "tts", state, esl.services())


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "upload"})
def upload_audio(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Upload the MP3 (S3/MinIO; without S3, Notion itself when it is live, else the local
    upload folder)."""
    return execute_stage(context, "upload", state, esl.services())


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "add-audio"})
def attach_audio(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Place (or replace) the audio block above the study-text toggle."""
    return execute_stage(context, "add-audio", state, esl.services())


@dg.op(retry_policy=SERVICE_RETRY_POLICY, tags={"esl/stage": "manifest"})
def write_manifest(
    context: dg.OpExecutionContext, state: RunState, esl: PipelineResource
) -> dg.Output[RunState]:
    """Record the run in the manifest; its path becomes the run tag ``esl/manifest_path``."""
    return execute_stage(context, "manifest", state, esl.services())

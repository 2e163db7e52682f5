"""Running one stage: decide, then act (or record the skip), with telemetry and the stage record.

``STAGE_FUNCTIONS`` maps each stage name to its ``(decide, act)`` pair from the stage modules.
"""

import time

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.manifest import StageRecord, utc_timestamp
from esl_dagster.pipeline.observability import PipelineTelemetry
from esl_dagster.pipeline.run_state import STAGES, RunState, StageResult
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import Act, Decide, Skip, one_line
from esl_dagster.pipeline.stages.lesson import act_validate, decide_validate
from esl_dagster.pipeline.stages.manifest import act_manifest, decide_manifest
from esl_dagster.pipeline.stages.media import act_tts, act_upload, decide_tts, decide_upload
from esl_dagster.pipeline.stages.notion import (
    act_add_audio,
    act_colorize,
    act_import,
    decide_add_audio,
    decide_colorize,
    decide_import,
)


def _telemetry(state: RunState, services: Services) -> PipelineTelemetry:
    logger = services.logger.bind(run_id=state.run_id, job_id=state.job_id)
    return PipelineTelemetry(logger, services.metrics)


def run_stage(stage: str, state: RunState, services: Services) -> RunState:
    """Run one stage (or record why it is skipped) on a copy of ``state`` and return the copy.

    Emits ``stage.<name>.start|success|skipped|failure`` and the stage metrics; raises the shared
    errors on failure (``transient`` only for retryable faults), after recording the failure.
    """
    if stage not in STAGE_FUNCTIONS:
        raise ConfigurationError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    decide, act = STAGE_FUNCTIONS[stage]
    state = state.model_copy(deep=True)
    telemetry = _telemetry(state, services)
    started = time.perf_counter()
    try:
        decision = decide(state, services)
        if isinstance(decision, Skip):
            if decision.token:
                state.steps.append(decision.token)
            state.stage_results[stage] = StageResult(
                status="skipped",
                duration_ms=_elapsed_ms(started),
                reason=decision.reason,
                detail=decision.detail,
            )
            telemetry.stage_skipped(stage, decision.reason)
            return state
        started = telemetry.stage_start(stage)
        outcome = act(state, services)
    except Exception as exc:
        telemetry.stage_failure(stage, started, exc)
        state.stage_results[stage] = StageResult(
            status="failed", duration_ms=_elapsed_ms(started), reason=one_line(exc)
        )
        raise
    state.steps.extend(outcome.tokens)
    if state.dry_run:
        outcome.detail = {"dryRun": True, **outcome.detail}
    elif stage != "manifest":
        state.records[stage] = StageRecord(
            input_hash=decision,
            completed_at=utc_timestamp(),
            run_id=state.run_id,
            outputs=outcome.outputs,
        )
    duration = telemetry.stage_success(stage, started, outcome.detail)
    state.stage_results[stage] = StageResult(
        status="success", duration_ms=duration, detail=outcome.detail
    )
    return state


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


STAGE_FUNCTIONS: dict[str, tuple[Decide, Act]] = {
    "validate": (decide_validate, act_validate),
    "import": (decide_import, act_import),
    "colorize": (decide_colorize, act_colorize),
    "tts": (decide_tts, act_tts),
    "upload": (decide_upload, act_upload),
    "add-audio": (decide_add_audio, act_add_audio),
    "manifest": (decide_manifest, act_manifest),
}

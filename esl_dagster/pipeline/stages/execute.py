"""Running one stage: decide, then act (or record the skip), with telemetry and the stage record.

``STAGE_FUNCTIONS`` maps each stage name to its ``(decide, act)`` pair from the stage modules.
A stage module (with the libraries it needs: markdown-it, httpx, the speech engines) is imported
when its stage first runs, so importing this module (the Dagster code location does) stays light.
"""

import importlib
import time
from typing import Any

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.manifest import StageRecord, utc_timestamp
from esl_dagster.pipeline.observability import PipelineTelemetry
from esl_dagster.pipeline.run_state import STAGES, RunState, StageResult
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import Act, Decide, Skip, one_line

# Stage name -> (module under esl_dagster.pipeline.stages, decide function, act function).
STAGE_IMPLEMENTATIONS: dict[str, tuple[str, str, str]] = {
    "validate": ("lesson", "decide_validate", "act_validate"),
    "import": ("notion", "decide_import", "act_import"),
    "colorize": ("notion", "decide_colorize", "act_colorize"),
    "tts": ("media", "decide_tts", "act_tts"),
    "upload": ("media", "decide_upload", "act_upload"),
    "add-audio": ("notion", "decide_add_audio", "act_add_audio"),
    "manifest": ("write_manifest", "decide_manifest", "act_manifest"),
}


def stage_functions(stage: str) -> tuple[Decide, Act]:
    """The ``(decide, act)`` pair of ``stage``, importing its module on first use."""
    module_name, decide_name, act_name = STAGE_IMPLEMENTATIONS[stage]
    module = importlib.import_module(f"esl_dagster.pipeline.stages.{module_name}")
    decide: Decide = getattr(module, decide_name)
    act: Act = getattr(module, act_name)
    return decide, act


def __getattr__(name: str) -> Any:
    """``STAGE_FUNCTIONS``: every stage's pair (imports every stage module)."""
    if name == "STAGE_FUNCTIONS":
        return {stage: stage_functions(stage) for stage in STAGE_IMPLEMENTATIONS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _telemetry(state: RunState, services: Services) -> PipelineTelemetry:
    logger = services.logger.bind(run_id=state.run_id, job_id=state.job_id)
    return PipelineTelemetry(logger, services.metrics)


def run_stage(stage: str, state: RunState, services: Services) -> RunState:
    """Run one stage (or record why it is skipped) on a copy of ``state`` and return the copy.

    Emits ``stage.<name>.start|success|skipped|failure`` and the stage metrics; raises the shared
    errors on failure (``transient`` only for retryable faults), after recording the failure.
    """
    if stage not in STAGE_IMPLEMENTATIONS:
        raise ConfigurationError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    decide, act = stage_functions(stage)
    state = state.stage_copy()
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

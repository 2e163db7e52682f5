"""The ``validate`` stage: it reports the validation of the lesson ``start_run`` read and parsed
(the ``validate_lesson`` op runs both, so its output state carries the parsed lesson)."""

from esl_dagster.pipeline.errors import ValidationError
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages.common import (
    Outcome,
    Skip,
    input_hash,
    unchanged,
)


def decide_validate(state: RunState, _services: Services) -> Skip | str:
    if state.rerun:
        return Skip("not requested")
    digest = input_hash("validate", md_hash=state.md_hash, strict=False)
    if unchanged(state, "validate", digest):
        return Skip.unchanged("validate")
    return digest


def act_validate(state: RunState, services: Services) -> Outcome:
    result = state.lesson.validation  # read by start_run in this same op: nothing to re-check
    if not result.ok:
        raise ValidationError(result.error_summary(), [f.message for f in result.errors])
    warnings = [f.message for f in result.warnings]
    if warnings:
        services.logger.bind(run_id=state.run_id, job_id=state.job_id).log(
            "warn", "validation.warnings", stage="validate", detail={"warnings": warnings}
        )
    return Outcome(
        detail={"warnings": warnings}, tokens=["validate"], outputs={"warnings": len(warnings)}
    )

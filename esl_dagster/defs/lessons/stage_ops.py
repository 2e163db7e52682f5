"""How a lesson op runs one engine stage: call ``run_stage``, turn its ``StageResult`` into output
metadata, and turn engine errors into Dagster's retry decisions (design D2).

- transient fault (``PipelineError.transient``) that no client retried already, with attempts
  left: retried; after the server's ``Retry-After`` when it sent one (``RetryRequested``), else on
  the op's ``RetryPolicy`` (one retry layer per call, see ``pipeline/retry_budget.py``);
- anything else, or the last attempt: ``dg.Failure(allow_retries=False)`` carrying the root-cause
  message, which is also written to the run tag ``esl/error`` for the API shim.

Both the output metadata and the failure metadata carry ``stage`` and ``esl/counters``: what the
engine's ``CountingMetrics`` counted during the step, every attempt included (external requests by
service and status, retries, TTS characters, uploads). The API shim's metrics collector sums them
from Dagster's event log, because a run worker's own counters die with its process.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NoReturn

import dagster as dg
import pydantic

from esl_dagster.defs.lessons.tags import JOB_ID_TAG, TRACEPARENT_TAG, outcome_tags
from esl_dagster.pipeline.errors import (
    PipelineError,
    ServiceError,
    ValidationError,
    needs_step_retry,
)
from esl_dagster.pipeline.observability import CountingMetrics, counters_report
from esl_dagster.pipeline.run_state import RunState
from esl_dagster.pipeline.services import Services
from esl_dagster.pipeline.stages import run_stage
from esl_dagster.pipeline.tracing import configure_tracing, stage_span, trace_fields

# A server asking for a longer pause than this is answered with this pause (the attempt after it
# may get another Retry-After); it keeps one op from sleeping unboundedly.
MAX_RETRY_AFTER_SECONDS = 120.0


def root_cause_message(stage: str, exc: BaseException) -> str:
    """The one-line-per-fact message the user sees for ``exc`` raised by ``stage``."""
    if isinstance(exc, ValidationError) and exc.details:
        message = str(exc)
        missing = [detail for detail in exc.details if detail not in message]
        return "\n".join([message, *(f"- {detail}" for detail in missing)])
    if isinstance(exc, PipelineError):
        return str(exc)
    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        return f"Invalid job options: {problems}"
    return f"{stage}: unexpected {exc.__class__.__name__}: {exc}"


def record_error(context: dg.OpExecutionContext, message: str) -> None:
    """Write the ``esl/error`` run tag (the shim reads it with the run status)."""
    context.instance.add_run_tags(
        context.run_id, outcome_tags(context.run_id, context.run.tags, error=message)
    )


def retry_if_transient(context: dg.OpExecutionContext, stage: str, exc: BaseException) -> None:
    """Raise a retry when ``exc`` is transient, no client retried it already, and the op has
    attempts left; else return."""
    policy = context.job_def.get_retry_policy_for_handle(context.op_handle)
    max_retries = policy.max_retries if policy else 0
    attempt = context.retry_number
    if not (needs_step_retry(exc) and attempt < max_retries):
        return
    context.log.warning(
        f"{stage}: transient failure on attempt {attempt + 1} of {max_retries + 1}: {exc}"
    )
    retry_after = exc.retry_after if isinstance(exc, ServiceError) else None
    if retry_after is not None:
        raise dg.RetryRequested(
            max_retries=max_retries,
            seconds_to_wait=min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS),
        ) from exc
    raise exc


def _step_name(context: dg.OpExecutionContext) -> str:
    mapping_key = context.get_mapping_key()
    return f"{context.op_handle}[{mapping_key}]" if mapping_key else str(context.op_handle)


def mark_step(context: dg.OpExecutionContext, services: Services) -> None:
    """Start counting this step's engine metrics (a retried attempt keeps the first mark)."""
    if isinstance(services.metrics, CountingMetrics):
        services.metrics.mark(_step_name(context))


def step_counters(context: dg.OpExecutionContext, services: Services) -> dict[str, Any]:
    """``{"esl/counters": ...}``: what the step counted since ``mark_step`` (empty when it
    counted nothing, or without counting metrics)."""
    if not isinstance(services.metrics, CountingMetrics):
        return {}
    counts = services.metrics.since(_step_name(context))
    return {"esl/counters": dg.MetadataValue.json(counters_report(counts))} if counts else {}


def fail_or_retry(
    context: dg.OpExecutionContext, stage: str, exc: BaseException, services: Services
) -> NoReturn:
    """Raise what Dagster should do about ``exc``: a retry while attempts remain, else a Failure.

    A fault of Dagster's own storage (an engine event the run logs could not be written) is not
    the lesson's: it is raised as it is, for the op's ``RetryPolicy`` and then the relaunch
    sensor, and records no ``esl/error``."""
    if is_storage_fault(exc):
        raise exc
    retry_if_transient(context, stage, exc)
    message = root_cause_message(stage, exc)
    record_error(context, message)
    metadata: dict[str, Any] = {
        "stage": stage,
        "attempts": context.retry_number + 1,
        **trace_fields(),
        **step_counters(context, services),
    }
    if isinstance(exc, PipelineError):
        metadata["code"] = exc.code
        metadata["transient"] = exc.transient
    raise dg.Failure(description=message, metadata=metadata, allow_retries=False) from exc


def stage_metadata(stage: str, state: RunState, wall_seconds: float) -> dict[str, Any]:
    """Output metadata of a stage op: status, timings, reason, detail and the links it produced."""
    result = state.stage_results[stage]
    metadata: dict[str, Any] = {
        "stage": stage,
        "status": result.status,
        "stage_duration_ms": dg.MetadataValue.float(round(result.duration_ms, 3)),
        "op_duration_s": dg.MetadataValue.float(round(wall_seconds, 3)),
    }
    if result.reason:
        metadata["reason"] = dg.MetadataValue.text(result.reason)
    if result.detail:
        metadata["detail"] = dg.MetadataValue.json(result.detail)
    if stage in ("import", "colorize", "add-audio") and state.page_url:
        metadata["notion_page"] = dg.MetadataValue.url(state.page_url)
    if stage in ("tts", "upload") and state.audio is not None and state.audio.path:
        metadata["audio_path"] = dg.MetadataValue.path(state.audio.path)
    if stage in ("upload", "add-audio") and state.audio is not None and state.audio.url:
        metadata["audio_url"] = dg.MetadataValue.url(state.audio.url)
    if stage == "manifest" and has_manifest(state):
        metadata["manifest_path"] = dg.MetadataValue.path(str(state.manifest_path))
    return metadata


def has_manifest(state: RunState) -> bool:
    """True when the manifest on disk describes this run: written now, or unchanged and kept.

    A dry run writes nothing, so it has none (design D4).
    """
    return bool(state.manifest_path) and not state.options.dry_run


# Set while an op's stage span is open: ``execute_stage`` inside ``validate_lesson`` reuses it.
_STAGE_SPAN_OPEN: ContextVar[bool] = ContextVar("esl_stage_span_open", default=False)


@contextmanager
def stage_trace(context: dg.OpExecutionContext, stage: str) -> Iterator[None]:
    """The op's stage span, child of the run's ``traceparent`` tag (see the module docstring);
    inside an open one (an op that wraps its preparation too) it adds nothing."""
    if _STAGE_SPAN_OPEN.get():
        yield
        return
    configure_tracing()
    tags = context.run.tags
    job = {"esl.job_id": tags[JOB_ID_TAG]} if JOB_ID_TAG in tags else {}
    token = _STAGE_SPAN_OPEN.set(True)
    try:
        with stage_span(
            stage, run_id=context.run_id, traceparent=tags.get(TRACEPARENT_TAG), attributes=job
        ):
            yield
    finally:
        _STAGE_SPAN_OPEN.reset(token)


def execute_stage(
    context: dg.OpExecutionContext, stage: str, state: RunState, services: Services
) -> dg.Output[RunState]:
    """Run ``stage`` on ``state``; the new state is the op's output.

    The stage is recorded under the run executing it: a run retry or a re-execution from failure
    loads the state its parent's ops produced, which names the parent run.
    """
    started = time.perf_counter()
    if state.run_id != context.run_id:
        state = state.model_copy(update={"run_id": context.run_id})
    mark_step(context, services)
    with stage_trace(context, stage):
        trace = trace_fields()
        try:
            new_state = run_stage(stage, state, services)
        except Exception as exc:  # every failure is classified, none escapes unlabelled
            fail_or_retry(context, stage, exc, services)
    if stage == "manifest" and has_manifest(new_state):
        context.instance.add_run_tags(
            context.run_id,
            outcome_tags(
                context.run_id, context.run.tags, manifest_path=str(new_state.manifest_path)
            ),
        )
    metadata = stage_metadata(stage, new_state, time.perf_counter() - started)
    return dg.Output(new_state, metadata={**metadata, **trace, **step_counters(context, services)})


def is_storage_fault(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what caused it) is Dagster's own storage out of reach: an event
    write (the engine's log records are events too) or a tag update met a database error (dagster-postgres gives up with "too many
    retries for DB connection" during a Postgres outage). That is the infrastructure, not the
    lesson: the run keeps no ``esl/error``, so the relaunch sensor relaunches the job."""
    from sqlalchemy.exc import SQLAlchemyError  # only Dagster's storage uses SQLAlchemy here

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SQLAlchemyError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@dg.failure_hook(name="record_esl_error")
def record_error_from_hook(context: dg.HookContext) -> None:
    """Fallback for failures the ops did not classify (e.g. a resource that failed to start).

    A ``dg.Failure`` comes from ``fail_or_retry``, which already wrote ``esl/error``. Anything else
    is recorded even when the run carries the tag: a run retried by the daemon or re-executed from
    the UI inherits its parent's tags, and the parent's message is not this failure's cause.
    """
    exc = context.op_exception
    if isinstance(exc, dg.Failure) or is_storage_fault(exc):
        return
    message = (
        root_cause_message(context.op.name, exc)
        if exc is not None
        else f"{context.op.name}: failed"
    )
    run = context.instance.get_run_by_id(context.run_id)
    run_tags = run.tags if run is not None else {}
    context.instance.add_run_tags(
        context.run_id, outcome_tags(context.run_id, run_tags, error=message)
    )

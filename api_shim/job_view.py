"""How the Dagster runs of one job read as the job resource of `/jobs`.

A job is every run tagged with its `esl/job_id` (the shim's launch, a daemon retry, a reconciler
relaunch, a UI re-execution, a rerun). The newest run gives the state, with two rules that keep the
state monotonic: a job none of whose runs started reads `queued`; once one started, or failed
for the infrastructure (read `running` while its retry or relaunch comes), it never reads
`queued` again (`running` until the newest run ends). `startedAt` is the first real start
over the runs and `createdAt` the first creation. `job_resource` is the one function that turns
that run data into the resource; `job_queries` fetches the data.

A failed run is final only when it says so: the run (or the relaunch sensor of the code location,
when it gives up) writes its own `esl/error` for every failure that ends the job. A failed run
without it is an infrastructure failure on its way to a retry (Dagster writes the FAILURE status
and its `dagster/will_retry` tag in two steps) or to a relaunch, so it reads as not finished;
after `FAILURE_SETTLE_S` (the relaunch sensor switched off) it reads `failed` all the same.
"""

import time
from collections.abc import Mapping
from typing import Any, Final, get_args

from api_shim.dagster_gateway import DagsterRun, JobHistory, RunEvents
from api_shim.job_steps import (
    audio_url,
    job_steps,
    notion_url,
    runs_with_step_events,
    step_sources,
)
from api_shim.schemas import JobState, JobStatus, TtsMode
from api_shim.timestamps import format_optional, format_timestamp, submitted_at

ERROR_TAG: Final = "esl/error"
MANIFEST_TAG: Final = "esl/manifest_path"
# Written with every outcome tag: a retried or re-executed run inherits its parent's tags, so
# `esl/error` and `esl/manifest_path` count only on the run this tag names.
OUTCOME_RUN_TAG: Final = "esl/outcome_run_id"
PARENT_RUN_TAG: Final = "dagster/parent_run_id"
# Set by Dagster on a failed run that the daemon's run-retry policy will relaunch.
WILL_RETRY_TAG: Final = "dagster/will_retry"
# The op whose config holds the job options (`validate_lesson`'s `LessonRunConfig`).
OPTIONS_OP: Final = "validate_lesson"
CANCELED_ERROR: Final = "canceled"
# How long a failed run without its own `esl/error` waits for a retry or relaunch before it reads
# `failed` (the relaunch sensor's backoff adds up to 70 s; this is far beyond it).
FAILURE_SETTLE_S: Final = 600.0

RUN_STATUS_TO_STATE: Final[dict[str, JobState]] = {
    "QUEUED": "queued",
    "NOT_STARTED": "queued",
    "MANAGED": "queued",
    "STARTING": "running",
    "STARTED": "running",
    "CANCELING": "running",
    "SUSPENDED": "running",
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "CANCELED": "failed",
}
CANCEL_STATUSES: Final = frozenset({"CANCELING", "CANCELED"})


def failure_pending(run: DagsterRun, now: float | None = None) -> bool:
    """A FAILURE run that is not the job's end yet: Dagster will retry it, or it wrote no
    `esl/error` of its own and failed less than `FAILURE_SETTLE_S` ago (infrastructure)."""
    if run.status != "FAILURE":
        return False
    if run.tags.get(WILL_RETRY_TAG, "").lower() == "true":
        return True
    if outcome_tag(run, ERROR_TAG) is not None:
        return False
    ended = run.end_time if run.end_time is not None else run.creation_time
    return (time.time() if now is None else now) - ended < FAILURE_SETTLE_S


def job_state(run: DagsterRun) -> JobState:
    """The state one run reads as, with a failed run about to be retried or relaunched still
    reading `running`. A status this table does not know (a newer Dagster) is not terminal."""
    if failure_pending(run):
        return "running"
    return RUN_STATUS_TO_STATE.get(run.status, "running")


def run_statuses_for(state: JobState) -> list[str]:
    """Dagster statuses whose runs may read as `state` (a candidate filter, refined by the view):
    a retried failure reads `running`, and so does a queued run of a job that started before."""
    statuses = [status for status, mapped in RUN_STATUS_TO_STATE.items() if mapped == state]
    if state == "running":
        statuses.append("FAILURE")
        statuses.extend(s for s, mapped in RUN_STATUS_TO_STATE.items() if mapped == "queued")
    return statuses


def run_start_time(run: DagsterRun) -> float | None:
    """When the run really started, or None.

    For a run that ended without starting (canceled in the queue, failed to launch) Dagster's
    GraphQL answers `startTime` equal to `endTime`; such a run has no step stats either.
    """
    start = run.start_time
    if start is None:
        return None
    if run.end_time is not None and start == run.end_time and not run.step_stats:
        return None
    return start


def outcome_tag(run: DagsterRun, key: str) -> str | None:
    """An outcome tag (`esl/error`, `esl/manifest_path`) written by this run, not inherited.

    A run with a parent (a retry or a re-execution) inherited its parent's tags, so its own
    outcome carries `esl/outcome_run_id` naming it; a first run inherits nothing.
    """
    owner = run.tags.get(OUTCOME_RUN_TAG)
    if owner is None and PARENT_RUN_TAG in run.tags:
        return None
    if owner is not None and owner != run.run_id:
        return None
    return run.tags.get(key) or None


def created_at(run: DagsterRun) -> float:
    """When the job was submitted (see `submitted_at`)."""
    return submitted_at(run.tags, run.creation_time)


def has_read_running(run: DagsterRun) -> bool:
    """Whether the job read `running` because of this run: it started, or it failed without an
    error of its own (an infrastructure failure, `running` while its retry or relaunch comes)."""
    return run_start_time(run) is not None or (
        run.status == "FAILURE" and outcome_tag(run, ERROR_TAG) is None
    )


def history_state(history: JobHistory) -> JobState:
    """The newest run's state, never `queued` once the job read `running` (see
    `has_read_running`): a queued retry or relaunch of such a job reads `running`."""
    state = job_state(history.runs[0])
    if state == "queued" and any(has_read_running(run) for run in history.runs):
        return "running"
    return state


def is_canceled(history: JobHistory) -> bool:
    return history.runs[0].status in CANCEL_STATUSES


def needs_error_fallback(history: JobHistory) -> bool:
    """A failed, not canceled job whose run wrote no `esl/error`: the message comes from events."""
    newest = history.runs[0]
    return (
        history_state(history) == "failed"
        and not is_canceled(history)
        and outcome_tag(newest, ERROR_TAG) is None
    )


def runs_to_read_events_of(history: JobHistory) -> list[str]:
    """The runs whose event logs `job_resource` needs (none for a job that has not started)."""
    needed = runs_with_step_events(step_sources(history.runs))
    if needs_error_fallback(history):
        needed.append(history.runs[0].run_id)
    return list(dict.fromkeys(needed))


def run_job_options(run: DagsterRun) -> dict[str, Any]:
    """The job options of the run's config (`ops.validate_lesson.config`), or {}."""
    ops = (run.run_config or {}).get("ops")
    op = ops.get(OPTIONS_OP) if isinstance(ops, dict) else None
    config = op.get("config") if isinstance(op, dict) else None
    return config if isinstance(config, dict) else {}


def _option(options: Mapping[str, Any], key: str, kind: type) -> Any:
    value = options.get(key)
    return value if isinstance(value, kind) else None


def _error(history: JobHistory, events: Mapping[str, RunEvents], state: JobState) -> str | None:
    if state != "failed":
        return None
    if is_canceled(history):
        return CANCELED_ERROR
    newest = history.runs[0]
    tagged = outcome_tag(newest, ERROR_TAG)
    run_events = events.get(newest.run_id)
    fallback = run_events.failure_message if run_events else None
    return tagged or fallback or "run failed"


def _request_fields(run: DagsterRun) -> dict[str, Any]:
    options = run_job_options(run)
    mode = _option(options, "tts_mode", str)
    return {
        "md": _option(options, "md", str),
        "preset": _option(options, "preset", str),
        "withTts": _option(options, "with_tts", bool),
        "voiceId": _option(options, "voice_id", str),
        "upload": _option(options, "upload", str),
        "voiceAccent": _option(options, "accent", str),
        "forceTts": _option(options, "redo_tts", bool),
        "notionDatabase": _option(options, "db_id", str),
        "mode": mode if mode in get_args(TtsMode) else None,
    }


def job_resource(
    job_id: str, history: JobHistory, events: Mapping[str, RunEvents] | None = None
) -> JobStatus:
    """The job resource from the job's runs (newest first) and the events of
    `runs_to_read_events_of(history)` (without them, steps and links read as not yet known)."""
    events = events or {}
    runs = history.runs
    newest = runs[0]
    state = history_state(history)
    created = min(created_at(run) for run in runs)
    updated = max(created, *(run.update_time or run.creation_time for run in runs))
    starts = [start for run in runs if (start := run_start_time(run)) is not None]
    finished = state in ("succeeded", "failed")
    sources = step_sources(runs)
    return JobStatus(
        jobId=job_id,
        state=state,
        createdAt=format_timestamp(created),
        updatedAt=format_timestamp(updated),
        startedAt=format_optional(min(starts)) if starts else None,
        finishedAt=format_optional(newest.end_time) if finished else None,
        error=_error(history, events, state),
        manifestPath=outcome_tag(newest, MANIFEST_TAG),
        runId=newest.run_id,
        **_request_fields(newest),
        notionUrl=notion_url(sources, events),
        audioUrl=audio_url(sources, events),
        attempts=history.count,
        canceled=is_canceled(history),
        steps=job_steps(sources, events, newest, job_finished=finished),
    )

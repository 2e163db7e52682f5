"""How a Dagster run reads as a job of the `/jobs` contract (DESIGN D7, D8)."""

from datetime import UTC, datetime
from typing import Final

from api_shim.dagster_gateway import DagsterRun
from api_shim.schemas import JobState, JobStatus

ERROR_TAG: Final = "esl/error"
MANIFEST_TAG: Final = "esl/manifest_path"
# Written with every outcome tag: a retried or re-executed run inherits its parent's tags, so
# `esl/error` and `esl/manifest_path` count only on the run this tag names.
OUTCOME_RUN_TAG: Final = "esl/outcome_run_id"
SUBMITTED_AT_TAG: Final = "esl/submitted_at"
# Set by Dagster on a failed run that the daemon's run-retry policy will relaunch.
WILL_RETRY_TAG: Final = "dagster/will_retry"

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


def job_state(run: DagsterRun) -> JobState:
    """D8, with a failed run the daemon is about to retry still reading `running`.

    A status this table does not know (a newer Dagster) is not terminal, so it reads `running`.
    """
    if run.status == "FAILURE" and run.tags.get(WILL_RETRY_TAG, "").lower() == "true":
        return "running"
    return RUN_STATUS_TO_STATE.get(run.status, "running")


def run_statuses_for(state: JobState) -> list[str]:
    """Dagster statuses whose runs may read as `state` (a candidate filter, refined by job_state)."""
    statuses = [status for status, mapped in RUN_STATUS_TO_STATE.items() if mapped == state]
    if state == "running":
        statuses.append("FAILURE")
    return statuses


def format_timestamp(epoch_seconds: float) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, e.g. `2025-01-31T09:15:02.123Z`."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def outcome_tag(run: DagsterRun, key: str) -> str | None:
    """An outcome tag (`esl/error`, `esl/manifest_path`) written by this run, not inherited."""
    if run.tags.get(OUTCOME_RUN_TAG) != run.run_id:
        return None
    return run.tags.get(key) or None


def needs_error_fallback(run: DagsterRun) -> bool:
    """A failed job whose run wrote no `esl/error` tag: the message must come from its events."""
    return job_state(run) == "failed" and outcome_tag(run, ERROR_TAG) is None


def created_at(run: DagsterRun) -> float:
    """When the job was submitted: the shim's tag survives retries; the run time is the fallback."""
    try:
        return float(run.tags[SUBMITTED_AT_TAG])
    except (KeyError, ValueError):
        return run.creation_time


def _generic_error(run: DagsterRun) -> str:
    return "run was canceled" if run.status == "CANCELED" else "run failed"


def job_status(run: DagsterRun, job_id: str, *, fallback_error: str | None = None) -> JobStatus:
    state = job_state(run)
    created = created_at(run)
    updated = max(created, run.update_time or run.creation_time)
    finished = state in ("succeeded", "failed")
    error = (
        (outcome_tag(run, ERROR_TAG) or fallback_error or _generic_error(run))
        if state == "failed"
        else None
    )
    return JobStatus(
        jobId=job_id,
        state=state,
        createdAt=format_timestamp(created),
        updatedAt=format_timestamp(updated),
        startedAt=format_timestamp(run.start_time) if run.start_time is not None else None,
        finishedAt=format_timestamp(run.end_time)
        if finished and run.end_time is not None
        else None,
        error=error,
        manifestPath=outcome_tag(run, MANIFEST_TAG),
        runId=run.run_id,
    )

"""Reading jobs back from Dagster: one job by id, and a cursor-paginated list (bounded GraphQL
round trips, counted in each function's docstring)."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from api_shim.dagster_gateway import DagsterGateway, JobHistory
from api_shim.job_view import history_state, job_resource, run_statuses_for, runs_to_read_events_of
from api_shim.schemas import JobState, JobStatus

# Bound on the extra pages scanned to fill one filtered page (older runs of a job are skipped).
MAX_SCAN_ROUNDS = 4


def canonical_job_id(raw: str) -> str | None:
    """The lower-case hyphenated form of a UUID, or None when `raw` is not one."""
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if raw.lower() == canonical else None


async def job_resources(
    gateway: DagsterGateway, histories: Mapping[str, JobHistory]
) -> dict[str, JobStatus]:
    """The resource of each job from its history, reading every needed event log in one
    aliased query (more only for a run with over EVENTS_PER_PAGE events)."""
    run_ids = [run_id for h in histories.values() for run_id in runs_to_read_events_of(h)]
    events = await gateway.run_events(list(dict.fromkeys(run_ids))) if run_ids else {}
    return {job_id: job_resource(job_id, h, events) for job_id, h in histories.items()}


async def read_job(gateway: DagsterGateway, job_id: str) -> JobStatus | None:
    """One job. GraphQL round trips: one for the job's runs with their step stats and options;
    a second for the event logs of the runs that reached a stage (none while queued); further
    ones only for a run with more than EVENTS_PER_PAGE events (at most MAX_EVENT_PAGES)."""
    histories = await gateway.job_histories([job_id])
    if job_id not in histories:
        return None
    return (await job_resources(gateway, histories))[job_id]


@dataclass(frozen=True)
class JobPage:
    items: list[JobStatus]
    next_cursor: str | None


async def list_jobs(
    gateway: DagsterGateway, *, state: JobState | None, cursor: str | None, limit: int
) -> JobPage:
    """Jobs newest first. A job is listed once, at the position of its newest run.

    Runs are scanned newest first; a run that is not the newest of its job (retried or
    re-executed later) is skipped, so each job id appears on exactly one page. The cursor is the
    id of the last run scanned (Dagster's own run cursor); a cursor whose run no longer exists
    ends the list, as Dagster answers no runs after it. GraphQL round
    trips: two per scan round (a page of runs, then the histories of their jobs), at most
    MAX_SCAN_ROUNDS rounds, then the event logs of the page's jobs in one more (see read_job).
    """
    statuses = run_statuses_for(state) if state is not None else None
    scan_cursor = cursor
    chosen: dict[str, JobHistory] = {}
    more = True
    for _ in range(MAX_SCAN_ROUNDS):
        page = await gateway.list_runs(statuses=statuses, cursor=scan_cursor, limit=limit)
        job_ids = list(dict.fromkeys(run.job_id for run in page if run.job_id))
        histories = await gateway.job_histories(job_ids)
        consumed = 0
        for run in page:
            consumed += 1
            scan_cursor = run.run_id
            history = histories.get(run.job_id) if run.job_id else None
            if history is None or history.runs[0].run_id != run.run_id:
                continue
            if state is not None and history_state(history) != state:
                continue
            chosen[str(run.job_id)] = history
            if len(chosen) == limit:
                break
        if len(page) < limit and consumed == len(page):
            more = False
            break
        if len(chosen) == limit:
            break
    resources = await job_resources(gateway, chosen)
    next_cursor = scan_cursor if more else None
    return JobPage([resources[job_id] for job_id in chosen], next_cursor)

"""Reading jobs back from Dagster: one job by id, and a cursor-paginated list."""

import asyncio
import base64
import uuid
from dataclasses import dataclass

from api_shim.dagster_gateway import DagsterGateway, DagsterRun
from api_shim.job_view import job_state, job_status, needs_error_fallback, run_statuses_for
from api_shim.schemas import JobState, JobStatus

# Bound on the extra pages scanned to fill one filtered page (older runs of a job are skipped).
MAX_SCAN_ROUNDS = 4


class InvalidCursor(ValueError):
    pass


def canonical_job_id(raw: str) -> str | None:
    """The lower-case hyphenated form of a UUID, or None when `raw` is not one."""
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    canonical = str(parsed)
    return canonical if raw.lower() == canonical else None


def encode_cursor(run_id: str) -> str:
    return base64.urlsafe_b64encode(run_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        run_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        raise InvalidCursor(cursor) from exc
    if canonical_job_id(run_id) is None:
        raise InvalidCursor(cursor)
    return run_id


async def _status(gateway: DagsterGateway, run: DagsterRun, job_id: str) -> JobStatus:
    fallback = await gateway.failure_message(run.run_id) if needs_error_fallback(run) else None
    return job_status(run, job_id, fallback_error=fallback)


async def read_job(gateway: DagsterGateway, job_id: str) -> JobStatus | None:
    """One GraphQL round trip (two only for a failed run without an `esl/error` tag)."""
    run = await gateway.newest_job_run(job_id)
    if run is None:
        return None
    return await _status(gateway, run, job_id)


@dataclass(frozen=True)
class JobPage:
    items: list[JobStatus]
    next_cursor: str | None


async def list_jobs(
    gateway: DagsterGateway, *, state: JobState | None, cursor: str | None, limit: int
) -> JobPage:
    """Jobs newest first. A job is listed once, at the position of its newest run.

    Runs are scanned newest first; a run that is not the newest of its job (retried or
    re-executed later) is skipped, so each job id appears on exactly one page.
    """
    statuses = run_statuses_for(state) if state is not None else None
    scan_cursor = decode_cursor(cursor) if cursor else None
    chosen: list[DagsterRun] = []
    more = True
    for _ in range(MAX_SCAN_ROUNDS):
        page = await gateway.list_runs(statuses=statuses, cursor=scan_cursor, limit=limit)
        job_ids = list(dict.fromkeys(run.job_id for run in page if run.job_id))
        newest = await gateway.newest_job_runs(job_ids)
        consumed = 0
        for run in page:
            consumed += 1
            scan_cursor = run.run_id
            job_id = run.job_id
            if job_id is None or newest.get(job_id, run).run_id != run.run_id:
                continue
            if state is not None and job_state(run) != state:
                continue
            chosen.append(run)
            if len(chosen) == limit:
                break
        if len(page) < limit and consumed == len(page):
            more = False
            break
        if len(chosen) == limit:
            break
    items = await asyncio.gather(*(_status(gateway, run, str(run.job_id)) for run in chosen))
    next_cursor = encode_cursor(scan_cursor) if more and scan_cursor is not None else None
    return JobPage(list(items), next_cursor)

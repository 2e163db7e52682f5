"""The GraphQL reads behind `/jobs/events`: job histories (runs with step stats) and the jobs
whose runs changed recently. Both are bounded: one round trip per `HISTORY_BATCH` jobs, and at
most `MAX_RECENT_PAGES` pages of recently updated runs.
"""

from collections.abc import Iterable, Sequence
from typing import Any, Final

from api_shim.dagster_gateway import (
    JOB_ID_TAG,
    DagsterGateway,
    DagsterProtocolError,
    DagsterRun,
)
from api_shim.dagster_graphql import object_field
from api_shim.dagster_runs import RUN_FIELDS, RUN_STEPS_FIELDS, job_filter, parse_runs

HISTORY_BATCH: Final = 25
RUNS_PER_JOB: Final = 50
RECENT_PAGE: Final = 100
MAX_RECENT_PAGES: Final = 10

RECENT_RUNS = """
query RecentRuns($filter: RunsFilter!, $cursor: String, $limit: Int!) {
  runsOrError(filter: $filter, cursor: $cursor, limit: $limit) {
    __typename
    ... on Runs { results { runId tags { key value } } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""


def job_histories_document(count: int) -> str:
    """One query with `count` aliased `runsOrError` fields: every run of each job, with steps."""
    params = ", ".join(f"$f{i}: RunsFilter!" for i in range(count))
    fields = "\n".join(
        f"  j{i}: runsOrError(filter: $f{i}, limit: {RUNS_PER_JOB}) {{ __typename "
        f"... on Runs {{ results {{ ...JobRunSteps }} }} ... on PythonError {{ message }} }}"
        for i in range(count)
    )
    return f"query JobHistories({params}) {{\n{fields}\n}}\n{RUN_STEPS_FIELDS}{RUN_FIELDS}"


def _results(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, dict) or value.get("__typename") != "Runs":
        raise DagsterProtocolError(f"{name}: expected Runs, got {value!r:.200}")
    results = value.get("results")
    if not isinstance(results, list):
        raise DagsterProtocolError(f"{name}: results missing")
    return [item for item in results if isinstance(item, dict)]


class EventSource:
    """Reads what the event hub needs from Dagster, through the shim's gateway."""

    def __init__(self, gateway: DagsterGateway, job: str) -> None:
        self.gateway = gateway
        self._job = job

    async def histories(self, job_ids: Sequence[str]) -> dict[str, list[DagsterRun]]:
        """Every run (newest `RUNS_PER_JOB`) of each job id; ids without runs map to []."""
        found: dict[str, list[DagsterRun]] = {}
        for start in range(0, len(job_ids), HISTORY_BATCH):
            batch = job_ids[start : start + HISTORY_BATCH]
            variables = {f"f{i}": job_filter(job_id) for i, job_id in enumerate(batch)}
            data = await self.gateway.query(
                "jobHistories", job_histories_document(len(batch)), variables
            )
            for i, job_id in enumerate(batch):
                found[job_id] = parse_runs(object_field(data, f"j{i}"), f"j{i}")
        return found

    async def recently_changed_jobs(self, since: float) -> set[str]:
        """Job ids of runs of the job updated at or after `since` (epoch seconds)."""
        job_ids: set[str] = set()
        cursor: str | None = None
        run_filter = {"pipelineName": self._job, "updatedAfter": since}
        for _ in range(MAX_RECENT_PAGES):
            variables = {"filter": run_filter, "cursor": cursor, "limit": RECENT_PAGE}
            data = await self.gateway.query("recentRuns", RECENT_RUNS, variables)
            page = _results(data, "runsOrError")
            job_ids.update(_job_ids(page))
            if len(page) < RECENT_PAGE:
                break
            cursor = str(page[-1].get("runId"))
        return job_ids


def _job_ids(page: Iterable[dict[str, Any]]) -> Iterable[str]:
    for run in page:
        for tag in run.get("tags") or []:
            if isinstance(tag, dict) and tag.get("key") == JOB_ID_TAG:
                yield str(tag.get("value"))

"""The gateway to Dagster: launch, find, list and terminate runs of one job, and read the
code location's health. Transport and error mapping live in `dagster_graphql`, run documents
and models in `dagster_runs`; `__all__` is the face the rest of the shim imports from here.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import httpx

from api_shim.core.metrics import ShimMetrics
from api_shim.dagster_graphql import (
    DagsterGraphQL,
    DagsterProtocolError,
    DagsterRejected,
    DagsterUnavailable,
    object_field,
    object_list,
    union_message,
)
from api_shim.dagster_runs import (
    JOB_ID_TAG,
    MAX_EVENT_PAGES,
    MAX_RUNS_PER_JOB,
    RUN_FIELDS,
    RUNS,
    RUNS_WITH_CONFIG,
    DagsterRun,
    JobHistory,
    MetadataValue,
    RunEvents,
    StepStat,
    job_filter,
    job_runs_document,
    parse_run,
    parse_runs,
    read_run_events,
    run_events_document,
)
from esl_common.launch_ledger import LAUNCH_ID_TAG

__all__ = [
    "JOB_ID_TAG",
    "LAUNCH_RUN",
    "TERMINATE_RUN",
    "CodeLocationStatus",
    "DagsterGateway",
    "DagsterProtocolError",
    "DagsterRejected",
    "DagsterRun",
    "DagsterUnavailable",
    "JobHistory",
    "MetadataValue",
    "RunEvents",
    "StepStat",
    "TerminateOutcome",
    "TerminateResult",
    "job_runs_document",
    "run_events_document",
]

logger = logging.getLogger("api_shim.dagster")

LocationLoad = Literal["loaded", "loading", "error", "missing"]

LAUNCH_RUN = (
    """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { ...JobRun } }
    ... on RunConfigValidationInvalid { errors { message reason } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConflict { message }
    ... on UnauthorizedError { message }
    ... on PresetNotFoundError { message }
    ... on ConflictingExecutionParamsError { message }
    ... on NoModeProvidedError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on PythonError { message className }
  }
}
"""
    + RUN_FIELDS
)

TERMINATE_RUN = """
mutation TerminateRun($runId: String!) {
  terminateRun(runId: $runId) {
    __typename
    ... on TerminateRunSuccess { run { runId status } }
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""

WORKSPACE_STATUS = """
query WorkspaceStatus {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class TerminateOutcome(Enum):
    TERMINATED = "terminated"
    REFUSED = "refused"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class TerminateResult:
    outcome: TerminateOutcome
    message: str | None = None


@dataclass(frozen=True)
class CodeLocationStatus:
    """What `/readyz` reports: is the location loaded, and does it hold the job?"""

    location: LocationLoad
    job_present: bool
    message: str | None = None


class DagsterGateway:
    """Launch, find, list and terminate runs of one job in one repository of one code location."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        location: str,
        repository: str,
        job: str,
        metrics: ShimMetrics,
    ) -> None:
        self._graphql = DagsterGraphQL(client, url, metrics)
        self._location = location
        self._repository = repository
        self._job = job

    async def launch_run(
        self,
        run_config: Mapping[str, Any],
        tags: Mapping[str, str],
        *,
        timeout_s: float | None = None,
    ) -> DagsterRun:
        """One `launchRun`; `timeout_s` bounds the whole request (connect 1 s at most)."""
        variables = {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": self._location,
                    "repositoryName": self._repository,
                    "jobName": self._job,
                },
                "runConfigData": dict(run_config),
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
            }
        }
        data = await self._graphql.execute(
            "launchRun", LAUNCH_RUN, variables, mutation=True, timeout_s=timeout_s
        )
        result = object_field(data, "launchRun")
        kind = result.get("__typename")
        if kind == "LaunchRunSuccess":
            return parse_run(object_field(result, "run"))
        message = union_message(result)
        self._graphql.count_error("launchRun", str(kind))
        if kind == "PipelineNotFoundError":
            logger.error(
                "dagster job not found",
                extra={"fields": {"kind": kind, "detail": message, "job": self._job}},
            )
            raise DagsterUnavailable(f"job {self._job!r} is not loaded in Dagster: {message}")
        logger.error(
            "dagster refused the launch", extra={"fields": {"kind": kind, "detail": message}}
        )
        raise DagsterRejected(str(kind), message)

    async def launched_run(
        self, job_id: str, launch_id: str, *, timeout_s: float
    ) -> DagsterRun | None:
        """The run one `launchRun` created, found by its job-id and launch-id tags, if any."""
        run_filter = {
            "tags": [
                {"key": JOB_ID_TAG, "value": job_id},
                {"key": LAUNCH_ID_TAG, "value": launch_id},
            ]
        }
        variables = {"filter": run_filter, "cursor": None, "limit": 1}
        data = await self._graphql.execute("runs", RUNS, variables, timeout_s=timeout_s)
        runs = parse_runs(object_field(data, "runsOrError"), "runsOrError")
        return runs[0] if runs else None

    async def newest_job_run(self, job_id: str, *, with_config: bool = False) -> DagsterRun | None:
        """The newest run tagged with this job id (a retry or re-execution supersedes older runs)."""
        variables: dict[str, Any] = {"filter": job_filter(job_id), "limit": 1}
        if with_config:
            data = await self._graphql.execute("runsWithConfig", RUNS_WITH_CONFIG, variables)
        else:
            data = await self._graphql.execute("runs", RUNS, {**variables, "cursor": None})
        runs = parse_runs(object_field(data, "runsOrError"), "runsOrError")
        return runs[0] if runs else None

    async def job_histories(self, job_ids: Sequence[str]) -> dict[str, JobHistory]:
        """The newest runs of each job id with their step stats, in one round trip.

        Ids without runs are left out.
        """
        if not job_ids:
            return {}
        variables: dict[str, Any] = {
            f"f{i}": job_filter(job_id) for i, job_id in enumerate(job_ids)
        }
        variables["limit"] = MAX_RUNS_PER_JOB
        data = await self._graphql.execute("jobRuns", job_runs_document(len(job_ids)), variables)
        histories: dict[str, JobHistory] = {}
        for i, job_id in enumerate(job_ids):
            result = object_field(data, f"j{i}")
            runs = parse_runs(result, "runsOrError")
            if runs:
                count = result.get("count")
                total = count if isinstance(count, int) else len(runs)
                histories[job_id] = JobHistory(tuple(runs), max(total, len(runs)))
        return histories

    async def list_runs(
        self, *, statuses: Sequence[str] | None, cursor: str | None, limit: int
    ) -> list[DagsterRun]:
        """Runs of the job, newest first, after `cursor` (a run id)."""
        run_filter: dict[str, Any] = {"pipelineName": self._job}
        if statuses is not None:
            run_filter["statuses"] = list(statuses)
        variables = {"filter": run_filter, "cursor": cursor, "limit": limit}
        data = await self._graphql.execute("runs", RUNS, variables)
        return parse_runs(object_field(data, "runsOrError"), "runsOrError")

    async def terminate_run(self, run_id: str) -> TerminateResult:
        data = await self._graphql.execute(
            "terminateRun", TERMINATE_RUN, {"runId": run_id}, mutation=True
        )
        result = object_field(data, "terminateRun")
        kind = result.get("__typename")
        if kind == "TerminateRunSuccess":
            return TerminateResult(TerminateOutcome.TERMINATED)
        if kind == "TerminateRunFailure":
            return TerminateResult(TerminateOutcome.REFUSED, union_message(result))
        if kind == "RunNotFoundError":
            return TerminateResult(TerminateOutcome.NOT_FOUND, union_message(result))
        self._graphql.count_error("terminateRun", str(kind))
        raise DagsterProtocolError(f"terminateRun answered {kind}: {union_message(result)}")

    async def run_events(self, run_ids: Sequence[str]) -> dict[str, RunEvents]:
        """The step outputs and failures of each run, one round trip per page of events.

        All runs are read in one aliased query; a run with more than EVENTS_PER_PAGE events is
        read on in a further query, at most MAX_EVENT_PAGES in all. A run Dagster no longer
        knows reads as no events.
        """
        pages = await read_run_events(
            self._graphql,
            "logsForRun",
            run_events_document,
            run_ids,
            max_pages=MAX_EVENT_PAGES,
        )
        events = {run_id: RunEvents() for run_id in run_ids}
        for run_id, run_events in pages.items():
            for event in run_events:
                events[run_id].add(event)
        return events

    async def code_location_status(self, *, timeout_s: float | None = None) -> CodeLocationStatus:
        data = await self._graphql.execute("workspace", WORKSPACE_STATUS, {}, timeout_s=timeout_s)
        workspace = object_field(data, "workspaceOrError")
        if workspace.get("__typename") != "Workspace":
            return CodeLocationStatus("error", False, union_message(workspace))
        for entry in object_list(workspace, "locationEntries"):
            if entry.get("name") != self._location:
                continue
            if entry.get("loadStatus") != "LOADED":
                return CodeLocationStatus("loading", False)
            location = entry.get("locationOrLoadError") or {}
            if location.get("__typename") != "RepositoryLocation":
                return CodeLocationStatus("error", False, union_message(location))
            jobs = {
                job.get("name")
                for repo in object_list(location, "repositories")
                if repo.get("name") == self._repository
                for job in object_list(repo, "jobs")
            }
            return CodeLocationStatus("loaded", self._job in jobs)
        return CodeLocationStatus("missing", False)

    async def query(
        self, operation: str, document: str, variables: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Run a read-only document of another module (same error mapping and metrics)."""
        return await self._graphql.execute(operation, document, variables)

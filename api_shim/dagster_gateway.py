"""The only module that speaks to Dagster: hand-written GraphQL documents over httpx.

Every call maps transport and protocol faults to three exceptions the routes translate:
`DagsterUnavailable` (503: the webserver cannot be reached or the job is not loaded),
`DagsterRejected` (500: Dagster refused a launch we built, e.g. a run-config mismatch) and
`DagsterProtocolError` (500: an answer we do not understand).
"""

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from api_shim.core.metrics import ShimMetrics

logger = logging.getLogger("api_shim.dagster")

JOB_ID_TAG = "esl/job_id"
LAUNCH_ID_TAG = "esl/launch_id"
# Set by the code location's launch guard on a run whose launch the shim declared failed.
LAUNCH_ABANDONED_TAG = "esl/launch_abandoned"

LocationLoad = Literal["loaded", "loading", "error", "missing"]

RUN_FIELDS = """
fragment JobRun on Run {
  runId
  status
  creationTime
  startTime
  endTime
  updateTime
  tags { key value }
}
"""

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

RUNS = (
    """
query Runs($filter: RunsFilter!, $cursor: String, $limit: Int!) {
  runsOrError(filter: $filter, cursor: $cursor, limit: $limit) {
    __typename
    ... on Runs { results { ...JobRun } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""
    + RUN_FIELDS
)

# What the job view reads of each run: the run, its job options and Dagster's per-step stats.
RUN_DETAIL_FIELDS = """
fragment JobRunDetail on Run {
  ...JobRun
  runConfig
  stepStats { stepKey status startTime endTime }
}
"""

RUNS_WITH_CONFIG = (
    """
query RunsWithConfig($filter: RunsFilter!, $limit: Int!) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs { results { ...JobRun runConfig } }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
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

# The events the job view uses; every other event comes back as its bare `__typename`.
RUN_EVENT_FIELDS = """
fragment JobEvent on DagsterRunEvent {
  __typename
  ... on ExecutionStepOutputEvent {
    stepKey
    metadataEntries {
      __typename
      label
      ... on TextMetadataEntry { text }
      ... on UrlMetadataEntry { url }
      ... on PathMetadataEntry { path }
      ... on JsonMetadataEntry { jsonString }
    }
  }
  ... on ExecutionStepFailureEvent {
    stepKey
    message
    error { message className cause { message className } }
    failureMetadata { description }
  }
  ... on RunFailureEvent { message }
  ... on RunCanceledEvent { message }
}
"""

# Pages of events read per run (each of EVENTS_PER_PAGE events); a lesson run logs about 100.
MAX_EVENT_PAGES = 5
EVENTS_PER_PAGE = 1000
# Runs of one job read per request (newest first); older ones only count in `attempts`.
MAX_RUNS_PER_JOB = 20
# A webserver that does not accept within this is down; an accepted request may still hang.
CONNECT_TIMEOUT_S = 1.0


def job_runs_document(count: int) -> str:
    """One query with `count` aliased `runsOrError` fields: the newest runs of each job id."""
    params = ", ".join([*(f"$f{i}: RunsFilter!" for i in range(count)), "$limit: Int!"])
    fields = "\n".join(
        f"  j{i}: runsOrError(filter: $f{i}, limit: $limit) {{ __typename "
        f"... on Runs {{ count results {{ ...JobRunDetail }} }} "
        f"... on InvalidPipelineRunsFilterError {{ message }} ... on PythonError {{ message }} }}"
        for i in range(count)
    )
    return f"query JobRuns({params}) {{\n{fields}\n}}\n{RUN_DETAIL_FIELDS}{RUN_FIELDS}"


def run_events_document(count: int) -> str:
    """One query with `count` aliased `logsForRun` fields: a page of events of each run."""
    params = ", ".join(f"$r{i}: ID!, $a{i}: String" for i in range(count))
    fields = "\n".join(
        f"  e{i}: logsForRun(runId: $r{i}, afterCursor: $a{i}, limit: {EVENTS_PER_PAGE}) {{ "
        f"__typename ... on EventConnection {{ cursor hasMore events {{ ...JobEvent }} }} "
        f"... on RunNotFoundError {{ message }} ... on PythonError {{ message }} }}"
        for i in range(count)
    )
    return f"query RunEvents({params}) {{\n{fields}\n}}\n{RUN_EVENT_FIELDS}"


class DagsterUnavailable(Exception):
    """Dagster could not serve the call; `ambiguous` when a mutation may have taken effect."""

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class DagsterRejected(Exception):
    """Dagster refused a launch (a `launchRun` error union member other than not-found)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class DagsterProtocolError(Exception):
    """An answer that does not have the shape these documents ask for."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StepStat(_Model):
    """Dagster's stats of one step of a run (`status`: SKIPPED, SUCCESS, FAILURE, IN_PROGRESS)."""

    step_key: str = Field(alias="stepKey")
    status: str | None = None
    start_time: float | None = Field(default=None, alias="startTime")
    end_time: float | None = Field(default=None, alias="endTime")


class DagsterRun(_Model):
    run_id: str = Field(alias="runId")
    status: str
    creation_time: float = Field(alias="creationTime")
    start_time: float | None = Field(default=None, alias="startTime")
    end_time: float | None = Field(default=None, alias="endTime")
    update_time: float | None = Field(default=None, alias="updateTime")
    tags: dict[str, str]
    run_config: dict[str, Any] | None = Field(default=None, alias="runConfig")
    step_stats: tuple[StepStat, ...] = Field(default=(), alias="stepStats")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_to_dict(cls, value: object) -> object:
        if isinstance(value, list):
            return {item["key"]: item["value"] for item in value if isinstance(item, dict)}
        return value

    @property
    def job_id(self) -> str | None:
        """The job this run belongs to; None for a run whose launch was abandoned (no job)."""
        if self.tags.get(LAUNCH_ABANDONED_TAG) == "true":
            return None
        return self.tags.get(JOB_ID_TAG)


@dataclass(frozen=True)
class JobHistory:
    """The newest runs of one job id (newest first, at most MAX_RUNS_PER_JOB) and their count."""

    runs: tuple[DagsterRun, ...]
    count: int


MetadataValue = str | dict[str, Any] | list[Any] | None


@dataclass
class RunEvents:
    """What the job view reads from one run's event log, by step key (the last event wins)."""

    outputs: dict[str, dict[str, MetadataValue]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    run_message: str | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        kind = event.get("__typename")
        step_key = event.get("stepKey")
        if kind == "ExecutionStepOutputEvent" and isinstance(step_key, str):
            entries = event.get("metadataEntries") or []
            self.outputs[step_key] = {
                str(entry.get("label")): _metadata_value(entry)
                for entry in entries
                if isinstance(entry, dict)
            }
        elif kind == "ExecutionStepFailureEvent":
            self.failures[str(step_key or "")] = _step_failure_text(event)
        elif kind in ("RunFailureEvent", "RunCanceledEvent"):
            self.run_message = str(event.get("message") or "") or self.run_message

    @property
    def failure_message(self) -> str | None:
        """Root-cause text of a failed or canceled run: its first step failure, else the run's."""
        step_message = next((text for text in self.failures.values() if text), None)
        return step_message or self.run_message


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
        self._client = client
        self._url = url
        self._location = location
        self._repository = repository
        self._job = job
        self._metrics = metrics

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
        data = await self._execute(
            "launchRun", LAUNCH_RUN, variables, mutation=True, timeout_s=timeout_s
        )
        result = _field(data, "launchRun")
        kind = result.get("__typename")
        if kind == "LaunchRunSuccess":
            return _parse_run(_field(result, "run"))
        message = _union_message(result)
        self._count_error("launchRun", str(kind))
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
        data = await self._execute("runs", RUNS, variables, timeout_s=timeout_s)
        runs = _parse_runs(_field(data, "runsOrError"), "runsOrError")
        return runs[0] if runs else None

    async def newest_job_run(self, job_id: str, *, with_config: bool = False) -> DagsterRun | None:
        """The newest run tagged with this job id (a retry or re-execution supersedes older runs)."""
        variables: dict[str, Any] = {"filter": _job_filter(job_id), "limit": 1}
        if with_config:
            data = await self._execute("runsWithConfig", RUNS_WITH_CONFIG, variables)
        else:
            data = await self._execute("runs", RUNS, {**variables, "cursor": None})
        runs = _parse_runs(_field(data, "runsOrError"), "runsOrError")
        return runs[0] if runs else None

    async def job_histories(self, job_ids: Sequence[str]) -> dict[str, JobHistory]:
        """The newest runs of each job id with their step stats, in one round trip.

        Ids without runs are left out.
        """
        if not job_ids:
            return {}
        variables: dict[str, Any] = {
            f"f{i}": _job_filter(job_id) for i, job_id in enumerate(job_ids)
        }
        variables["limit"] = MAX_RUNS_PER_JOB
        data = await self._execute("jobRuns", job_runs_document(len(job_ids)), variables)
        histories: dict[str, JobHistory] = {}
        for i, job_id in enumerate(job_ids):
            result = _field(data, f"j{i}")
            runs = _parse_runs(result, "runsOrError")
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
        data = await self._execute("runs", RUNS, variables)
        return _parse_runs(_field(data, "runsOrError"), "runsOrError")

    async def terminate_run(self, run_id: str) -> TerminateResult:
        data = await self._execute("terminateRun", TERMINATE_RUN, {"runId": run_id}, mutation=True)
        result = _field(data, "terminateRun")
        kind = result.get("__typename")
        if kind == "TerminateRunSuccess":
            return TerminateResult(TerminateOutcome.TERMINATED)
        if kind == "TerminateRunFailure":
            return TerminateResult(TerminateOutcome.REFUSED, _union_message(result))
        if kind == "RunNotFoundError":
            return TerminateResult(TerminateOutcome.NOT_FOUND, _union_message(result))
        self._count_error("terminateRun", str(kind))
        raise DagsterProtocolError(f"terminateRun answered {kind}: {_union_message(result)}")

    async def run_events(self, run_ids: Sequence[str]) -> dict[str, RunEvents]:
        """The step outputs and failures of each run, one round trip per page of events.

        All runs are read in one aliased query; a run with more than EVENTS_PER_PAGE events is
        read on in a further query, at most MAX_EVENT_PAGES in all. A run Dagster no longer
        knows reads as no events.
        """
        events = {run_id: RunEvents() for run_id in run_ids}
        pending: dict[str, str | None] = dict.fromkeys(run_ids)
        for _ in range(MAX_EVENT_PAGES):
            if not pending:
                break
            order = list(pending)
            variables: dict[str, Any] = {}
            for i, run_id in enumerate(order):
                variables[f"r{i}"] = run_id
                variables[f"a{i}"] = pending[run_id]
            data = await self._execute("logsForRun", run_events_document(len(order)), variables)
            pending = {}
            for i, run_id in enumerate(order):
                page = _field(data, f"e{i}")
                if page.get("__typename") != "EventConnection":
                    continue
                for event in _list(page, "events"):
                    events[run_id].add(event)
                if page.get("hasMore"):
                    pending[run_id] = str(page.get("cursor"))
        return events

    async def code_location_status(self, *, timeout_s: float | None = None) -> CodeLocationStatus:
        data = await self._execute("workspace", WORKSPACE_STATUS, {}, timeout_s=timeout_s)
        workspace = _field(data, "workspaceOrError")
        if workspace.get("__typename") != "Workspace":
            return CodeLocationStatus("error", False, _union_message(workspace))
        for entry in _list(workspace, "locationEntries"):
            if entry.get("name") != self._location:
                continue
            if entry.get("loadStatus") != "LOADED":
                return CodeLocationStatus("loading", False)
            location = entry.get("locationOrLoadError") or {}
            if location.get("__typename") != "RepositoryLocation":
                return CodeLocationStatus("error", False, _union_message(location))
            jobs = {
                job.get("name")
                for repo in _list(location, "repositories")
                if repo.get("name") == self._repository
                for job in _list(repo, "jobs")
            }
            return CodeLocationStatus("loaded", self._job in jobs)
        return CodeLocationStatus("missing", False)

    async def _execute(
        self,
        operation: str,
        document: str,
        variables: Mapping[str, Any],
        *,
        mutation: bool = False,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        timeout = (
            httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
            if timeout_s is not None
            else httpx.USE_CLIENT_DEFAULT
        )
        try:
            # The budget bounds the whole request, not each socket read.
            with anyio.fail_after(timeout_s):
                response = await self._client.post(
                    self._url,
                    json={"query": document, "variables": dict(variables)},
                    timeout=timeout,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._count_error(operation, "connect")
            raise DagsterUnavailable(f"cannot reach Dagster at {self._url}: {exc!r}") from exc
        except (httpx.TransportError, TimeoutError) as exc:
            # The request may have been delivered: a mutation's effect is unknown.
            self._count_error(operation, "transport")
            raise DagsterUnavailable(
                f"no answer from Dagster at {self._url}: {exc!r}", ambiguous=mutation
            ) from exc
        finally:
            self._metrics.graphql_latency.labels(operation).observe(time.perf_counter() - started)
        if response.status_code >= 500:
            self._count_error(operation, f"http_{response.status_code}")
            raise DagsterUnavailable(
                f"Dagster answered HTTP {response.status_code}", ambiguous=mutation
            )
        try:
            body = response.json()
        except ValueError as exc:
            self._count_error(operation, "not_json")
            raise DagsterProtocolError(
                f"{operation}: HTTP {response.status_code}, body is not JSON"
            ) from exc
        if not isinstance(body, dict):
            self._count_error(operation, "not_object")
            raise DagsterProtocolError(f"{operation}: body is not a JSON object")
        errors = body.get("errors")
        data = body.get("data")
        if errors or not isinstance(data, dict):
            self._count_error(operation, "graphql")
            logger.error(
                "dagster graphql errors",
                extra={"fields": {"operation": operation, "errors": errors}},
            )
            raise DagsterProtocolError(f"{operation}: GraphQL errors {errors!r}")
        return data

    def _count_error(self, operation: str, kind: str) -> None:
        self._metrics.graphql_errors.labels(operation, kind).inc()


def _job_filter(job_id: str) -> dict[str, Any]:
    return {"tags": [{"key": JOB_ID_TAG, "value": job_id}]}


def _field(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise DagsterProtocolError(f"field {name!r} missing or not an object")
    return value


def _list(data: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list):
        raise DagsterProtocolError(f"field {name!r} missing or not a list")
    return [item for item in value if isinstance(item, dict)]


def _union_message(result: Mapping[str, Any]) -> str:
    if isinstance(result.get("message"), str):
        return str(result["message"])
    errors = result.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
    return ", ".join(f"{k}={v}" for k, v in result.items() if k != "__typename") or "no detail"


def _parse_run(value: object) -> DagsterRun:
    try:
        return DagsterRun.model_validate(value)
    except ValidationError as exc:
        raise DagsterProtocolError(f"unexpected run shape: {exc}") from exc


def _parse_runs(result: Mapping[str, Any], operation: str) -> list[DagsterRun]:
    kind = result.get("__typename")
    if kind != "Runs":
        raise DagsterProtocolError(f"{operation} answered {kind}: {_union_message(result)}")
    return [_parse_run(item) for item in _list(result, "results")]


def _metadata_value(entry: Mapping[str, Any]) -> MetadataValue:
    """The value of a text, URL, path or JSON metadata entry (None for other kinds)."""
    for key in ("text", "url", "path"):
        if isinstance(entry.get(key), str):
            return str(entry[key])
    raw = entry.get("jsonString")
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict | list) else None
    return None


def _step_failure_text(event: Mapping[str, Any]) -> str:
    """Prefer `Failure(description=...)`, then the cause of exhausted retries, then the error."""
    metadata = event.get("failureMetadata") or {}
    if metadata.get("description"):
        return str(metadata["description"])
    error = event.get("error") or {}
    cause = error.get("cause") or {}
    text = cause.get("message") or error.get("message") or event.get("message") or ""
    return str(text).strip()

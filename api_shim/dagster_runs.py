"""Dagster runs as the shim reads them: the GraphQL documents that fetch runs and their event
logs, the models they parse into, and the tags that tie a run to a job.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from api_shim.dagster_graphql import (
    DagsterGraphQL,
    DagsterProtocolError,
    object_field,
    object_list,
    union_message,
)
from esl_common.launch_ledger import LAUNCH_ABANDONED_TAG

JOB_ID_TAG = "esl/job_id"

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


def runs_document(name: str, selection: str, fragments: str, *, paged: bool = True) -> str:
    """A `runsOrError` query named `name` that reads `selection` of each run (`fragments` define
    what it spreads); `paged` adds the `$cursor` variable."""
    cursor = (", $cursor: String", ", cursor: $cursor") if paged else ("", "")
    return f"""
query {name}($filter: RunsFilter!{cursor[0]}, $limit: Int!) {{
  runsOrError(filter: $filter{cursor[1]}, limit: $limit) {{
    __typename
    ... on Runs {{ results {{ {selection} }} }}
    ... on InvalidPipelineRunsFilterError {{ message }}
    ... on PythonError {{ message }}
  }}
}}
{fragments}"""


RUNS = runs_document("Runs", "...JobRun", RUN_FIELDS)

# A run and Dagster's per-step stats (the event history and the job metrics read these).
RUN_STEPS_FIELDS = """
fragment JobRunSteps on Run {
  ...JobRun
  stepStats { stepKey status startTime endTime }
}
"""

# What the job view reads of each run: the run, its step stats and its job options.
RUN_DETAIL_FIELDS = """
fragment JobRunDetail on Run {
  ...JobRunSteps
  runConfig
}
"""

RUNS_WITH_CONFIG = runs_document("RunsWithConfig", "...JobRun runConfig", RUN_FIELDS, paged=False)

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
# Pages of events read per run (each of EVENTS_PER_PAGE events); a lesson run logs about 100.
MAX_EVENT_PAGES = 5
EVENTS_PER_PAGE = 1000
# Runs of one job read per request (newest first); older ones only count in `attempts`.
MAX_RUNS_PER_JOB = 20


def job_runs_document(count: int) -> str:
    """One query with `count` aliased `runsOrError` fields: the newest runs of each job id."""
    params = ", ".join([*(f"$f{i}: RunsFilter!" for i in range(count)), "$limit: Int!"])
    fields = "\n".join(
        f"  j{i}: runsOrError(filter: $f{i}, limit: $limit) {{ __typename "
        f"... on Runs {{ count results {{ ...JobRunDetail }} }} "
        f"... on InvalidPipelineRunsFilterError {{ message }} ... on PythonError {{ message }} }}"
        for i in range(count)
    )
    return (
        f"query JobRuns({params}) {{\n{fields}\n}}\n"
        f"{RUN_DETAIL_FIELDS}{RUN_STEPS_FIELDS}{RUN_FIELDS}"
    )


def event_pages_document(name: str, count: int, events: str, fragments: str = "") -> str:
    """Query `name` with `count` aliased `logsForRun` fields `e<i>`, each a page of the events
    (`events`: their selection) of run `$r<i>` after cursor `$a<i>`: what `read_run_events` sends.
    """
    params = ", ".join(f"$r{i}: ID!, $a{i}: String" for i in range(count))
    fields = "\n".join(
        f"  e{i}: logsForRun(runId: $r{i}, afterCursor: $a{i}, limit: {EVENTS_PER_PAGE}) {{ "
        f"__typename ... on EventConnection {{ cursor hasMore events {{ {events} }} }} "
        f"... on RunNotFoundError {{ message }} ... on PythonError {{ message }} }}"
        for i in range(count)
    )
    return f"query {name}({params}) {{\n{fields}\n}}\n{fragments}"


def run_events_document(count: int) -> str:
    """A page of the events the job view reads (`JobEvent`) of each of `count` runs."""
    return event_pages_document("RunEvents", count, "...JobEvent", RUN_EVENT_FIELDS)


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


def job_filter(job_id: str) -> dict[str, Any]:
    return {"tags": [{"key": JOB_ID_TAG, "value": job_id}]}


def parse_run(value: object) -> DagsterRun:
    try:
        return DagsterRun.model_validate(value)
    except ValidationError as exc:
        raise DagsterProtocolError(f"unexpected run shape: {exc}") from exc


def parse_runs(result: Mapping[str, Any], operation: str) -> list[DagsterRun]:
    kind = result.get("__typename")
    if kind != "Runs":
        raise DagsterProtocolError(f"{operation} answered {kind}: {union_message(result)}")
    return [parse_run(item) for item in object_list(result, "results")]


async def read_run_events(
    graphql: DagsterGraphQL,
    operation: str,
    document: Callable[[int], str],
    run_ids: Sequence[str],
    *,
    max_pages: int,
    batch: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The events of each run in log order, page by page, at most `max_pages` pages per run.

    `document(n)` is a query with `n` aliased `logsForRun` fields `e<i>` over the variables
    `$r<i>` (run id) and `$a<i>` (cursor); `batch` runs share one document (all when None). A
    run Dagster no longer knows reads as no events.
    """
    events: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    cursors: dict[str, str | None] = dict.fromkeys(run_ids)
    todo = list(cursors)
    for _ in range(max_pages):
        more: list[str] = []
        size = batch or max(len(todo), 1)
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            variables: dict[str, Any] = {}
            for i, run_id in enumerate(chunk):
                variables[f"r{i}"], variables[f"a{i}"] = run_id, cursors[run_id]
            data = await graphql.execute(operation, document(len(chunk)), variables)
            for i, run_id in enumerate(chunk):
                page = object_field(data, f"e{i}")
                if page.get("__typename") != "EventConnection":
                    continue
                events[run_id].extend(object_list(page, "events"))
                if page.get("hasMore"):
                    cursors[run_id] = str(page.get("cursor"))
                    more.append(run_id)
        if not more:
            break
        todo = more
    return events


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

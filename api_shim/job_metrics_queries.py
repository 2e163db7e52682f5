"""What the job metrics collector reads from Dagster: runs with their step stats, and the metadata
the stage ops attach to their output and failure events.

One `runsOrError` page carries the runs, their statuses, times, tags and step stats; one document
with an aliased `logsForRun` per run carries the step events of up to `EVENTS_BATCH` runs. Each
run's events are read once, when it has finished (see `api_shim.job_metrics`).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from api_shim.dagster_gateway import DagsterProtocolError, DagsterUnavailable

EVENTS_BATCH = 20
EVENTS_PAGE = 1000

METRICS_RUNS = """
query MetricsRuns($filter: RunsFilter!, $cursor: String, $limit: Int!) {
  runsOrError(filter: $filter, cursor: $cursor, limit: $limit) {
    __typename
    ... on Runs {
      results {
        runId status creationTime startTime endTime updateTime
        tags { key value }
        stepStats { stepKey status startTime endTime }
      }
    }
    ... on InvalidPipelineRunsFilterError { message }
    ... on PythonError { message }
  }
}
"""

_ENTRIES = (
    "metadataEntries { label ... on TextMetadataEntry { text } "
    "... on JsonMetadataEntry { jsonString } }"
)
_EVENTS = (
    "__typename ... on EventConnection { cursor hasMore events { __typename "
    f"... on ExecutionStepOutputEvent {{ stepKey {_ENTRIES} }} "
    "... on ExecutionStepFailureEvent { stepKey error { className } "
    f"failureMetadata {{ {_ENTRIES} }} }} }} }} "
    "... on RunNotFoundError { message } ... on PythonError { message }"
)


def step_events_document(count: int) -> str:
    """One query with `count` aliased `logsForRun` fields (variables `$r<i>` and `$a<i>`)."""
    params = ", ".join(f"$r{i}: ID!, $a{i}: String" for i in range(count))
    fields = "\n".join(
        f"  e{i}: logsForRun(runId: $r{i}, afterCursor: $a{i}, limit: {EVENTS_PAGE}) "
        f"{{ {_EVENTS} }}"
        for i in range(count)
    )
    return f"query MetricsStepEvents({params}) {{\n{fields}\n}}"


@dataclass(frozen=True)
class StepStat:
    step_key: str
    status: str | None
    start_time: float | None
    end_time: float | None


@dataclass(frozen=True)
class MetricsRun:
    run_id: str
    status: str
    creation_time: float
    start_time: float | None
    end_time: float | None
    update_time: float | None
    tags: dict[str, str]
    steps: tuple[StepStat, ...]


@dataclass
class StepReport:
    """What a step's output or failure metadata says: its stage, status, counters, error kind."""

    stage: str | None = None
    status: str | None = None
    failed: bool = False
    error_kind: str | None = None
    counters: list[dict[str, Any]] = field(default_factory=list)


async def graphql(
    client: httpx.AsyncClient, url: str, document: str, variables: Mapping[str, Any]
) -> dict[str, Any]:
    """POST one document; the `data` object, or `DagsterUnavailable`/`DagsterProtocolError`."""
    try:
        response = await client.post(url, json={"query": document, "variables": dict(variables)})
    except httpx.TransportError as exc:
        raise DagsterUnavailable(f"cannot reach Dagster at {url}: {exc!r}") from exc
    if response.status_code >= 500:
        raise DagsterUnavailable(f"Dagster answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise DagsterProtocolError("metrics query: body is not JSON") from exc
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or body.get("errors"):
        raise DagsterProtocolError(f"metrics query: GraphQL errors {body.get('errors')!r}")
    return data


def parse_runs(data: Mapping[str, Any]) -> list[MetricsRun]:
    result = data.get("runsOrError") or {}
    if result.get("__typename") != "Runs":
        raise DagsterProtocolError(f"runsOrError answered {result.get('__typename')}")
    try:
        return [_parse_run(item) for item in result["results"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DagsterProtocolError(f"unexpected run shape: {exc!r}") from exc


def _parse_run(item: Mapping[str, Any]) -> MetricsRun:
    steps = tuple(
        StepStat(s["stepKey"], s.get("status"), s.get("startTime"), s.get("endTime"))
        for s in item.get("stepStats") or []
    )
    return MetricsRun(
        run_id=str(item["runId"]),
        status=str(item["status"]),
        creation_time=float(item["creationTime"]),
        start_time=item.get("startTime"),
        end_time=item.get("endTime"),
        update_time=item.get("updateTime"),
        tags={tag["key"]: tag["value"] for tag in item.get("tags") or []},
        steps=steps,
    )


def events_page(data: Mapping[str, Any], index: int) -> tuple[list[dict[str, Any]], str | None]:
    """The events of alias `e<index>` and the cursor to read more from (None: no more)."""
    page = data.get(f"e{index}") or {}
    if page.get("__typename") != "EventConnection":
        return [], None  # the run was deleted meanwhile: nothing to count
    events = [event for event in page.get("events") or [] if isinstance(event, dict)]
    return events, str(page["cursor"]) if page.get("hasMore") else None


def step_reports(events: Sequence[Mapping[str, Any]]) -> dict[str, StepReport]:
    """Step key -> what its final output or failure event reported."""
    reports: dict[str, StepReport] = {}
    for event in events:
        kind = event.get("__typename")
        step_key = event.get("stepKey")
        if not step_key or kind not in ("ExecutionStepOutputEvent", "ExecutionStepFailureEvent"):
            continue
        failed = kind == "ExecutionStepFailureEvent"
        source = (event.get("failureMetadata") or {}) if failed else event
        entries = _entries(source.get("metadataEntries") or [])
        error = event.get("error") or {}
        reports[str(step_key)] = StepReport(
            stage=_text(entries.get("stage")),
            status=_text(entries.get("status")),
            failed=failed,
            error_kind=_text(entries.get("code")) or _text(error.get("className")),
            counters=_counters(entries.get("esl/counters")),
        )
    return reports


def _entries(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for entry in entries:
        if "jsonString" in entry:
            try:
                values[str(entry.get("label"))] = json.loads(str(entry["jsonString"]))
            except ValueError:
                continue
        elif "text" in entry:
            values[str(entry.get("label"))] = entry["text"]
    return values


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _counters(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]

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

from api_shim.dagster_gateway import DagsterRun
from api_shim.dagster_graphql import object_field
from api_shim.dagster_runs import (
    RUN_FIELDS,
    RUN_STEPS_FIELDS,
    event_pages_document,
    parse_runs,
    runs_document,
)

EVENTS_BATCH = 20

METRICS_RUNS = runs_document("MetricsRuns", "...JobRunSteps", RUN_STEPS_FIELDS + RUN_FIELDS)

_ENTRIES = (
    "metadataEntries { label ... on TextMetadataEntry { text } "
    "... on JsonMetadataEntry { jsonString } }"
)
# The events a step report reads: output and failure events with their metadata.
_STEP_EVENTS = (
    "__typename "
    f"... on ExecutionStepOutputEvent {{ stepKey {_ENTRIES} }} "
    "... on ExecutionStepFailureEvent { stepKey error { className } "
    f"failureMetadata {{ {_ENTRIES} }} }}"
)


def step_events_document(count: int) -> str:
    """A page of the step events of each of `count` runs (see `event_pages_document`)."""
    return event_pages_document("MetricsStepEvents", count, _STEP_EVENTS)


@dataclass
class StepReport:
    """What a step's output or failure metadata says: its stage, status, counters, error kind."""

    stage: str | None = None
    status: str | None = None
    failed: bool = False
    error_kind: str | None = None
    counters: list[dict[str, Any]] = field(default_factory=list)


def parse_metrics_runs(data: Mapping[str, Any]) -> list[DagsterRun]:
    """The runs (with their step stats) of a `METRICS_RUNS` answer."""
    return parse_runs(object_field(data, "runsOrError"), "runsOrError")


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

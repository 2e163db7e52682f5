"""Metrics and telemetry for the pipeline (the original's events, plus the missing failure events).

Log events keep the original's names (``stage.<name>.start|success|skipped|failure``,
``pipeline.newAssignment.start|success|failure``, ...) and carry ``run_id`` and ``job_id``; they
are written by ``esl_dagster.pipeline.logs``. Metrics keep the original's dotted names
(``esl.pipeline.stage.duration_ms``); ``CountingMetrics`` tallies them inside a run process, and
each Dagster op publishes what its stage counted as op metadata (see ``CountingMetrics``).
``PipelineTelemetry`` emits both for a stage or an operation, so the runner and the Dagster ops
report the same way. A skipped stage is a normal outcome (e.g. no audio asked for) and logs at
INFO.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from esl_dagster.pipeline.logs import EventLogger, Level, NoopLogger

Tags = Mapping[str, str]


# ##### metrics


@runtime_checkable
class PipelineMetrics(Protocol):
    def timing(self, metric: str, ms: float, tags: Tags | None = None) -> None: ...

    def increment(self, metric: str, value: float = 1, tags: Tags | None = None) -> None: ...


class NoopMetrics:
    def timing(self, metric: str, ms: float, tags: Tags | None = None) -> None:
        del metric, ms, tags  # accepted for the interface, then dropped

    def increment(self, metric: str, value: float = 1, tags: Tags | None = None) -> None:
        del metric, value, tags  # accepted for the interface, then dropped


# The counters a stage op reports in its metadata (summed by the API shim's metrics collector).
EXTERNAL_REQUESTS = "esl.external.requests"  # tags: service, status (HTTP code or "error")
EXTERNAL_RETRIES = "esl.external.retries"  # tags: service
TTS_CHARACTERS = "esl.tts.characters"  # tags: provider
UPLOADS = "esl.uploads"  # tags: target
STAGE_COUNTERS = (EXTERNAL_REQUESTS, EXTERNAL_RETRIES, TTS_CHARACTERS, UPLOADS)

CounterKey = tuple[str, tuple[tuple[str, str], ...]]


def _counter_key(metric: str, tags: Tags | None) -> CounterKey:
    return metric, tuple(sorted((str(k), str(v)) for k, v in (tags or {}).items()))


class CountingMetrics:
    """``PipelineMetrics`` that tallies in memory, for one run process.

    Run workers are separate, short-lived processes that Prometheus cannot scrape, so a stage op
    reads what its stage counted (``since(mark)``) and publishes it as op metadata, which the API
    shim sums from Dagster's event log. Counters only (the shim reads durations from Dagster's
    step records). Thread-safe: speech clips are fetched concurrently.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[CounterKey, float] = {}
        self._marks: dict[str, dict[CounterKey, float]] = {}

    def increment(self, metric: str, value: float = 1, tags: Tags | None = None) -> None:
        key = _counter_key(metric, tags)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0.0) + value

    def timing(self, metric: str, ms: float, tags: Tags | None = None) -> None:
        """Not tallied: the shim reads stage and run durations from Dagster's step records."""
        del metric, ms, tags

    def snapshot(self) -> dict[CounterKey, float]:
        with self._lock:
            return dict(self._counts)

    def mark(self, name: str) -> None:
        """Remember the counts now under ``name``, unless a mark of that name exists (a retried
        attempt of a step keeps the mark of its first attempt, so its report covers them all)."""
        with self._lock:
            self._marks.setdefault(name, dict(self._counts))

    def since(
        self, name: str, metrics: tuple[str, ...] = STAGE_COUNTERS
    ) -> dict[CounterKey, float]:
        """What ``metrics`` counted since ``mark(name)`` (everything when never marked); forgets
        the mark."""
        with self._lock:
            base = self._marks.pop(name, {})
            return {
                key: value - base.get(key, 0.0)
                for key, value in self._counts.items()
                if key[0] in metrics and value != base.get(key, 0.0)
            }


def counters_report(counts: Mapping[CounterKey, float]) -> list[dict[str, Any]]:
    """The JSON shape of counts in op metadata: ``[{"metric", "tags", "value"}]``, sorted."""
    return [
        {"metric": metric, "tags": dict(tags), "value": value}
        for (metric, tags), value in sorted(counts.items())
    ]


def record_request(
    metrics: PipelineMetrics, service: str, status: int | None, *, retry: bool = False
) -> None:
    """Count one HTTP attempt to ``service`` (``status`` None: no answer) and, when it repeats an
    earlier attempt, one retry."""
    code = "error" if status is None else str(status)
    metrics.increment(EXTERNAL_REQUESTS, 1, {"service": service, "status": code})
    if retry:
        metrics.increment(EXTERNAL_RETRIES, 1, {"service": service})


# ##### the original's events and metrics, in one place

Operation = Literal["newAssignment", "rerunAssignment", "getAssignmentStatus"]
_OPERATION_METRIC: dict[str, str] = {
    "newAssignment": "new_assignment",
    "rerunAssignment": "rerun_assignment",
    "getAssignmentStatus": "get_assignment_status",
}
EndOutcome = Literal["success", "failure"]


@dataclass(frozen=True)
class _Subject:
    """What a start event and its end event report on: one stage or one pipeline operation.

    Events are ``<event>.start|success|failure`` with ``stage`` = ``log_stage``; the end records
    the timing ``<metric>.duration_ms`` tagged ``tags`` plus ``{outcome_tag: outcome}``, and
    counts ``<metric>.<outcome>`` tagged ``tags``.
    """

    event: str
    log_stage: str
    metric: str
    tags: Tags
    outcome_tag: str

    @classmethod
    def stage(cls, stage: str) -> "_Subject":
        return cls(f"stage.{stage}", stage, "esl.pipeline.stage", {"stage": stage}, "status")

    @classmethod
    def operation(cls, operation: Operation) -> "_Subject":
        metric = f"esl.pipeline.{_OPERATION_METRIC[operation]}"
        return cls(f"pipeline.{operation}", "pipeline", metric, {}, "result")


def _error_text(error: BaseException) -> str:
    return str(error) or type(error).__name__


class PipelineTelemetry:
    """Emits the original's log events and metrics for stages and pipeline operations.

    ``start`` returns a start time to hand back to ``success``/``failure``, which log
    ``durationMs`` and record the timing.
    """

    def __init__(
        self,
        logger: EventLogger | None = None,
        metrics: PipelineMetrics | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.logger: EventLogger = logger if logger is not None else NoopLogger()
        self.metrics: PipelineMetrics = metrics if metrics is not None else NoopMetrics()
        self._clock = clock

    def stage_start(self, stage: str, detail: Mapping[str, Any] | None = None) -> float:
        return self._start(_Subject.stage(stage), detail)

    def stage_success(
        self, stage: str, started: float, detail: Mapping[str, Any] | None = None
    ) -> float:
        return self._end(_Subject.stage(stage), started, "success", detail or {})

    def stage_skipped(self, stage: str, reason: str) -> None:
        self.logger.log("info", f"stage.{stage}.skipped", stage=stage, detail={"reason": reason})
        self.metrics.increment("esl.pipeline.stage.skipped", 1, {"stage": stage})

    def stage_failure(self, stage: str, started: float, error: BaseException) -> float:
        return self._end(_Subject.stage(stage), started, "failure", {"error": _error_text(error)})

    def operation_start(
        self, operation: Operation, detail: Mapping[str, Any] | None = None
    ) -> float:
        return self._start(_Subject.operation(operation), detail)

    def operation_success(
        self, operation: Operation, started: float, detail: Mapping[str, Any] | None = None
    ) -> float:
        return self._end(_Subject.operation(operation), started, "success", detail or {})

    def operation_failure(
        self, operation: Operation, started: float, error: BaseException
    ) -> float:
        subject = _Subject.operation(operation)
        return self._end(subject, started, "failure", {"error": _error_text(error)})

    def _start(self, subject: _Subject, detail: Mapping[str, Any] | None) -> float:
        self.logger.log("info", f"{subject.event}.start", stage=subject.log_stage, detail=detail)
        return self._clock()

    def _end(
        self, subject: _Subject, started: float, outcome: EndOutcome, detail: Mapping[str, Any]
    ) -> float:
        """Log the end event (``durationMs`` first in its detail), record the duration and count
        the outcome; returns the duration in milliseconds."""
        duration = round((self._clock() - started) * 1000.0, 3)
        level: Level = "info" if outcome == "success" else "error"
        self.logger.log(
            level,
            f"{subject.event}.{outcome}",
            stage=subject.log_stage,
            detail={"durationMs": duration, **detail},
        )
        timing_tags = {**subject.tags, subject.outcome_tag: outcome}
        self.metrics.timing(f"{subject.metric}.duration_ms", duration, timing_tags)
        self.metrics.increment(f"{subject.metric}.{outcome}", 1, subject.tags)
        return duration


__all__ = [
    "EXTERNAL_REQUESTS",
    "EXTERNAL_RETRIES",
    "STAGE_COUNTERS",
    "TTS_CHARACTERS",
    "UPLOADS",
    "CountingMetrics",
    "Level",
    "NoopLogger",
    "NoopMetrics",
    "Operation",
    "PipelineMetrics",
    "PipelineTelemetry",
    "counters_report",
    "record_request",
]

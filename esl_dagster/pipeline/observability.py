"""Metrics and telemetry for the pipeline (reference §4, plus the missing failure events).

Log events keep the original's names (``stage.<name>.start|success|skipped|failure``,
``pipeline.newAssignment.start|success|failure``, ...) and carry ``run_id`` and ``job_id``; they
are written by ``esl_dagster.pipeline.logs``. ``PrometheusMetrics`` maps the original's
dotted metric names onto Prometheus ones (``esl.pipeline.stage.duration_ms`` ->
histogram ``esl_pipeline_stage_duration_seconds``, ``esl.pipeline.stage.success`` -> counter
``esl_pipeline_stage_success_total``). ``PipelineTelemetry`` emits both for a stage or an
operation, so the runner and the Dagster ops report the same way. A skipped stage is a normal
outcome (e.g. no audio asked for) and logs at INFO.
"""

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from esl_dagster.pipeline.logs import Level, NoopLogger, PipelineLogger

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


_OPERATIONS = ("new_assignment", "rerun_assignment", "get_assignment_status")

# The label names of the original's metrics (reference §4.3, plus stage failures).
KNOWN_METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "esl.pipeline.stage.duration_ms": ("stage", "status"),
    "esl.pipeline.stage.success": ("stage",),
    "esl.pipeline.stage.skipped": ("stage",),
    "esl.pipeline.stage.failure": ("stage",),
    **{f"esl.pipeline.{op}.duration_ms": ("result",) for op in _OPERATIONS},
    **{f"esl.pipeline.{op}.success": () for op in _OPERATIONS},
    **{f"esl.pipeline.{op}.failure": () for op in _OPERATIONS},
}

DURATION_BUCKETS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


def prometheus_name(metric: str, *, timing: bool) -> str:
    """``esl.pipeline.stage.duration_ms`` -> ``esl_pipeline_stage_duration_seconds``.

    Timings are exported in seconds (Prometheus' base unit), so a ``_ms`` suffix becomes
    ``_seconds``; counters get ``_total`` from the client library.
    """
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", metric)
    if re.match(r"[0-9]", name):
        name = f"_{name}"
    if timing:
        name = re.sub(r"_ms$", "", name)
        if not name.endswith("_seconds"):
            name = f"{name}_seconds"
    return name


_registry_lock = threading.Lock()
_collectors: dict[tuple[int, str], tuple[Counter | Histogram, tuple[str, ...]]] = {}


class PrometheusMetrics:
    """``PipelineMetrics`` on prometheus_client (default: the process-wide registry).

    A metric's label names are fixed on first use (the known metrics use the original's tag
    names); later calls fill a missing tag with "" and drop unknown ones, so recording a metric
    never fails the pipeline. Instances on the same registry share their collectors.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else REGISTRY

    def _collector(
        self, metric: str, tags: Tags, *, timing: bool
    ) -> tuple[Counter | Histogram, tuple[str, ...]]:
        name = prometheus_name(metric, timing=timing)
        key = (id(self.registry), name)
        with _registry_lock:
            found = _collectors.get(key)
            if found is None:
                labels = KNOWN_METRIC_LABELS.get(metric, tuple(sorted(tags)))
                documentation = f"{metric} ({'seconds' if timing else 'count'})"
                collector: Counter | Histogram
                if timing:
                    collector = Histogram(
                        name,
                        documentation,
                        labels,
                        registry=self.registry,
                        buckets=DURATION_BUCKETS_SECONDS,
                    )
                else:
                    collector = Counter(name, documentation, labels, registry=self.registry)
                found = (collector, labels)
                _collectors[key] = found
            return found

    @staticmethod
    def _labelled(collector: Any, labels: tuple[str, ...], tags: Tags) -> Any:
        if not labels:
            return collector
        return collector.labels(**{label: str(tags.get(label, "")) for label in labels})

    def timing(self, metric: str, ms: float, tags: Tags | None = None) -> None:
        tags = tags or {}
        collector, labels = self._collector(metric, tags, timing=True)
        self._labelled(collector, labels, tags).observe(max(0.0, ms) / 1000.0)

    def increment(self, metric: str, value: float = 1, tags: Tags | None = None) -> None:
        tags = tags or {}
        collector, labels = self._collector(metric, tags, timing=False)
        self._labelled(collector, labels, tags).inc(value)


def render_latest(registry: CollectorRegistry | None = None) -> bytes:
    """The Prometheus text exposition of ``registry`` (default: the process-wide one)."""
    return generate_latest(registry if registry is not None else REGISTRY)


# ##### the original's events and metrics, in one place

Operation = Literal["newAssignment", "rerunAssignment", "getAssignmentStatus"]
_OPERATION_METRIC: dict[str, str] = {
    "newAssignment": "new_assignment",
    "rerunAssignment": "rerun_assignment",
    "getAssignmentStatus": "get_assignment_status",
}


def stage_event(stage: str, outcome: Literal["start", "success", "skipped", "failure"]) -> str:
    return f"stage.{stage}.{outcome}"


def operation_event(operation: Operation, outcome: Literal["start", "success", "failure"]) -> str:
    return f"pipeline.{operation}.{outcome}"


def _error_text(error: BaseException) -> str:
    return str(error) or type(error).__name__


class PipelineTelemetry:
    """Emits the original's log events and metrics for stages and pipeline operations.

    ``start`` returns a start time to hand back to ``success``/``failure``, which log
    ``durationMs`` and record the timing.
    """

    def __init__(
        self,
        logger: PipelineLogger | None = None,
        metrics: PipelineMetrics | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.logger: PipelineLogger = logger if logger is not None else NoopLogger()
        self.metrics: PipelineMetrics = metrics if metrics is not None else NoopMetrics()
        self._clock = clock

    def _elapsed_ms(self, started: float) -> float:
        return round((self._clock() - started) * 1000.0, 3)

    def stage_start(self, stage: str, detail: Mapping[str, Any] | None = None) -> float:
        self.logger.log("info", stage_event(stage, "start"), stage=stage, detail=detail)
        return self._clock()

    def stage_success(
        self, stage: str, started: float, detail: Mapping[str, Any] | None = None
    ) -> float:
        duration = self._elapsed_ms(started)
        return self._stage_end(
            stage, "success", duration, "info", {**(detail or {}), "durationMs": duration}
        )

    def stage_skipped(self, stage: str, reason: str) -> None:
        self.logger.log(
            "info", stage_event(stage, "skipped"), stage=stage, detail={"reason": reason}
        )
        self.metrics.increment("esl.pipeline.stage.skipped", 1, {"stage": stage})

    def stage_failure(self, stage: str, started: float, error: BaseException) -> float:
        duration = self._elapsed_ms(started)
        return self._stage_end(
            stage,
            "failure",
            duration,
            "error",
            {"durationMs": duration, "error": _error_text(error)},
        )

    def operation_start(
        self, operation: Operation, detail: Mapping[str, Any] | None = None
    ) -> float:
        self.logger.log(
            "info", operation_event(operation, "start"), stage="pipeline", detail=detail
        )
        return self._clock()

    def operation_success(
        self, operation: Operation, started: float, detail: Mapping[str, Any] | None = None
    ) -> float:
        duration = self._elapsed_ms(started)
        return self._operation_end(
            operation, "success", duration, "info", {"durationMs": duration, **(detail or {})}
        )

    def operation_failure(
        self, operation: Operation, started: float, error: BaseException
    ) -> float:
        duration = self._elapsed_ms(started)
        return self._operation_end(
            operation,
            "failure",
            duration,
            "error",
            {"durationMs": duration, "error": _error_text(error)},
        )

    def _stage_end(
        self,
        stage: str,
        outcome: Literal["success", "failure"],
        duration: float,
        level: Level,
        detail: Mapping[str, Any],
    ) -> float:
        """Log the stage's end event and record its duration and outcome counter."""
        self.logger.log(level, stage_event(stage, outcome), stage=stage, detail=detail)
        self.metrics.timing(
            "esl.pipeline.stage.duration_ms", duration, {"stage": stage, "status": outcome}
        )
        self.metrics.increment(f"esl.pipeline.stage.{outcome}", 1, {"stage": stage})
        return duration

    def _operation_end(
        self,
        operation: Operation,
        outcome: Literal["success", "failure"],
        duration: float,
        level: Level,
        detail: Mapping[str, Any],
    ) -> float:
        """Log the operation's end event and record its duration and outcome counter."""
        self.logger.log(level, operation_event(operation, outcome), stage="pipeline", detail=detail)
        metric = _OPERATION_METRIC[operation]
        self.metrics.timing(f"esl.pipeline.{metric}.duration_ms", duration, {"result": outcome})
        self.metrics.increment(f"esl.pipeline.{metric}.{outcome}")
        return duration


__all__ = [
    "DURATION_BUCKETS_SECONDS",
    "KNOWN_METRIC_LABELS",
    "PROMETHEUS_CONTENT_TYPE",
    "NoopMetrics",
    "Operation",
    "PipelineMetrics",
    "PipelineTelemetry",
    "PrometheusMetrics",
    "operation_event",
    "prometheus_name",
    "render_latest",
    "stage_event",
]

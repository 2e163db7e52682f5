"""Cumulative job and stage figures, folded one finished run at a time.

`JobTally.fold` adds a finished run (its record and the reports of its steps) to histograms and
counters that only ever grow; `families` turns them into Prometheus metric families.
"""

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from api_shim.dagster_gateway import DagsterRun
from api_shim.job_metrics_queries import StepReport
from api_shim.job_view import WILL_RETRY_TAG
from api_shim.timestamps import submitted_at

JOB_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
QUEUE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

RUN_OUTCOMES = {"SUCCESS": "succeeded", "FAILURE": "failed", "CANCELED": "canceled"}
STEP_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure"}

# Engine counter (op metadata) -> exported counter name and its label names. Anything else in the
# metadata is ignored, so a metric or label cannot appear by accident.
STAGE_COUNTERS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "esl.external.requests": (
        "esl_external_requests",
        ("service", "status"),
        "HTTP attempts of the run workers to external services, by service and status code "
        "('error': no answer); 429s included.",
    ),
    "esl.external.retries": (
        "esl_external_retries",
        ("service",),
        "HTTP attempts that repeated a failed one (429, 5xx, timeouts), by service.",
    ),
    "esl.tts.characters": (
        "esl_tts_characters",
        ("provider",),
        "Characters of delivered speech clips (what ElevenLabs bills), by provider.",
    ),
    "esl.uploads": ("esl_uploads", ("target",), "Audio files uploaded, by target."),
}
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    observations: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.buckets):
            self.counts[index] += 1
        self.total += value
        self.observations += 1

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        points: list[tuple[str, float]] = []
        for bound, count in zip(self.buckets, self.counts or [0] * len(self.buckets), strict=True):
            running += count
            points.append((_float_text(bound), running))
        points.append(("+Inf", self.observations))
        return points


def _float_text(value: float) -> str:
    return repr(float(value))


Labels = tuple[str, ...]


@dataclass
class JobTally:
    """Histograms and counters over every finished run folded so far (they never decrease)."""

    job_duration: dict[Labels, Histogram] = field(default_factory=dict)
    queue_wait: Histogram = field(default_factory=lambda: Histogram(QUEUE_BUCKETS))
    stage_duration: dict[Labels, Histogram] = field(default_factory=dict)
    stage_failures: dict[Labels, float] = field(default_factory=dict)
    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)

    def fold(self, run: DagsterRun, reports: Mapping[str, StepReport]) -> None:
        """Add one finished run. A failed run the daemon retries is not a job outcome (its retry
        is); its queue wait, stages and counters are."""
        outcome = RUN_OUTCOMES.get(run.status)
        retried = run.tags.get(WILL_RETRY_TAG, "").lower() == "true"
        if outcome is not None and not retried and run.end_time is not None:
            duration = max(0.0, run.end_time - created_at_of(run))
            self.job_duration.setdefault((outcome,), Histogram(JOB_BUCKETS)).observe(duration)
        if run.status != "CANCELED" and run.start_time is not None:
            self.queue_wait.observe(max(0.0, run.start_time - run.creation_time))
        for step in run.step_stats:
            report = reports.get(step.step_key, StepReport())
            stage = report.stage or step.step_key.split("[", 1)[0]
            step_outcome = STEP_OUTCOMES.get(step.status or "")
            if step_outcome is None or step.start_time is None or step.end_time is None:
                continue  # never ran, or cut off by a cancel: no duration to report
            if step_outcome == "success" and report.status == "skipped":
                step_outcome = "skipped"
            histogram = self.stage_duration.setdefault(
                (stage, step_outcome), Histogram(STAGE_BUCKETS)
            )
            histogram.observe(max(0.0, step.end_time - step.start_time))
            if step_outcome == "failure":
                key = (stage, _label(report.error_kind or "unknown"))
                self.stage_failures[key] = self.stage_failures.get(key, 0.0) + 1
        for report in reports.values():
            self._add_counters(report.counters)

    def _add_counters(self, counters: list[dict[str, Any]]) -> None:
        for item in counters:
            known = STAGE_COUNTERS.get(str(item.get("metric")))
            value = item.get("value")
            tags = item.get("tags")
            if known is None or not isinstance(value, int | float) or not isinstance(tags, dict):
                continue
            labels = tuple(_label(tags.get(name)) for name in known[1])
            series = self.counters.setdefault(known[0], {})
            series[labels] = series.get(labels, 0.0) + max(0.0, float(value))

    def families(self) -> Iterator[Metric]:
        job = HistogramMetricFamily(
            "esl_job_duration_seconds",
            "Job duration from submission to finish, by outcome (succeeded, failed, canceled).",
            labels=["outcome"],
        )
        for labels, histogram in sorted(self.job_duration.items()):
            job.add_metric(list(labels), histogram.cumulative(), histogram.total)
        yield job
        wait = HistogramMetricFamily(
            "esl_job_queue_wait_seconds", "Time a run waited in the run queue before it started."
        )
        wait.add_metric([], self.queue_wait.cumulative(), self.queue_wait.total)
        yield wait
        stage = HistogramMetricFamily(
            "esl_stage_duration_seconds",
            "Stage (op) duration, retries included, by stage and outcome (success, skipped, "
            "failure).",
            labels=["stage", "outcome"],
        )
        for labels, histogram in sorted(self.stage_duration.items()):
            stage.add_metric(list(labels), histogram.cumulative(), histogram.total)
        yield stage
        failures = CounterMetricFamily(
            "esl_stage_failures",
            "Stages that failed for good, by stage and error kind (the engine's error code).",
            labels=["stage", "kind"],
        )
        for labels, value in sorted(self.stage_failures.items()):
            failures.add_metric(list(labels), value)
        yield failures
        for name, label_names, documentation in STAGE_COUNTERS.values():
            family = CounterMetricFamily(name, documentation, labels=list(label_names))
            for labels, value in sorted(self.counters.get(name, {}).items()):
                family.add_metric(list(labels), value)
            yield family


def created_at_of(run: DagsterRun) -> float:
    """When the job was submitted (the shim's tag survives retries), else the run's creation."""
    return submitted_at(run.tags, run.creation_time)


def _label(value: object) -> str:
    text = str(value) if value is not None else ""
    return text if _LABEL_VALUE.match(text) else "other"

"""Metrics: the original's names on Prometheus, exposition text, no-op default."""

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from esl_dagster.pipeline.observability import (
    NoopMetrics,
    PipelineMetrics,
    PipelineTelemetry,
    PrometheusMetrics,
    prometheus_name,
    render_latest,
)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render_latest(registry).decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize(
    ("metric", "timing", "expected"),
    [
        ("esl.pipeline.stage.duration_ms", True, "esl_pipeline_stage_duration_seconds"),
        (
            "esl.pipeline.new_assignment.duration_ms",
            True,
            "esl_pipeline_new_assignment_duration_seconds",
        ),
        ("esl.pipeline.stage.success", False, "esl_pipeline_stage_success"),
        ("odd-name.with spaces", False, "odd_name_with_spaces"),
        ("9lives", False, "_9lives"),
    ],
)
def test_prometheus_names(metric: str, timing: bool, expected: str) -> None:
    assert prometheus_name(metric, timing=timing) == expected


def test_stage_and_operation_metrics_in_exposition_text() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry)
    assert isinstance(metrics, PipelineMetrics)
    ticks = iter([0.0, 0.0, 0.3, 1.0, 3.5, 4.0])
    telemetry = PipelineTelemetry(metrics=metrics, clock=lambda: next(ticks))
    op = telemetry.operation_start("newAssignment")
    started = telemetry.stage_start("validate")
    telemetry.stage_success("validate", started)
    telemetry.stage_skipped("upload", "no bucket")
    started = telemetry.stage_start("tts")
    telemetry.stage_failure("tts", started, RuntimeError("boom"))
    telemetry.operation_failure("newAssignment", op, RuntimeError("boom"))

    found = samples(registry)
    assert found[("esl_pipeline_stage_success_total", (("stage", "validate"),))] == 1
    assert found[("esl_pipeline_stage_skipped_total", (("stage", "upload"),))] == 1
    assert found[("esl_pipeline_stage_failure_total", (("stage", "tts"),))] == 1
    assert found[("esl_pipeline_new_assignment_failure_total", ())] == 1
    validate_labels = (("stage", "validate"), ("status", "success"))
    assert found[("esl_pipeline_stage_duration_seconds_count", validate_labels)] == 1
    assert found[("esl_pipeline_stage_duration_seconds_sum", validate_labels)] == pytest.approx(0.3)
    bucket = (("le", "0.5"), ("stage", "validate"), ("status", "success"))
    assert found[("esl_pipeline_stage_duration_seconds_bucket", bucket)] == 1
    tts_labels = (("stage", "tts"), ("status", "failure"))
    assert found[("esl_pipeline_stage_duration_seconds_sum", tts_labels)] == pytest.approx(2.5)
    assert (
        found[("esl_pipeline_new_assignment_duration_seconds_count", (("result", "failure"),))] == 1
    )

    text = render_latest(registry).decode("utf-8")
    assert "# TYPE esl_pipeline_stage_duration_seconds histogram" in text
    assert "# TYPE esl_pipeline_stage_success_total counter" in text


def test_instances_share_collectors_on_one_registry_and_tolerate_tag_drift() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry).increment("custom.events", tags={"kind": "a"})
    PrometheusMetrics(registry).increment("custom.events", 2, tags={"kind": "a"})
    PrometheusMetrics(registry).increment("custom.events", tags={"other": "x"})
    found = samples(registry)
    assert found[("custom_events_total", (("kind", "a"),))] == 3
    assert found[("custom_events_total", (("kind", ""),))] == 1


def test_registries_are_independent() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    PrometheusMetrics(first).increment("esl.pipeline.stage.success", tags={"stage": "tts"})
    assert ("esl_pipeline_stage_success_total", (("stage", "tts"),)) in samples(first)
    assert not any(name.startswith("esl_pipeline") for name, _ in samples(second))


def test_noop_metrics() -> None:
    metrics = NoopMetrics()
    assert isinstance(metrics, PipelineMetrics)
    metrics.timing("esl.pipeline.stage.duration_ms", 12.0, {"stage": "tts"})
    metrics.increment("esl.pipeline.stage.success")

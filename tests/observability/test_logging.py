"""JSON log lines: one object per line, run_id/job_id bound, secrets masked."""

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from esl_dagster.pipeline.observability import (
    JsonLogger,
    NoopLogger,
    PipelineLogger,
    PipelineTelemetry,
    logger_from_settings,
    mask_secret,
)
from esl_dagster.pipeline.settings import Settings


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def fixed_clock() -> datetime:
    return datetime(2025, 11, 13, 8, 30, 15, 123456, tzinfo=UTC)


def test_one_json_object_per_line_with_bound_ids() -> None:
    stream = io.StringIO()
    root = JsonLogger(stream, clock=fixed_clock)
    assert isinstance(root, PipelineLogger)
    run_logger = root.bind(run_id="run-1", job_id="job-9")
    run_logger.log("info", "stage.tts.start", stage="tts")
    run_logger.log("warn", "stage.upload.skipped", stage="upload", detail={"reason": "no bucket"})
    root.log("info", "Using TTS mode: auto")
    first, second, third = lines(stream)
    assert first == {
        "timestamp": "2025-11-13T08:30:15.123Z",
        "level": "info",
        "message": "stage.tts.start",
        "event": "stage.tts.start",
        "run_id": "run-1",
        "job_id": "job-9",
        "stage": "tts",
        "detail": None,
    }
    assert second["level"] == "warn" and second["detail"] == {"reason": "no bucket"}
    assert (third["run_id"], third["job_id"]) == (None, None)  # bind did not change the parent


def test_extra_bound_fields_and_non_json_values() -> None:
    stream = io.StringIO()
    JsonLogger(stream).bind(run_id="r", lesson="03.md").log(
        "error", "stage.import.failure", stage="import", detail={"path": Path("/x/y.md")}
    )
    [record] = lines(stream)
    assert record["lesson"] == "03.md"
    assert record["detail"] == {"path": "/x/y.md"}
    assert str(record["timestamp"]).endswith("Z")


def test_secrets_in_detail_are_masked() -> None:
    stream = io.StringIO()
    JsonLogger(stream).log(
        "info",
        "pipeline.newAssignment.start",
        detail={
            "notionToken": "ntn_1234567890abcdefXYZW",
            "nested": {"api_key": "short", "Authorization": "Bearer abcdefghijklmnop"},
            "md": "lesson.md",
        },
    )
    text = stream.getvalue()
    assert "ntn_1234567890" not in text and "short" not in text and "abcdefghijk" not in text
    [record] = lines(stream)
    detail = record["detail"]
    assert isinstance(detail, dict)
    assert detail["notionToken"] == "***XYZW"
    assert detail["nested"] == {"api_key": "***", "Authorization": "***mnop"}
    assert detail["md"] == "lesson.md"


def test_mask_secret() -> None:
    assert mask_secret(None) == ""
    assert mask_secret("") == ""
    assert mask_secret("abc") == "***"
    assert mask_secret("secret_0123456789abcd") == "***abcd"


def test_level_filter_and_unknown_level() -> None:
    stream = io.StringIO()
    logger = JsonLogger(stream, level="warning")
    logger.log("info", "dropped")
    logger.log("debug", "dropped")
    logger.log("error", "kept")
    assert [r["message"] for r in lines(stream)] == ["kept"]
    with pytest.raises(ValueError, match="unknown log level"):
        logger.log("loud", "x")


def test_stdlib_logging_target(caplog: pytest.LogCaptureFixture) -> None:
    target = logging.getLogger("esl.test.observability")
    with caplog.at_level(logging.DEBUG, logger="esl.test.observability"):
        JsonLogger(logger=target).bind(job_id="j").log("warn", "stage.tts.skipped", stage="tts")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert json.loads(record.getMessage())["job_id"] == "j"


def test_text_format_and_settings() -> None:
    stream = io.StringIO()
    logger = logger_from_settings(
        Settings(_env_file=None, log_format="text", log_level="info"), stream
    )
    logger.bind(run_id="r1").log(
        "info", "stage.validate.success", stage="validate", detail={"durationMs": 3}
    )
    line = stream.getvalue().strip()
    assert " INFO stage.validate.success run_id=r1 stage=validate " in line
    assert line.endswith('{"durationMs": 3}')


def test_noop_logger() -> None:
    logger = NoopLogger()
    assert isinstance(logger, PipelineLogger)
    assert logger.bind(run_id="x") is logger
    logger.log("info", "anything")


def test_telemetry_emits_the_original_events_plus_failure() -> None:
    stream = io.StringIO()
    ticks = iter([0.0, 10.0, 10.25, 20.0, 20.5, 21.0])
    telemetry = PipelineTelemetry(
        JsonLogger(stream).bind(run_id="r", job_id="j"), clock=lambda: next(ticks)
    )
    op = telemetry.operation_start("newAssignment", {"md": "a.md", "preset": None, "student": None})
    started = telemetry.stage_start("validate")
    telemetry.stage_success("validate", started)
    telemetry.stage_skipped("tts", "unchanged")
    started = telemetry.stage_start("import")
    telemetry.stage_failure("import", started, RuntimeError("Notion said no"))
    telemetry.operation_failure("newAssignment", op, RuntimeError("Notion said no"))
    records = lines(stream)
    assert [r["message"] for r in records] == [
        "pipeline.newAssignment.start",
        "stage.validate.start",
        "stage.validate.success",
        "stage.tts.skipped",
        "stage.import.start",
        "stage.import.failure",
        "pipeline.newAssignment.failure",
    ]
    assert [r["level"] for r in records] == [
        "info",
        "info",
        "info",
        "warn",
        "info",
        "error",
        "error",
    ]
    assert all(r["run_id"] == "r" and r["job_id"] == "j" for r in records)
    assert records[0]["stage"] == "pipeline"
    assert records[2]["detail"] == {"durationMs": 250.0}
    assert records[3]["detail"] == {"reason": "unchanged"}
    assert records[5]["detail"] == {"durationMs": 500.0, "error": "Notion said no"}
    assert records[6]["detail"] == {"durationMs": 21000.0, "error": "Notion said no"}

"""The engine's logs: standard logging records, one JSON object per line, secrets masked."""

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from esl_dagster.pipeline.logs import (
    EventLogger,
    JsonFormatter,
    NoopLogger,
    configure_logging,
    logger_from_settings,
    mask_secret,
)
from esl_dagster.pipeline.observability import PipelineTelemetry
from esl_dagster.pipeline.settings import load_settings


class Captured:
    """A logger of its own writing JSON lines to a string."""

    def __init__(self, name: str, level: int = logging.DEBUG) -> None:
        self.stream = io.StringIO()
        self.target = logging.getLogger(name)
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(JsonFormatter())
        self.target.handlers = [handler]
        self.target.setLevel(level)
        self.target.propagate = False

    def events(self) -> EventLogger:
        return EventLogger(self.target)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Captured:
    return Captured(f"esl.test.{request.node.name}")


@pytest.fixture
def restore_esl_logger() -> Iterator[None]:
    root = logging.getLogger("esl")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers, root.level, root.propagate = saved[0], saved[1], saved[2]


def test_one_json_object_per_line_with_bound_ids(captured: Captured) -> None:
    root = captured.events()
    assert isinstance(root, EventLogger)
    run_logger = root.bind(run_id="run-1", job_id="job-9")
    run_logger.log("info", "stage.tts.start", stage="tts")
    run_logger.log("warn", "tts.voice_warnings", stage="tts", detail={"warnings": ["x"]})
    root.log("info", "Using TTS mode: auto")
    first, second, third = captured.lines()
    timestamp = str(first.pop("timestamp"))
    assert timestamp.endswith("Z") and "T" in timestamp
    assert first == {
        "level": "info",
        "logger": captured.target.name,
        "message": "stage.tts.start",
        "event": "stage.tts.start",
        "run_id": "run-1",
        "job_id": "job-9",
        "stage": "tts",
    }
    assert second["level"] == "warning" and second["detail"] == {"warnings": ["x"]}
    assert "run_id" not in third and "job_id" not in third  # bind did not change the parent


def test_the_message_of_an_event_is_its_json(captured: Captured) -> None:
    """Handlers that store ``getMessage()`` (Dagster's event log) get JSON with the event name."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    captured.target.addHandler(Collect())
    captured.events().bind(job_id="j").log("info", "stage.tts.skipped", stage="tts")
    [record] = records
    assert json.loads(record.getMessage()) == {
        "event": "stage.tts.skipped",
        "job_id": "j",
        "stage": "tts",
    }


def test_extra_bound_fields_and_non_json_values(captured: Captured) -> None:
    captured.events().bind(run_id="r", lesson="03.md").log(
        "error", "stage.import.failure", stage="import", detail={"path": Path("/x/y.md")}
    )
    [record] = captured.lines()
    assert record["lesson"] == "03.md"
    assert record["detail"] == {"path": "/x/y.md"}


def test_secrets_in_detail_are_masked(captured: Captured) -> None:
    captured.events().log(
        "info",
        "pipeline.newAssignment.start",
        detail={
            "notionToken": "ntn_1234567890abcdefXYZW",
            "nested": {"api_key": "short", "Authorization": "Bearer abcdefghijklmnop"},
            "md": "lesson.md",
        },
    )
    text = captured.stream.getvalue()
    assert "ntn_1234567890" not in text and "short" not in text and "abcdefghijk" not in text
    [record] = captured.lines()
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


def test_level_filter_and_unknown_level(request: pytest.FixtureRequest) -> None:
    captured = Captured(f"esl.test.{request.node.name}", level=logging.WARNING)
    logger = captured.events()
    logger.log("info", "dropped")
    logger.log("debug", "dropped")
    logger.log("error", "kept")
    assert [r["message"] for r in captured.lines()] == ["kept"]
    with pytest.raises(ValueError, match="unknown log level"):
        logger.log("loud", "x")


def test_exceptions_are_one_json_line(captured: Captured) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        captured.target.exception("upload failed", extra={"job_id": "j"})
    [record] = captured.lines()
    assert record["message"] == "upload failed" and record["job_id"] == "j"
    assert "RuntimeError: boom" in str(record["exception"])


@pytest.mark.usefixtures("restore_esl_logger")
def test_settings_choose_json_or_text_for_the_esl_tree() -> None:
    stream = io.StringIO()
    logger = logger_from_settings(load_settings(None, ESL_LOG_LEVEL="info"), stream)
    logger.bind(run_id="r1").log("debug", "hidden")
    logger.bind(run_id="r1").log("info", "stage.validate.success", stage="validate")
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["event"] == "stage.validate.success"

    stream = io.StringIO()
    configure_logging("info", "text", stream)  # replaces the JSON handler, no duplicate lines
    EventLogger().bind(run_id="r1").log(
        "info", "stage.validate.success", stage="validate", detail={"durationMs": 3}
    )
    [line] = stream.getvalue().splitlines()
    assert " INFO stage.validate.success run_id=r1 stage=validate " in line
    assert line.endswith('detail={"durationMs":3}')
    assert len(logging.getLogger("esl").handlers) == 1


def test_noop_logger() -> None:
    logger = NoopLogger()
    assert isinstance(logger, EventLogger)
    assert logger.bind(run_id="x") is logger
    logger.log("info", "anything")


def test_telemetry_emits_the_original_events_and_a_skip_is_info(captured: Captured) -> None:
    ticks = iter([0.0, 10.0, 10.25, 20.0, 20.5, 21.0])
    telemetry = PipelineTelemetry(
        captured.events().bind(run_id="r", job_id="j"), clock=lambda: next(ticks)
    )
    op = telemetry.operation_start("newAssignment", {"md": "a.md", "preset": None, "student": None})
    started = telemetry.stage_start("validate")
    telemetry.stage_success("validate", started)
    telemetry.stage_skipped("tts", "tts disabled")
    started = telemetry.stage_start("import")
    telemetry.stage_failure("import", started, RuntimeError("Notion said no"))
    telemetry.operation_failure("newAssignment", op, RuntimeError("Notion said no"))
    records = captured.lines()
    assert [(r["message"], r["level"]) for r in records] == [
        ("pipeline.newAssignment.start", "info"),
        ("stage.validate.start", "info"),
        ("stage.validate.success", "info"),
        ("stage.tts.skipped", "info"),
        ("stage.import.start", "info"),
        ("stage.import.failure", "error"),
        ("pipeline.newAssignment.failure", "error"),
    ]
    assert all(r["run_id"] == "r" and r["job_id"] == "j" for r in records)
    assert records[0]["stage"] == "pipeline"
    assert records[2]["detail"] == {"durationMs": 250.0}
    assert records[3]["detail"] == {"reason": "tts disabled"}
    assert records[5]["detail"] == {"durationMs": 500.0, "error": "Notion said no"}
    assert records[6]["detail"] == {"durationMs": 21000.0, "error": "Notion said no"}

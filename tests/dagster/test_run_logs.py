"""The engine's records reach a run's Dagster event log as JSON, through the instance's managed
Python loggers as shipped in ``dagster.yaml``."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.resources.pipeline import PipelineResource
from tests.conftest import VALID_LESSONS

REPO = Path(__file__).resolve().parents[2]


def shipped_python_logs() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "dagster.yaml").read_text(encoding="utf-8"))
    python_logs: dict[str, Any] = config["python_logs"]
    return python_logs


def embedded_pipeline(tmp_path: Path) -> PipelineResource:
    """Notion preview, no audio asked for, manifests next to the lesson: no network at all."""
    return PipelineResource(
        variables={
            "PIPELINE_CWD": str(tmp_path),
            "ESL_LOCAL_UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )


def test_engine_events_are_json_in_the_run_log(tmp_path: Path) -> None:
    lesson = tmp_path / VALID_LESSONS[0].name
    shutil.copyfile(VALID_LESSONS[0], lesson)
    job = build_lesson_job("lesson_job_logs")
    with dg.instance_for_test(overrides={"python_logs": shipped_python_logs()}) as instance:
        result = job.execute_in_process(
            run_config={
                "ops": {"validate_lesson": {"config": {"md": str(lesson), "with_tts": False}}}
            },
            resources={"esl": embedded_pipeline(tmp_path)},
            tags={"esl/job_id": "job-logs"},
            instance=instance,
        )
        assert result.success
        entries = instance.all_logs(result.run_id)

    messages = [entry.user_message for entry in entries]
    engine = [json.loads(text) for text in messages if text.startswith('{"event"')]
    names = [record["event"] for record in engine]
    assert "stage.validate.success" in names and "stage.manifest.success" in names
    [skip] = [entry for entry in entries if '"event":"stage.tts.skipped"' in entry.user_message]
    assert skip.level == logging.INFO  # no audio asked for: a normal skip
    assert all(record["job_id"] == "job-logs" for record in engine)
    assert all(record["run_id"] == result.run_id for record in engine)
    assert not any("{'" in text for text in messages)  # no Python dict dumps


def test_loading_the_definitions_warns_nothing_about_sensor_owners() -> None:
    """As a daemon does on each code-location load, in a fresh process showing every warning."""
    script = (
        "from esl_dagster.definitions import defs\n"
        "defs().get_repository_def().get_sensor_def('lesson_folder_sensor').with_attributes()\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert "BetaWarning" not in done.stderr

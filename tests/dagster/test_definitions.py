"""The code location loads, holds what the deployment expects, and stays light to import."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from esl_dagster.definitions import defs
from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.run_config import LessonRunConfig
from esl_dagster.pipeline.options import JobOptions


def test_definitions_load_and_hold_jobs_sensors_schedules() -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    assert {job.name for job in definitions.resolve_all_job_defs()} >= {
        "lesson_job",
        "lesson_batch_job",
        "revalidate_folder_job",
    }
    assert [sensor.name for sensor in definitions.sensors or []] == [
        "lesson_folder_sensor",
        "relaunch_infrastructure_failures",
    ]
    assert [schedule.name for schedule in definitions.schedules or []] == ["nightly_revalidation"]
    assert set(definitions.resources or {}) >= {"esl", "lesson_sources"}


def test_code_location_loads_the_way_the_webserver_loads_it(tmp_path) -> None:
    """Dagster's own loader (module scan), not just ``defs()``: it rejects ambiguous modules."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster_cli = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster_cli), "definitions", "validate", "-m", "esl_dagster.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_lesson_job_has_the_seven_stage_ops_in_order_and_in_process_executor() -> None:
    assert [node.name for node in lesson_job.graph.nodes_in_topological_order] == [
        "validate_lesson",
        "import_to_notion",
        "colorize_page",
        "synthesize_audio",
        "upload_audio",
        "attach_audio",
        "write_manifest",
    ]
    assert lesson_job.executor_def is dg.in_process_executor


def test_run_config_fields_are_the_job_options() -> None:
    assert set(LessonRunConfig.model_fields) == set(JobOptions.model_fields)


def test_loading_the_code_location_imports_no_service_client() -> None:
    code = (
        "import sys, esl_dagster.definitions as d; d.defs();"
        "heavy = [m for m in ('boto3', 'botocore', 'dagster_aws', 'imageio_ffmpeg',"
        " 'espeakng_loader') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_the_run_config_builds_no_audio_unless_asked() -> None:
    assert LessonRunConfig(md="lesson.md").to_options().with_tts is False
    assert LessonRunConfig(md="lesson.md", with_tts=True).to_options().with_tts is True

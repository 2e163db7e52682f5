"""``lesson_job`` end to end in-process against the test doubles (fake Notion, fake ElevenLabs,
moto S3): every sample lesson, transient faults retried by the op, permanent ones failing at once.
The job under test has the production graph with a millisecond retry delay."""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.defs.lessons.tags import ERROR_TAG, MANIFEST_PATH_TAG
from esl_dagster.pipeline.lesson.validator import validate_text
from esl_dagster.resources.pipeline import PipelineResource
from tests.conftest import INVALID_LESSON, VALID_LESSONS
from tests.fakes.elevenlabs_server import SAMPLE_CATALOG, FakeElevenLabs, Fault
from tests.fakes.moto_s3 import s3_client
from tests.fakes.notion_server import FakeNotion, Seeded

FAST_RETRY = dg.RetryPolicy(max_retries=4, delay=0.01, backoff=dg.Backoff.EXPONENTIAL)
job = build_lesson_job("lesson_job_fast_retry", retry_policy=FAST_RETRY)


@pytest.fixture
def pipeline(
    tmp_path: Path,
    fake_notion: FakeNotion,
    fake_elevenlabs: FakeElevenLabs,
    moto_url: str,
    bucket: str,
) -> PipelineResource:
    return PipelineResource(
        variables={
            "NOTION_TOKEN": fake_notion.token,
            "NOTION_BASE_URL": fake_notion.base_url,
            "NOTION_MAX_RETRIES": "0",
            "ELEVENLABS_API_KEY": "test-key",
            "ELEVENLABS_BASE_URL": fake_elevenlabs.base_url,
            "ELEVENLABS_VOICES_PATH": str(SAMPLE_CATALOG),
            "ELEVENLABS_MAX_RETRIES": "0",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": moto_url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "PIPELINE_CWD": str(tmp_path),
            "ESL_LOCAL_UPLOAD_DIR": str(tmp_path / "uploads"),
        }
    )


def run(
    pipeline: PipelineResource, md: Path, seeded: Seeded, **options: Any
) -> dg.ExecuteInProcessResult:
    voices = md.parent / "voices.yml"  # automatic voices from the fake's catalog
    voices.write_text("auto: true\n", encoding="utf-8")
    # Audio is off unless asked: these runs ask unless a test says otherwise.
    config = {
        "md": str(md),
        "db_id": seeded.homework_db,
        "voices": str(voices),
        "with_tts": True,
        **options,
    }
    return job.execute_in_process(
        run_config={"ops": {"validate_lesson": {"config": config}}},
        resources={"esl": pipeline},
        tags={"esl/job_id": "test-job", "esl/source": "api"},
        raise_on_error=False,
    )


def copy(lesson: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lessons" / lesson.name
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(lesson, target)
    return target


def retries(result: dg.ExecuteInProcessResult, step: str) -> int:
    return sum(
        1
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY and event.step_key == step
    )


def failure_description(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    event = next(event for event in result.all_events if event.is_step_failure)
    data = event.step_failure_data
    assert data is not None and data.user_failure_data is not None
    return str(event.step_key), data.user_failure_data.description or ""


def output_metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    for event in result.events_for_node(node):
        if event.event_type == dg.DagsterEventType.STEP_OUTPUT:
            return {key: value.value for key, value in event.step_output_data.metadata.items()}
    raise AssertionError(f"no output for {node}")


@pytest.mark.parametrize("lesson", VALID_LESSONS, ids=lambda path: path.stem)
def test_every_sample_lesson_runs_through_all_stages(
    lesson: Path,
    tmp_path: Path,
    pipeline: PipelineResource,
    seeded: Seeded,
    fake_notion: FakeNotion,
    moto_url: str,
    bucket: str,
) -> None:
    result = run(pipeline, copy(lesson, tmp_path), seeded)
    assert result.success
    assert fake_notion.page_count(seeded.homework_ds) == 1
    keys = [o["Key"] for o in s3_client(moto_url).list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].endswith(".mp3")
    manifest = result.dagster_run.tags[MANIFEST_PATH_TAG]
    assert Path(manifest).is_file()
    assert ERROR_TAG not in result.dagster_run.tags
    assert output_metadata(result, "import_to_notion")["notion_page"].startswith("http")
    assert output_metadata(result, "write_manifest")["manifest_path"] == manifest
    assert output_metadata(result, "synthesize_audio")["status"] == "success"
    uploaded = output_metadata(result, "upload_audio")["audio_url"]
    assert output_metadata(result, "attach_audio")["audio_url"] == uploaded


def test_rerun_of_an_unchanged_lesson_still_reports_its_manifest(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    lesson = copy(VALID_LESSONS[0], tmp_path)
    first = run(pipeline, lesson, seeded, with_tts=False)
    second = run(pipeline, lesson, seeded, with_tts=False)
    assert first.success and second.success
    assert output_metadata(second, "write_manifest")["status"] == "skipped"
    assert second.dagster_run.tags[MANIFEST_PATH_TAG] == first.dagster_run.tags[MANIFEST_PATH_TAG]
    assert fake_notion.page_count(seeded.homework_ds) == 1


def test_transient_notion_fault_is_retried_by_the_op(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    fake_notion.add_fault("service_unavailable", method="POST", path_regex="^/v1/pages", times=2)
    result = run(pipeline, copy(VALID_LESSONS[0], tmp_path), seeded, with_tts=False)
    assert result.success
    assert retries(result, "import_to_notion") == 2
    assert fake_notion.page_count(seeded.homework_ds) == 1


def test_rate_limit_retry_honours_retry_after(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    fake_notion.add_fault("rate_limit", method="POST", path_regex="^/v1/pages", retry_after=1)
    result = run(pipeline, copy(VALID_LESSONS[1], tmp_path), seeded, with_tts=False)
    assert result.success
    assert retries(result, "import_to_notion") == 1
    restart = next(
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    )
    assert getattr(restart.event_specific_data, "seconds_to_wait", None) == 1


def test_transient_tts_fault_is_retried_by_the_op(
    tmp_path: Path,
    pipeline: PipelineResource,
    seeded: Seeded,
    fake_elevenlabs: FakeElevenLabs,
) -> None:
    fake_elevenlabs.add_fault(Fault(kind="status", status=503))
    result = run(pipeline, copy(VALID_LESSONS[0], tmp_path), seeded)
    assert result.success
    assert retries(result, "synthesize_audio") == 1


def test_exhausted_transient_faults_fail_with_the_root_cause(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    fake_notion.add_fault("bad_gateway", method="POST", path_regex="^/v1/pages", times=50)
    result = run(pipeline, copy(VALID_LESSONS[0], tmp_path), seeded, with_tts=False)
    assert not result.success
    assert retries(result, "import_to_notion") == 4
    step, description = failure_description(result)
    assert step == "import_to_notion" and "502" in description
    assert result.dagster_run.tags[ERROR_TAG] == description


def test_invalid_lesson_fails_at_once_with_the_validator_message(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    result = run(pipeline, copy(INVALID_LESSON, tmp_path), seeded)
    assert not result.success
    assert retries(result, "validate_lesson") == 0
    step, description = failure_description(result)
    assert step == "validate_lesson"
    assert description.startswith("Validation failed")
    expected = validate_text(INVALID_LESSON.read_text(encoding="utf-8")).error_summary()
    assert description == expected  # each validator error exactly once
    assert result.dagster_run.tags[ERROR_TAG] == description
    assert MANIFEST_PATH_TAG not in result.dagster_run.tags
    assert fake_notion.page_count(seeded.homework_ds) == 0


def test_permanent_service_error_is_not_retried(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded, fake_notion: FakeNotion
) -> None:
    wrong = PipelineResource(variables={**pipeline.variables, "NOTION_TOKEN": "wrong"})
    result = run(wrong, copy(VALID_LESSONS[0], tmp_path), seeded, with_tts=False)
    assert not result.success
    step, description = failure_description(result)
    assert step == "import_to_notion" and "401" in description
    assert retries(result, "import_to_notion") == 0


def test_bad_options_are_rejected_before_anything_runs(
    tmp_path: Path, pipeline: PipelineResource, seeded: Seeded
) -> None:
    result = run(pipeline, copy(VALID_LESSONS[0], tmp_path), seeded, dialogue_language="eng")
    assert not result.success
    step, description = failure_description(result)
    assert step == "validate_lesson" and description.startswith("Invalid job options")

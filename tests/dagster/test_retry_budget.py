"""One retry layer per external call, and its documented worst case: a service that keeps failing
receives exactly ``worst_case_requests()`` requests for one lesson run through the Dagster job
(the client retries, gives up, and the op does not retry what the client already retried)."""

import shutil
from pathlib import Path

import dagster as dg

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.pipeline.retry_budget import OP_MAX_RETRIES, worst_case_requests
from esl_dagster.resources.pipeline import PipelineResource
from tests.conftest import VALID_LESSONS
from tests.fakes.elevenlabs_server import SAMPLE_CATALOG, FakeElevenLabs, Fault
from tests.fakes.notion_server import FakeNotion, Seeded
from tests.fakes.s3_unavailable import unavailable_s3

# The production policy's attempts, with millisecond waits.
FAST_RETRY = dg.RetryPolicy(max_retries=OP_MAX_RETRIES, delay=0.01)
job = build_lesson_job("lesson_job_retry_budget", retry_policy=FAST_RETRY)
PERSISTENT = 10_000


def run_lesson(
    tmp_path: Path, variables: dict[str, str], *, with_tts: bool, db_id: str = "db"
) -> tuple[dg.ExecuteInProcessResult, PipelineResource]:
    lesson = tmp_path / "lessons" / VALID_LESSONS[0].name
    lesson.parent.mkdir()
    shutil.copyfile(VALID_LESSONS[0], lesson)
    voices = lesson.parent / "voices.yml"  # automatic voices from the fake's catalog
    voices.write_text("auto: true\n", encoding="utf-8")
    pipeline = PipelineResource(
        variables={
            "PIPELINE_CWD": str(tmp_path),
            "ESL_LOCAL_UPLOAD_DIR": str(tmp_path / "uploads"),
            **variables,
        }
    )
    config = {"md": str(lesson), "db_id": db_id, "voices": str(voices), "with_tts": with_tts}
    result = job.execute_in_process(
        run_config={"ops": {"validate_lesson": {"config": config}}},
        resources={"esl": pipeline},
        tags={"esl/job_id": "retry-budget"},
        raise_on_error=False,
    )
    return result, pipeline


def failed_step(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    return str(next(event for event in result.all_events if event.is_step_failure).step_key)


def step_retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(
        1
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    )


def test_notion_down_gets_the_documented_worst_case(
    tmp_path: Path, fake_notion: FakeNotion, seeded: Seeded
) -> None:
    fake_notion.add_fault("service_unavailable", times=PERSISTENT)
    fake_notion.reset_log()
    variables = {
        "NOTION_TOKEN": fake_notion.token,
        "NOTION_BASE_URL": fake_notion.base_url,
        "NOTION_RETRY_DELAY_SECONDS": "0",
    }
    result, pipeline = run_lesson(tmp_path, variables, with_tts=False, db_id=seeded.homework_db)
    worst = worst_case_requests(pipeline.settings())["notion"]
    assert worst == 5
    assert len(fake_notion.requests()) == worst
    assert failed_step(result) == "import_to_notion" and step_retries(result) == 0


def test_elevenlabs_down_gets_the_documented_worst_case(
    tmp_path: Path, fake_elevenlabs: FakeElevenLabs
) -> None:
    speech = r"^/v1/text-to-(speech|dialogue)"
    fake_elevenlabs.state.faults.append(
        Fault(status=503, times=PERSISTENT, path_regex=speech, retry_after="0")
    )
    variables = {
        "ELEVENLABS_API_KEY": "test-key",
        "ELEVENLABS_BASE_URL": fake_elevenlabs.base_url,
        "ELEVENLABS_VOICES_PATH": str(SAMPLE_CATALOG),
        "ESL_TTS_CONCURRENCY": "1",  # one call in flight: the count is that call's
    }
    result, pipeline = run_lesson(tmp_path, variables, with_tts=True)
    worst = worst_case_requests(pipeline.settings())["elevenlabs"]
    assert worst == 5
    sent = [r for r in fake_elevenlabs.state.requests if r.path.startswith("/v1/text-to-")]
    assert len(sent) == worst
    assert failed_step(result) == "synthesize_audio" and step_retries(result) == 0


def test_s3_down_gets_the_documented_worst_case(
    tmp_path: Path, fake_elevenlabs: FakeElevenLabs
) -> None:
    with unavailable_s3() as s3:
        variables = {
            "ELEVENLABS_API_KEY": "test-key",
            "ELEVENLABS_BASE_URL": fake_elevenlabs.base_url,
            "ELEVENLABS_VOICES_PATH": str(SAMPLE_CATALOG),
            "S3_BUCKET": "audio",
            "S3_ENDPOINT_URL": s3.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        result, pipeline = run_lesson(tmp_path, variables, with_tts=True)
        worst = worst_case_requests(pipeline.settings())["s3"]
        assert worst == 3
        assert len(s3.requests) == worst
        assert failed_step(result) == "upload_audio" and step_retries(result) == 0

"""Lessons stored in S3 (what the API's uploads become in S3 mode): a run whose ``md`` is
``s3://bucket/key`` reads the object once through boto3 (moto server on 127.0.0.1), stages it at
``<ESL_LESSON_STAGING_DIR>/<bucket>/<key>`` (the lesson sensor's path, so its manifest sits
there) and runs offline otherwise; a missing object or an unreachable S3 fails clearly."""

import hashlib
import socket
from pathlib import Path

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.defs.lessons.tags import (
    ERROR_TAG,
    LESSON_KEY_TAG,
    LESSON_TAG,
    MANIFEST_PATH_TAG,
    lesson_key,
)
from esl_dagster.defs.resource_bindings import pipeline_from_env
from esl_dagster.pipeline.cli import main
from esl_dagster.pipeline.errors import ConfigurationError, ServiceError
from esl_dagster.pipeline.lesson.source import LessonReader, locate_lesson
from esl_dagster.pipeline.settings import load_settings
from tests.conftest import VALID_LESSONS
from tests.dagster.conftest import offline_services
from tests.dagster.test_lesson_reads import editing_job, failure, job_config
from tests.fakes.moto_s3 import s3_client

LESSON = VALID_LESSONS[0].read_bytes()
UPLOAD_KEY = f"lessons/.uploads/{hashlib.sha256(LESSON).hexdigest()}.md"
NO_RETRY = dg.RetryPolicy(max_retries=0)
job = build_lesson_job("lesson_job_s3", retry_policy=NO_RETRY)


@pytest.fixture
def env(tmp_path: Path, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline services; S3 reachable for lessons only (no audio bucket: local uploads)."""
    offline_services(monkeypatch, tmp_path)
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    voices = tmp_path / "voices.yml"
    voices.write_text("auto: true\n", encoding="utf-8")
    return voices


def run(md: str, voices: Path) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        run_config=job_config(md, voices),
        resources={"esl": pipeline_from_env()},
        tags={"esl/job_id": "job-s3", "esl/source": "api"},
        raise_on_error=False,
    )


def test_an_uploaded_lesson_in_s3_runs_offline_reading_it_once(
    env: Path, bucket: str, moto_url: str, tmp_path: Path, reads: list[str]
) -> None:
    s3_client(moto_url).put_object(Bucket=bucket, Key=UPLOAD_KEY, Body=LESSON)
    uri = f"s3://{bucket}/{UPLOAD_KEY}"
    result = run(uri, env)
    assert result.success
    assert reads == [uri]
    staged = tmp_path / "var" / "s3-lessons" / bucket / UPLOAD_KEY
    assert staged.read_bytes() == LESSON
    run_tags = result.dagster_run.tags  # validate_lesson claimed the untagged run's lesson
    assert run_tags[MANIFEST_PATH_TAG] == str(staged.with_suffix(".manifest.json"))
    assert ERROR_TAG not in run_tags
    assert run_tags[LESSON_TAG] == uri  # readable: the URI as submitted
    assert run_tags[LESSON_KEY_TAG] == lesson_key(uri)


def test_a_missing_s3_lesson_fails_at_once_saying_so(
    env: Path, bucket: str, reads: list[str]
) -> None:
    uri = f"s3://{bucket}/lessons/.uploads/{'0' * 64}.md"
    result = run(uri, env)
    assert not result.success
    step, message = failure(result)
    assert step == "validate_lesson"
    assert message == f"lesson not found: {uri} (no such S3 object)"
    assert reads == [uri]


def test_an_s3_lesson_edited_mid_run_fails_the_run(
    env: Path, bucket: str, moto_url: str, reads: list[str]
) -> None:
    client = s3_client(moto_url)
    key = "lessons/unit1/lesson.md"
    client.put_object(Bucket=bucket, Key=key, Body=LESSON)
    edited = editing_job(
        lambda: client.put_object(Bucket=bucket, Key=key, Body=LESSON + b"\nEdited.\n")
    )
    uri = f"s3://{bucket}/{key}"
    result = edited.execute_in_process(
        run_config=job_config(uri, env),
        resources={"esl": pipeline_from_env()},
        tags={"esl/job_id": "job-s3-edit", "esl/source": "api"},
        raise_on_error=False,
    )
    step, message = failure(result)
    assert step == "import_to_notion"
    assert f"lesson {uri} changed while the job ran" in message
    assert reads == [uri, uri]


def test_esl_run_takes_an_s3_lesson(
    env: Path,
    bucket: str,
    moto_url: str,
    tmp_path: Path,
    reads: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3_client(moto_url).put_object(Bucket=bucket, Key=UPLOAD_KEY, Body=LESSON)
    uri = f"s3://{bucket}/{UPLOAD_KEY}"
    code = main(["run", "--md", uri, "--with-tts", "--voices", str(env), "--json"])
    assert code == 0, capsys.readouterr().err
    assert reads == [uri]
    staged = tmp_path / "var" / "s3-lessons" / bucket / UPLOAD_KEY
    assert Path(str(staged.with_suffix(".manifest.json"))).is_file()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_s3_is_a_transient_service_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_CWD", str(tmp_path))
    settings = load_settings(
        env_file=None,
        s3_endpoint_url=f"http://127.0.0.1:{closed_port()}",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    source = locate_lesson("s3://bucket/lessons/a.md", settings)
    with pytest.raises(ServiceError) as caught:
        LessonReader(settings).fetch(source)
    assert caught.value.transient
    assert "read lesson s3://bucket/lessons/a.md failed" in str(caught.value)


@pytest.mark.parametrize(
    "uri", ["s3://bucket", "s3://bucket/", "s3:///key.md", "s3://b/x/../../etc/passwd.md"]
)
def test_malformed_s3_lessons_are_refused(uri: str, tmp_path: Path) -> None:
    settings = load_settings(env_file=None, pipeline_cwd=str(tmp_path))
    with pytest.raises(ConfigurationError, match="invalid S3 lesson"):
        locate_lesson(uri, settings)


def test_an_s3_lesson_is_named_by_its_uri_in_tags() -> None:
    from esl_dagster.defs.lessons.tags import lesson_label

    uri = "s3://bucket/prefix/.uploads/abc.md"
    assert lesson_label(uri) == uri
    assert lesson_key(uri) == hashlib.sha256(uri.encode()).hexdigest()[:16]

"""The lesson sensor's S3 source against a moto server on 127.0.0.1: objects under the watched
prefix are staged to local files and launch one ``lesson_job`` run per new or changed content."""

import hashlib
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.sensors import lesson_folder_sensor
from esl_dagster.defs.lessons.tags import JOB_ID_TAG, LESSON_KEY_TAG, SOURCE_TAG, lesson_key
from esl_dagster.resources.lesson_sources import LessonSourcesResource
from esl_dagster.resources.s3_storage import S3StorageResource
from tests.conftest import VALID_LESSONS
from tests.fakes.moto_s3 import s3_client

LESSON = VALID_LESSONS[0].read_bytes()
KEY = "prefix/unit1/lesson.md"


@pytest.fixture
def client(moto_url: str) -> Any:
    return s3_client(moto_url)


@pytest.fixture
def sources(moto_url: str, bucket: str, tmp_path: Path) -> LessonSourcesResource:
    return LessonSourcesResource(
        s3_uri=f"s3://{bucket}/prefix",
        s3=S3StorageResource(
            variables={
                "S3_ENDPOINT_URL": moto_url,
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test",
            }
        ),
        staging_dir=str(tmp_path / "staging"),
    )


def tick(
    sources: LessonSourcesResource, cursor: str | None = None
) -> tuple[list[dg.RunRequest], str | None, str | None]:
    with dg.build_sensor_context(cursor=cursor, resources={"lesson_sources": sources}) as context:
        result = lesson_folder_sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor, result.skip_message


def md_of(request: dg.RunRequest) -> Path:
    return Path(request.run_config["ops"]["validate_lesson"]["config"]["md"])


def sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def test_new_object_launches_one_run_on_a_staged_copy(
    sources: LessonSourcesResource, client: Any, bucket: str, tmp_path: Path
) -> None:
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, cursor, _ = tick(sources)
    assert len(requests) == 1
    request = requests[0]
    assert request.run_key is not None
    assert request.run_key.startswith(f"s3:{bucket}/prefix/unit1/lesson.md:{sha16(LESSON)}:")
    staged = md_of(request)
    assert staged == tmp_path / "staging" / bucket / KEY
    assert staged.read_bytes() == LESSON
    assert dg.validate_run_config(lesson_job, request.run_config)
    assert request.tags[SOURCE_TAG] == "sensor"
    assert len(request.tags[JOB_ID_TAG]) == 36
    # The key of the URI, as for a run the API submits with md=s3://bucket/key.
    assert request.tags[LESSON_KEY_TAG] == lesson_key(f"s3://{bucket}/{KEY}")
    assert cursor is not None and list(json.loads(cursor)["files"]) == [
        f"s3:{bucket}/prefix/unit1/lesson.md"
    ]


def test_unchanged_object_skips_with_a_reason(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    _, cursor, _ = tick(sources)
    requests, again, skip = tick(sources, cursor)
    assert requests == []
    assert again == cursor
    assert skip is not None and "1 unchanged" in skip


def test_changed_object_launches_again_on_the_same_staged_path(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    first, cursor, _ = tick(sources)
    changed = LESSON + b"\nExtra line.\n"
    client.put_object(Bucket=bucket, Key=KEY, Body=changed)
    requests, _, _ = tick(sources, cursor)
    assert len(requests) == 1
    assert requests[0].run_key is not None
    assert requests[0].run_key.startswith(f"s3:{bucket}/prefix/unit1/lesson.md:{sha16(changed)}:")
    assert requests[0].run_key != first[0].run_key
    assert md_of(requests[0]) == md_of(first[0])
    assert md_of(requests[0]).read_bytes() == changed
    assert requests[0].tags[LESSON_KEY_TAG] == first[0].tags[LESSON_KEY_TAG]


def test_deleted_object_is_dropped_from_the_cursor_and_reported(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    client.put_object(Bucket=bucket, Key="prefix/other.md", Body=VALID_LESSONS[1].read_bytes())
    _, cursor, _ = tick(sources)
    client.delete_object(Bucket=bucket, Key=KEY)
    requests, after, skip = tick(sources, cursor)
    assert requests == []
    assert after is not None and list(json.loads(after)["files"]) == [
        f"s3:{bucket}/prefix/other.md"
    ]
    assert skip is not None and "1 removed" in skip


def test_non_lesson_keys_and_keys_outside_the_prefix_are_ignored(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    client.put_object(Bucket=bucket, Key="prefix/notes.txt", Body=b"not a lesson")
    client.put_object(Bucket=bucket, Key="prefix/lesson.md.bak", Body=LESSON)
    client.put_object(Bucket=bucket, Key="prefixed/lesson.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key="elsewhere/lesson.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, cursor, _ = tick(sources)
    assert [r.run_key.rsplit(":", 2)[0] for r in requests if r.run_key] == [
        f"s3:{bucket}/prefix/unit1/lesson.md"
    ]
    assert cursor is not None and len(json.loads(cursor)["files"]) == 1


def test_hidden_keys_such_as_the_apis_uploads_are_not_run(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    """The API stores uploads at `<prefix>/.uploads/<sha256>.md` and runs them on request only."""
    client.put_object(Bucket=bucket, Key=f"prefix/.uploads/{sha16(LESSON)}.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key="prefix/unit1/.draft.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, cursor, _ = tick(sources)
    assert [r.run_key.rsplit(":", 2)[0] for r in requests if r.run_key] == [
        f"s3:{bucket}/prefix/unit1/lesson.md"
    ]
    assert cursor is not None and list(json.loads(cursor)["files"]) == [
        f"s3:{bucket}/prefix/unit1/lesson.md"
    ]


def test_empty_prefix_skips_saying_no_lessons_were_found(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    client.put_object(Bucket=bucket, Key="elsewhere/lesson.md", Body=LESSON)
    requests, cursor, skip = tick(sources)
    assert requests == []
    assert cursor is not None and json.loads(cursor)["files"] == {}
    assert skip is not None and f"no lessons found in s3:{bucket}/prefix" in skip


def test_missing_bucket_skips_saying_it_cannot_be_listed(
    sources: LessonSourcesResource, bucket: str
) -> None:
    missing = LessonSourcesResource(
        s3_uri=f"s3://{bucket}-missing/prefix", s3=sources.s3, staging_dir=sources.staging_dir
    )
    requests, _, skip = tick(missing)
    assert requests == []
    assert skip is not None and "cannot list" in skip and "NoSuchBucket" in skip


def test_bucket_defaults_apply_to_s3_lessons(
    sources: LessonSourcesResource, client: Any, bucket: str
) -> None:
    defaults = json.dumps({"student": "Anna", "with_tts": True}).encode()
    client.put_object(Bucket=bucket, Key="prefix/esl.defaults.json", Body=defaults)
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, _, _ = tick(sources)
    config = requests[0].run_config["ops"]["validate_lesson"]["config"]
    assert config["student"] == "Anna" and config["with_tts"] is True


def test_key_climbing_out_of_the_staging_dir_is_refused(
    sources: LessonSourcesResource, client: Any, bucket: str, tmp_path: Path
) -> None:
    escape_name = f"escape-{bucket}.md"  # unique: other tests may legitimately own an escape.md
    client.put_object(Bucket=bucket, Key=f"prefix/../../../../{escape_name}", Body=LESSON)
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, cursor, _ = tick(sources)
    assert [md_of(r) for r in requests] == [tmp_path / "staging" / bucket / KEY]
    assert not list(tmp_path.parent.rglob(escape_name))
    _, _, skip = tick(sources, cursor)
    assert skip is not None and f"{escape_name}: unsafe object key" in skip


def test_unwritable_staging_dir_is_reported_and_retried_next_tick(
    sources: LessonSourcesResource, client: Any, bucket: str, tmp_path: Path
) -> None:
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    blocker = tmp_path / "staging"
    blocker.write_text("a file where the staging folder should be", encoding="utf-8")
    requests, cursor, skip = tick(sources)
    assert requests == []
    assert skip is not None and "cannot stage" in skip
    assert cursor is not None and json.loads(cursor)["files"] == {}
    blocker.unlink()
    again, _, _ = tick(sources, cursor)
    assert len(again) == 1 and md_of(again[0]).read_bytes() == LESSON


def test_keys_under_hidden_folders_are_not_launched(
    sources: LessonSourcesResource, client: Any, bucket: str, tmp_path: Path
) -> None:
    # The API's uploads (.uploads/<sha256>.md) run only when a job is submitted with them.
    client.put_object(Bucket=bucket, Key=f"prefix/.uploads/{'a' * 64}.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key="prefix/unit1/.drafts/lesson.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key="prefix/unit1/.hidden.md", Body=LESSON)
    client.put_object(Bucket=bucket, Key=KEY, Body=LESSON)
    requests, cursor, _ = tick(sources)
    assert [md_of(r) for r in requests] == [tmp_path / "staging" / bucket / KEY]
    assert cursor is not None and list(json.loads(cursor)["files"]) == [
        f"s3:{bucket}/prefix/unit1/lesson.md"
    ]
    assert not (tmp_path / "staging" / bucket / "prefix" / ".uploads").exists()

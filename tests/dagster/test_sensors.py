"""The lesson folder sensor and the nightly schedule, evaluated with Dagster's test contexts."""

import datetime
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.revalidation import nightly_revalidation, revalidate_folder_job
from esl_dagster.defs.lessons.sensors import lesson_folder_sensor
from esl_dagster.defs.lessons.tags import JOB_ID_TAG, LESSON_KEY_TAG, SOURCE_TAG, lesson_key
from esl_dagster.resources.lesson_sources import LessonSourcesResource
from esl_dagster.resources.s3_storage import S3StorageResource
from tests.conftest import INVALID_LESSON, VALID_LESSONS


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "lessons"
    target.mkdir()
    for lesson in VALID_LESSONS[:2]:
        shutil.copy(lesson, target / lesson.name)
    return target


def sources_for(folder: Path) -> LessonSourcesResource:
    return LessonSourcesResource(folders=[str(folder)], s3=S3StorageResource())


def tick(
    folder: Path, cursor: str | None = None
) -> tuple[list[dg.RunRequest], str | None, str | None]:
    with dg.build_sensor_context(
        cursor=cursor, resources={"lesson_sources": sources_for(folder)}
    ) as context:
        result = lesson_folder_sensor.evaluate_tick(context)
    return list(result.run_requests or []), result.cursor, result.skip_message


def test_new_files_launch_one_valid_run_each_with_job_id_and_lesson_key(folder: Path) -> None:
    requests, cursor, _ = tick(folder)
    assert len(requests) == 2
    for request in requests:
        config = request.run_config["ops"]["validate_lesson"]["config"]
        assert dg.validate_run_config(lesson_job, request.run_config)
        assert request.tags[SOURCE_TAG] == "sensor"
        assert len(request.tags[JOB_ID_TAG]) == 36
        assert request.tags[LESSON_KEY_TAG] == lesson_key(config["md"])
        name = Path(config["md"]).name
        assert request.run_key is not None and request.run_key.startswith(f"lessons/{name}:")
    assert cursor is not None and len(json.loads(cursor)["files"]) == 2


def test_unchanged_files_skip_with_a_reason(folder: Path) -> None:
    _, cursor, _ = tick(folder)
    requests, again, skip = tick(folder, cursor)
    assert requests == []
    assert again == cursor
    assert skip is not None and "2 unchanged" in skip


def test_touched_but_identical_file_does_not_launch(folder: Path) -> None:
    _, cursor, _ = tick(folder)
    lesson = next(folder.glob("*.md"))
    os.utime(lesson, ns=(lesson.stat().st_atime_ns, lesson.stat().st_mtime_ns + 10**9))
    requests, _, skip = tick(folder, cursor)
    assert requests == [] and skip is not None


def test_changed_file_launches_again_with_a_new_run_key(folder: Path) -> None:
    first, cursor, _ = tick(folder)
    lesson = sorted(folder.glob("*.md"))[0]
    lesson.write_text(lesson.read_text(encoding="utf-8") + "\nExtra line.\n", encoding="utf-8")
    requests, _, _ = tick(folder, cursor)
    assert len(requests) == 1
    assert requests[0].run_key not in {r.run_key for r in first}
    assert requests[0].run_key is not None and lesson.name in requests[0].run_key


def test_a_lesson_reverted_to_earlier_content_runs_again(folder: Path) -> None:
    """A -> B -> A: the revert is a new version (run keys differ), so Notion follows it."""
    lesson = sorted(folder.glob("*.md"))[0]
    original = lesson.read_text(encoding="utf-8")
    first, cursor, _ = tick(folder)
    lesson.write_text(original + "\nExtra line.\n", encoding="utf-8")
    changed, cursor, _ = tick(folder, cursor)
    lesson.write_text(original, encoding="utf-8")
    reverted, _, _ = tick(folder, cursor)
    assert len(changed) == 1 and len(reverted) == 1
    first_key = next(r.run_key for r in first if r.run_key and lesson.name in r.run_key)
    assert reverted[0].run_key not in {first_key, changed[0].run_key}
    assert reverted[0].run_key is not None
    assert reverted[0].run_key.rsplit(":", 1)[0] == first_key.rsplit(":", 1)[0]  # same content


def test_new_file_copied_with_an_old_mtime_is_seen(folder: Path) -> None:
    _, cursor, _ = tick(folder)
    copy = folder / "old.md"
    shutil.copy2(VALID_LESSONS[2], copy)
    os.utime(copy, (0, 0))
    requests, _, _ = tick(folder, cursor)
    assert [
        Path(r.run_config["ops"]["validate_lesson"]["config"]["md"]).name for r in requests
    ] == ["old.md"]


def test_deleted_file_is_dropped_from_the_cursor_and_reported(folder: Path) -> None:
    _, cursor, _ = tick(folder)
    sorted(folder.glob("*.md"))[0].unlink()
    requests, after, skip = tick(folder, cursor)
    assert requests == []
    assert after is not None and len(json.loads(after)["files"]) == 1
    assert skip is not None and "1 removed" in skip


def test_unreadable_file_is_reported_and_retried_next_tick(folder: Path) -> None:
    blocked = folder / "blocked.md"
    blocked.symlink_to(blocked)  # a symlink loop: stat and read fail, even for root
    requests, cursor, _ = tick(folder)
    assert len(requests) == 2
    assert cursor is not None and "lessons/blocked.md" not in json.loads(cursor)["files"]
    _, _, skip = tick(folder, cursor)
    assert skip is not None and "blocked.md: unreadable" in skip
    blocked.unlink()
    shutil.copy(VALID_LESSONS[2], blocked)
    again, _, _ = tick(folder, cursor)
    assert [r.run_key.split(":")[0] for r in again if r.run_key] == ["lessons/blocked.md"]


def test_folder_defaults_apply_and_invalid_defaults_skip(folder: Path) -> None:
    (folder / "esl.defaults.json").write_text(
        json.dumps({"student": "Anna", "with_tts": True}), encoding="utf-8"
    )
    requests, _, _ = tick(folder)
    config = requests[0].run_config["ops"]["validate_lesson"]["config"]
    # Audio is off unless asked: the folder's defaults file is what turns it on.
    assert config["student"] == "Anna" and config["with_tts"] is True
    assert requests[0].tags[".dagster/esl.tts"] == "true"
    (folder / "esl.defaults.json").write_text(json.dumps({"upload": "ftp"}), encoding="utf-8")
    requests, _, skip = tick(folder)
    assert requests == []
    assert skip is not None and "invalid default options" in skip


def test_missing_folder_and_no_sources_say_why(tmp_path: Path) -> None:
    _, _, skip = tick(tmp_path / "nowhere")
    assert skip is not None and "folder not found" in skip
    with dg.build_sensor_context(
        resources={"lesson_sources": LessonSourcesResource(s3=S3StorageResource())}
    ) as context:
        result = lesson_folder_sensor.evaluate_tick(context)
    assert result.skip_message is not None and "No lesson folder" in result.skip_message


def test_schedule_requests_one_revalidation_per_day() -> None:
    when = datetime.datetime(2026, 1, 2, 2, 0, tzinfo=datetime.UTC)
    request = nightly_revalidation(dg.build_schedule_context(scheduled_execution_time=when))
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "revalidate:2026-01-02"
    assert request.tags[SOURCE_TAG] == "schedule"


def test_revalidation_job_reports_invalid_lessons(folder: Path) -> None:
    sources = sources_for(folder)
    ok = revalidate_folder_job.execute_in_process(resources={"lesson_sources": sources})
    assert ok.success and ok.output_for_node("revalidate_lessons") == 2
    shutil.copy(INVALID_LESSON, folder / INVALID_LESSON.name)
    bad = revalidate_folder_job.execute_in_process(
        resources={"lesson_sources": sources}, raise_on_error=False
    )
    assert not bad.success
    failure = next(e for e in bad.all_events if e.is_step_failure)
    assert failure.step_failure_data is not None
    assert failure.step_failure_data.user_failure_data is not None
    description = failure.step_failure_data.user_failure_data.description or ""
    assert "1 of 3 lesson(s) invalid" in description and INVALID_LESSON.name in description
    assert bad.dagster_run.tags["esl/error"] == description

"""``lesson_batch_job``: a whole folder in one run, one dynamic step per lesson, on the embedded
default (Notion preview, espeak-free with TTS off, local uploads)."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from esl_dagster.defs.lessons.batch import lesson_batch_job
from esl_dagster.resources.pipeline import PipelineResource
from tests.conftest import INVALID_LESSON, VALID_LESSONS


@pytest.fixture
def embedded(tmp_path: Path) -> PipelineResource:
    """No variables bound: the embedded defaults (the environment is not read by the resource)."""
    return PipelineResource(variables={"PIPELINE_CWD": str(tmp_path)})


def folder_with(tmp_path: Path, lessons: list[Path]) -> Path:
    folder = tmp_path / "lessons"
    folder.mkdir()
    for lesson in lessons:
        shutil.copyfile(lesson, folder / lesson.name)
    return folder


def run_batch(folder: Path, pipeline: PipelineResource) -> dg.ExecuteInProcessResult:
    return lesson_batch_job.execute_in_process(
        run_config={
            "ops": {"discover_lessons": {"config": {"folder": str(folder), "with_tts": False}}}
        },
        resources={"esl": pipeline},
        raise_on_error=False,
    )


def test_a_folder_is_one_run_with_one_step_per_lesson(
    tmp_path: Path, embedded: PipelineResource
) -> None:
    folder = folder_with(tmp_path, VALID_LESSONS)
    result = run_batch(folder, embedded)
    assert result.success
    lesson_steps = [
        event.step_key
        for event in result.all_events
        if event.is_step_success and event.step_key and event.step_key.startswith("process_lesson[")
    ]
    assert len(lesson_steps) == len(VALID_LESSONS)
    assert result.output_for_node("summarize_batch") == len(VALID_LESSONS)
    for lesson in VALID_LESSONS:
        assert (folder / f"{lesson.stem}.manifest.json").is_file()


def test_each_lesson_reports_its_stages_on_its_output_event(
    tmp_path: Path, embedded: PipelineResource
) -> None:
    folder = folder_with(tmp_path, VALID_LESSONS[:2])
    with dg.instance_for_test() as instance:
        result = lesson_batch_job.execute_in_process(
            run_config={
                "ops": {"discover_lessons": {"config": {"folder": str(folder), "with_tts": False}}}
            },
            resources={"esl": embedded},
            instance=instance,
        )
        records = instance.all_logs(result.run_id)
    outputs = [
        event.step_output_data.metadata
        for event in result.all_events
        if event.is_successful_output and str(event.step_key).startswith("process_lesson[")
    ]
    assert sorted(Path(str(m["lesson"].value)).name for m in outputs) == sorted(
        lesson.name for lesson in VALID_LESSONS[:2]
    )
    assert all(str(m["steps"].value).startswith("validate") for m in outputs)
    # No event of its own per lesson: the run's plain log messages name no lesson.
    messages = [record.user_message for record in records if not record.is_dagster_event]
    assert not [m for m in messages if any(lesson.name in m for lesson in VALID_LESSONS)]


def test_an_invalid_lesson_fails_the_batch_but_not_the_others(
    tmp_path: Path, embedded: PipelineResource
) -> None:
    folder = folder_with(tmp_path, [VALID_LESSONS[0], INVALID_LESSON])
    result = run_batch(folder, embedded)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "summarize_batch"
    assert "1 of 2 lesson(s) failed" in str(failure.step_failure_data.user_failure_data.description)
    assert INVALID_LESSON.name in str(failure.step_failure_data.user_failure_data.description)
    assert (folder / f"{VALID_LESSONS[0].stem}.manifest.json").is_file()
    assert not (folder / f"{INVALID_LESSON.stem}.manifest.json").exists()


def test_the_folder_defaults_file_may_turn_audio_on(
    tmp_path: Path, embedded: PipelineResource
) -> None:
    folder = folder_with(tmp_path, [VALID_LESSONS[0]])
    (folder / "esl.defaults.json").write_text('{"with_tts": true}', encoding="utf-8")
    result = lesson_batch_job.execute_in_process(
        run_config={
            "ops": {"discover_lessons": {"config": {"folder": str(folder), "dry_run": True}}}
        },
        resources={"esl": embedded},
    )
    (options,) = result.output_for_node("discover_lessons").values()
    assert options.with_tts is True
    off = lesson_batch_job.execute_in_process(
        run_config={
            "ops": {
                "discover_lessons": {
                    "config": {"folder": str(folder), "dry_run": True, "with_tts": False}
                }
            }
        },
        resources={"esl": embedded},
    )
    (explicit,) = off.output_for_node("discover_lessons").values()
    assert explicit.with_tts is False

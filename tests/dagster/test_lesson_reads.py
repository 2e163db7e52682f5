"""A job reads its lesson once: ``start_run`` parses it into the run state and the later stages
take it from there. Counted at the one function that reads lesson bytes (``LessonReader.fetch``),
for a whole offline job through ``execute_in_process`` and through ``esl run``; before the parsed
lesson travelled in the run state the same job read the lesson 7 times. A lesson edited between
``validate`` and a later stage fails the run instead of mixing two versions.
"""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.defs.lessons.ops import LATER_STAGE_OPS, validate_lesson
from esl_dagster.defs.lessons.tags import ERROR_TAG
from esl_dagster.defs.resource_bindings import pipeline_from_env
from esl_dagster.pipeline.cli import main

NO_RETRY = dg.RetryPolicy(max_retries=0)
TAGS = {"esl/job_id": "job-reads", "esl/source": "api"}


@pytest.fixture
def lesson(lesson: Path) -> Path:
    """The offline sample lesson, with a voices file that casts automatically."""
    (lesson.parent / "voices.yml").write_text("auto: true\n", encoding="utf-8")
    return lesson


def job_config(md: str, voices: Path, **options: object) -> dict[str, object]:
    config = {"md": md, "with_tts": True, "voices": str(voices), **options}
    return {"ops": {"validate_lesson": {"config": config}}}


def run_job(job: dg.JobDefinition, md: str, voices: Path) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        run_config=job_config(md, voices),
        resources={"esl": pipeline_from_env()},
        tags=TAGS,
        raise_on_error=False,
    )


def test_a_whole_dagster_job_reads_its_lesson_once(lesson: Path, reads: list[str]) -> None:
    job = build_lesson_job("lesson_job_reads", retry_policy=NO_RETRY)
    result = run_job(job, str(lesson), lesson.parent / "voices.yml")
    assert result.success
    ran = [
        event.step_key
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS
    ]
    assert len(ran) == 7
    assert reads == [str(lesson)]


def test_esl_run_reads_its_lesson_once(
    lesson: Path, reads: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    voices = lesson.parent / "voices.yml"
    code = main(["run", "--md", str(lesson), "--with-tts", "--voices", str(voices), "--json"])
    assert code == 0, capsys.readouterr().err
    assert '"tts"' in capsys.readouterr().out
    assert reads == [str(lesson)]


def editing_job(edit: Callable[[], None]) -> dg.JobDefinition:
    """The lesson graph with ``edit`` run right after ``validate_lesson`` succeeds."""

    @dg.success_hook(name="edit_lesson")
    def edit_lesson(_context: dg.HookContext) -> None:
        edit()

    @dg.graph(name="lesson_graph_edited")
    def edited_graph() -> None:
        state = validate_lesson.with_hooks({edit_lesson}).with_retry_policy(NO_RETRY)()
        for op_def in LATER_STAGE_OPS:
            state = op_def.with_retry_policy(NO_RETRY)(state)

    return edited_graph.to_job(name="lesson_job_edited", executor_def=dg.in_process_executor)


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    event = next(event for event in result.all_events if event.is_step_failure)
    data = event.step_failure_data
    assert data is not None and data.user_failure_data is not None
    return str(event.step_key), data.user_failure_data.description or ""


def test_a_lesson_edited_mid_run_fails_the_run(lesson: Path, reads: list[str]) -> None:
    original = lesson.read_text(encoding="utf-8")
    job = editing_job(lambda: lesson.write_text(original + "\nEdited.\n", encoding="utf-8"))
    result = run_job(job, str(lesson), lesson.parent / "voices.yml")
    assert not result.success
    step, message = failure(result)
    assert step == "import_to_notion"
    assert f"lesson {lesson} changed while the job ran" in message
    assert "run the job again" in message
    assert result.dagster_run.tags[ERROR_TAG] == message
    assert reads == [str(lesson), str(lesson)]  # the stamp moved: read again to compare hashes
    assert not lesson.with_suffix(".manifest.json").exists()


def test_a_lesson_touched_mid_run_without_a_change_runs_on(lesson: Path, reads: list[str]) -> None:
    data = lesson.read_bytes()

    def rewrite_same_bytes() -> None:
        lesson.unlink()
        lesson.write_bytes(data)

    job = editing_job(rewrite_same_bytes)
    result = run_job(job, str(lesson), lesson.parent / "voices.yml")
    assert result.success
    # Read again once to see the content is the same; the new stamp then travels on.
    assert reads == [str(lesson), str(lesson)]

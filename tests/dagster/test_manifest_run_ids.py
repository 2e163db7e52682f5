"""The manifest names the run that did the work, at the top level and per stage.

A run that fails half-way and is re-executed from its failure (what the daemon's run retry and
the UI's "Re-execute from failure" do) hands the stages that already ran over from the parent's
outputs: those stages keep the parent's run id, the stages the re-execution ran, and the manifest
itself, name the re-execution. Lessons run in the embedded preview mode (no service is called).
"""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from esl_dagster.defs.lessons.jobs import build_lesson_job
from esl_dagster.defs.resource_bindings import pipeline_from_env

NO_RETRY = dg.RetryPolicy(max_retries=0)
JOB_TAGS = {"esl/job_id": "job-run-ids", "esl/source": "api"}


def get_preview_lesson_job() -> dg.JobDefinition:
    """The production graph bound to the environment's services (``dg.reconstructable`` target)."""
    job = build_lesson_job("lesson_job_preview", retry_policy=NO_RETRY)
    return dg.Definitions(jobs=[job], resources={"esl": pipeline_from_env()}).resolve_job_def(
        job.name
    )


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def run_config(md: Path) -> dict[str, object]:
    return {"ops": {"validate_lesson": {"config": {"md": str(md), "with_tts": False}}}}


def read_manifest(md: Path) -> dict[str, object]:
    manifest: dict[str, object] = json.loads(
        md.with_name(f"{md.stem}.manifest.json").read_text(encoding="utf-8")
    )
    return manifest


def stage_run_ids(manifest: dict[str, object]) -> dict[str, str]:
    stages = manifest["stages"]
    assert isinstance(stages, dict)
    return {name: record["runId"] for name, record in stages.items()}


def test_a_single_run_names_itself_everywhere(lesson: Path, instance: dg.DagsterInstance) -> None:
    result = get_preview_lesson_job().execute_in_process(
        run_config=run_config(lesson), instance=instance, tags=JOB_TAGS
    )
    assert result.success
    manifest = read_manifest(lesson)
    assert manifest["runId"] == result.run_id and manifest["jobId"] == JOB_TAGS["esl/job_id"]
    assert "import" in stage_run_ids(manifest)
    assert set(stage_run_ids(manifest).values()) == {result.run_id}


def test_a_reexecution_from_failure_names_itself_for_the_stages_it_ran(
    lesson: Path, instance: dg.DagsterInstance
) -> None:
    # The import stage cannot write its preview payloads while a folder takes their file name.
    blocker = lesson.with_name(f"{lesson.stem}.notion-preview.json")
    blocker.mkdir()
    recon = dg.reconstructable(get_preview_lesson_job)
    with dg.execute_job(
        recon, instance=instance, run_config=run_config(lesson), tags=JOB_TAGS
    ) as failed:
        assert not failed.success
        parent_run_id = failed.run_id
    validated = [
        event.step_key
        for event in instance.all_logs(parent_run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    ]
    assert validated == ["validate_lesson"]

    blocker.rmdir()
    options = dg.ReexecutionOptions.from_failure(parent_run_id, instance)
    with dg.execute_job(recon, instance=instance, reexecution_options=options) as retried:
        assert retried.success
        retry_run_id = retried.run_id
    assert retry_run_id != parent_run_id

    manifest = read_manifest(lesson)
    assert manifest["runId"] == retry_run_id
    assert manifest["jobId"] == JOB_TAGS["esl/job_id"]
    by_stage = stage_run_ids(manifest)
    assert by_stage.get("validate", parent_run_id) == parent_run_id
    ran_in_retry = {name: run_id for name, run_id in by_stage.items() if name != "validate"}
    assert "import" in ran_in_retry
    assert set(ran_in_retry.values()) == {retry_run_id}

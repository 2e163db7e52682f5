"""The relaunch sensor: infrastructure failures come back under the same job id, lesson errors
never do, each failed run at most once, with backoff, bounded.

Runs live in a temporary Dagster instance. A run failed "from outside" (``report_run_failed``, as
the daemon or run monitoring do after a crash or during a Postgres outage) stands for an
infrastructure failure; a run whose op raised ``dg.Failure`` stands for a lesson error.
"""

import time
from collections.abc import Iterator

import dagster as dg
import pytest

from esl_dagster.defs.durability.relaunch import (
    MAX_RELAUNCH_ATTEMPTS,
    RELAUNCH_ATTEMPT_TAG,
    RELAUNCH_OF_TAG,
    RELAUNCH_PENDING_TAG,
    WILL_RETRY_TAG,
    plan_relaunches,
    relaunch_delay,
    relaunch_infrastructure_failures,
)
from esl_dagster.defs.lessons.tags import ERROR_TAG, OUTCOME_RUN_TAG, outcome_tags

JOB_TAGS = {
    "esl/job_id": "3f0e7c52-6a43-4d1b-9a4e-0c2f1d9b8e11",
    "esl/lesson_key": "0123456789abcdef",
    "esl/source": "api",
    "esl/submitted_at": "1765000000.000",
}
RUN_CONFIG = {"ops": {"work": {"config": {"md": "lessons/a.md"}}}}


class WorkConfig(dg.Config):
    md: str


@dg.op
def work(config: WorkConfig) -> None:
    if config.md.endswith(".bad"):
        raise dg.Failure(description=f"invalid lesson {config.md}", allow_retries=False)


@dg.job
def fake_lesson_job() -> None:
    work()


JOBS = (fake_lesson_job.name,)


@pytest.fixture(scope="module")
def shared_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def instance(shared_instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """One instance per module (creating one costs seconds), emptied for every test."""
    shared_instance.wipe()
    return shared_instance


def failed_run(
    instance: dg.DagsterInstance, tags: dict[str, str] | None = None
) -> tuple[dg.DagsterRun, float]:
    """A run that failed without any step failing; returns it and when it failed."""
    run = instance.create_run_for_job(
        fake_lesson_job, run_config=RUN_CONFIG, tags={**JOB_TAGS, **(tags or {})}
    )
    instance.report_run_failed(run, "Run worker lost its database connection")
    record = instance.get_run_record_by_id(run.run_id)
    assert record is not None and record.end_time is not None
    return run, record.end_time


def tags_of(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return dict(run.tags)


def test_an_infrastructure_failure_reads_as_retrying_then_is_relaunched_as_the_same_job(
    instance: dg.DagsterInstance,
) -> None:
    run, failed_at = failed_run(instance)

    assert plan_relaunches(instance, failed_at + 1, JOBS) == []
    marked = tags_of(instance, run.run_id)
    assert marked[WILL_RETRY_TAG] == "true" and marked[RELAUNCH_PENDING_TAG] == "true"

    (request,) = plan_relaunches(instance, failed_at + relaunch_delay(1), JOBS)
    assert request.job_name == fake_lesson_job.name
    assert request.run_key == f"relaunch:{run.run_id}"
    assert request.run_config == RUN_CONFIG
    assert request.tags == {**JOB_TAGS, RELAUNCH_OF_TAG: run.run_id, RELAUNCH_ATTEMPT_TAG: "1"}


def test_a_relaunched_run_is_never_relaunched_twice(instance: dg.DagsterInstance) -> None:
    _, failed_at = failed_run(instance)
    (request,) = plan_relaunches(instance, failed_at + relaunch_delay(1), JOBS)
    instance.create_run_for_job(fake_lesson_job, run_config=RUN_CONFIG, tags=request.tags)
    assert plan_relaunches(instance, failed_at + 3600, JOBS) == []


def test_attempts_back_off_and_are_bounded(instance: dg.DagsterInstance) -> None:
    _, failed_at = failed_run(instance, {RELAUNCH_ATTEMPT_TAG: "1"})
    assert relaunch_delay(2) > relaunch_delay(1)
    assert plan_relaunches(instance, failed_at + relaunch_delay(1), JOBS) == []
    (request,) = plan_relaunches(instance, failed_at + relaunch_delay(2), JOBS)
    assert request.tags is not None and request.tags[RELAUNCH_ATTEMPT_TAG] == "2"

    last, last_failed_at = failed_run(instance, {RELAUNCH_ATTEMPT_TAG: str(MAX_RELAUNCH_ATTEMPTS)})
    assert plan_relaunches(instance, last_failed_at + 3600, JOBS) == []
    final = tags_of(instance, last.run_id)
    # A first run marks nothing as inherited: its esl/error is its own.
    assert final[WILL_RETRY_TAG] == "false" and OUTCOME_RUN_TAG not in final
    assert final[ERROR_TAG].startswith("infrastructure failure: run ")
    assert plan_relaunches(instance, last_failed_at + 7200, JOBS) == []


def test_a_lesson_error_is_never_relaunched(instance: dg.DagsterInstance) -> None:
    result = fake_lesson_job.execute_in_process(
        run_config={"ops": {"work": {"config": {"md": "lessons/a.bad"}}}},
        instance=instance,
        tags=JOB_TAGS,
        raise_on_error=False,
    )
    assert not result.success
    assert plan_relaunches(instance, time.time() + 3600, JOBS) == []
    tags = tags_of(instance, result.run_id)
    assert RELAUNCH_PENDING_TAG not in tags and WILL_RETRY_TAG not in tags
    # The op raised the Failure without writing esl/error: the sensor names the cause for it.
    assert tags[ERROR_TAG] == "invalid lesson lessons/a.bad"
    assert OUTCOME_RUN_TAG not in tags  # a first run: nothing inherited to tell apart


def test_a_failure_the_run_recorded_as_its_outcome_is_final(instance: dg.DagsterInstance) -> None:
    run, failed_at = failed_run(instance)
    instance.add_run_tags(
        run.run_id, outcome_tags(run.run_id, run.tags, error="notion: 401 unauthorized")
    )
    assert plan_relaunches(instance, failed_at + 3600, JOBS) == []


def test_runs_dagster_retries_itself_are_left_to_dagster(instance: dg.DagsterInstance) -> None:
    _, failed_at = failed_run(instance, {WILL_RETRY_TAG: "true"})
    assert plan_relaunches(instance, failed_at + 3600, JOBS) == []


def test_runs_without_a_job_id_or_of_other_jobs_are_ignored(instance: dg.DagsterInstance) -> None:
    run = instance.create_run_for_job(fake_lesson_job, run_config=RUN_CONFIG, tags={})
    instance.report_run_failed(run)
    _, failed_at = failed_run(instance)
    assert plan_relaunches(instance, failed_at + 3600, JOBS[:0]) == []
    assert plan_relaunches(instance, failed_at + 3600, ("other_job",)) == []
    assert len(plan_relaunches(instance, failed_at + 3600, JOBS)) == 1


def test_the_sensor_skips_when_no_job_waits(instance: dg.DagsterInstance) -> None:
    context = dg.build_sensor_context(instance=instance)
    results = list(relaunch_infrastructure_failures(context))  # type: ignore[arg-type]
    assert len(results) == 1 and isinstance(results[0], dg.SkipReason)
    assert relaunch_infrastructure_failures.default_status == dg.DefaultSensorStatus.RUNNING

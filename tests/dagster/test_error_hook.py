"""The ``esl/error`` fallback hook on a run that inherited its parent's tags.

A run re-executed from the UI or retried by the daemon copies the parent run's tags, including
``esl/error``. An unclassified failure of the new run must still record its own root cause, not
leave the parent's message for the shim to report.
"""

from typing import Any, cast

import dagster as dg
import pytest
from sqlalchemy.exc import OperationalError

from esl_dagster.defs.lessons.ops import validate_lesson
from esl_dagster.defs.lessons.stage_ops import fail_or_retry, record_error_from_hook
from esl_dagster.defs.lessons.tags import ERROR_TAG
from esl_dagster.pipeline.errors import ConfigurationError

PARENT_ERROR = "import: Notion answered 502 (the parent run's failure)"


@dg.op
def noop() -> None:
    return None


@dg.job
def tagged_job() -> None:
    noop()


def run_with_tags(instance: dg.DagsterInstance, tags: dict[str, str]) -> str:
    result = tagged_job.execute_in_process(instance=instance, tags=tags)
    return result.run_id


def hook(instance: dg.DagsterInstance, run_id: str, exc: Exception) -> None:
    context = dg.build_hook_context(
        op=validate_lesson, run_id=run_id, op_exception=exc, instance=instance
    )
    record_error_from_hook(context)


def test_unclassified_failure_replaces_an_inherited_error() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = run_with_tags(instance, {ERROR_TAG: PARENT_ERROR})
        hook(instance, run_id, ConfigurationError("S3_BUCKET is required for S3 uploads"))
        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert run.tags[ERROR_TAG] == "S3_BUCKET is required for S3 uploads"


def test_failure_classified_by_the_op_keeps_the_op_message() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = run_with_tags(instance, {ERROR_TAG: "Validation failed: Line 3: ..."})
        hook(instance, run_id, dg.Failure(description="Validation failed: Line 3: ..."))
        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert run.tags[ERROR_TAG] == "Validation failed: Line 3: ..."


def storage_gave_up() -> RuntimeError:
    """What dagster-postgres raises during an outage: its own error, chained to SQLAlchemy's."""
    outage = OperationalError("INSERT INTO event_logs", {}, ConnectionRefusedError(111, "refused"))
    try:
        try:
            raise outage
        except OperationalError as cause:
            raise RuntimeError("too many retries for DB connection") from cause
    except RuntimeError as gave_up:
        return gave_up


def test_a_storage_outage_leaves_no_error_so_the_job_is_relaunched() -> None:
    failure = storage_gave_up()
    with dg.DagsterInstance.ephemeral() as instance:
        run_id = run_with_tags(instance, {})
        hook(instance, run_id, failure)
        run = instance.get_run_by_id(run_id)
        assert run is not None
        assert ERROR_TAG not in run.tags


def test_an_engine_event_the_storage_could_not_write_is_not_the_lessons_failure() -> None:
    """The engine's log records are Dagster events: a write that fails during a Postgres outage
    surfaces inside a stage. The op raises it as it is (its RetryPolicy retries it; the hook
    records nothing), not as a classified Failure that would end the job for good."""
    failure = storage_gave_up()
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_op_context(instance=instance)
        with pytest.raises(RuntimeError, match="too many retries") as raised:
            fail_or_retry(context, "tts", failure, cast(Any, None))
    assert raised.value is failure

"""The launch guard in a real (ephemeral) Dagster instance: a run whose launch the API abandoned
does no work and leaves its job; a run whose launch is undecided or started works; a run without
the shim's tags is not guarded. The ledger is the shim's own SQLite store."""

from pathlib import Path

import dagster as dg
import pytest

from api_shim.idempotency import SqliteIdempotencyStore
from esl_dagster.defs.lessons.launch_guard import (
    LaunchAbandoned,
    LedgerUnavailable,
    record_start,
    refuse_abandoned_launch,
)

work_done: list[str] = []


@dg.op
def guarded_work(context: dg.OpExecutionContext) -> None:
    refuse_abandoned_launch(context)
    work_done.append(context.run_id)


@dg.job
def guarded_job() -> None:
    guarded_work()


@pytest.fixture
def store(tmp_path: Path) -> SqliteIdempotencyStore:
    return SqliteIdempotencyStore(tmp_path / "idempotency.sqlite3", ttl_s=3600, lease_s=10)


def _run(tags: dict[str, str]) -> tuple[dg.ExecuteInProcessResult, dict[str, str]]:
    work_done.clear()
    with dg.DagsterInstance.ephemeral() as instance:
        result = guarded_job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        return result, dict(run.tags)


def test_abandoned_launch_does_nothing_and_leaves_its_job(store: SqliteIdempotencyStore) -> None:
    store.abandon_launch("launch-1")
    tags = {
        "esl/job_id": "job-1",
        "esl/launch_id": "launch-1",
        "esl/launch_ledger": store.ledger_ref,
    }

    result, run_tags = _run(tags)

    assert not result.success
    assert work_done == []
    assert run_tags["esl/launch_abandoned"] == "true"
    assert run_tags["esl/abandoned_job_id"] == "job-1"
    assert run_tags["esl/job_id"] == "abandoned:job-1"


def test_undecided_launch_starts_and_wins_the_ledger(store: SqliteIdempotencyStore) -> None:
    tags = {
        "esl/job_id": "job-2",
        "esl/launch_id": "launch-2",
        "esl/launch_ledger": store.ledger_ref,
    }

    result, run_tags = _run(tags)

    assert result.success
    assert work_done == [result.run_id]
    assert "esl/launch_abandoned" not in run_tags
    assert store.abandon_launch("launch-2").value == "started"


def test_runs_without_the_shim_tags_are_not_guarded() -> None:
    result, _ = _run({"esl/job_id": "job-3"})
    assert result.success and work_done == [result.run_id]


def test_unreachable_ledger_is_transient_and_unknown_ledger_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable) as unavailable:
        record_start(f"sqlite:{tmp_path / 'missing' / 'store.sqlite3'}", "launch-4")
    assert unavailable.value.transient
    with pytest.raises(Exception, match="unknown launch ledger"):
        record_start("redis://elsewhere", "launch-4")
    assert not LaunchAbandoned.transient

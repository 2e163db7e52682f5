"""Relaunch jobs whose last run failed for an infrastructure cause, under the same job id.

Dagster's own machinery comes first (``dagster.yaml``): the run queue puts back a run whose launch
could not reach its code location, run retries re-execute a run whose worker crashed or whose
start timed out, run monitoring fails a run stuck starting. What it leaves behind are runs that
failed for the infrastructure and that Dagster will not retry: its retry of the run itself failed
("Failed to retry run" while the code location was still reloading after a Postgres outage), or
its retries are used up while the fault lasted. Such a job would read ``failed`` for good.

The ``relaunch_infrastructure_failures`` sensor scans recently failed runs and relaunches each job
whose newest run is such a run:

- infrastructure cause only: the run recorded no outcome error (``esl/error`` written by the run
  itself, which the ops do for an invalid lesson or a permanent service error) and no step failed
  with a classified ``dg.Failure``; runs Dagster is still going to retry are left to Dagster;
- every final failure names its cause: a run whose step failed with a ``dg.Failure`` but which
  could not write its ``esl/error`` gets it from the failure's description, and a job given up
  gets one saying so. A failed run without its own ``esl/error`` is therefore still on its way
  to a retry or relaunch (what the API may report as ``running``);
- same job: the new run carries the failed run's tags (``esl/job_id``, lesson key, source,
  submission time, ...) and run config, so ``GET /jobs/{id}`` follows it;
- bounded, with backoff: attempt ``n`` (tag ``esl/relaunch_attempt``) waits
  ``RELAUNCH_BASE_DELAY_S * 2**(n-1)`` seconds after the failure; after ``MAX_RELAUNCH_ATTEMPTS``
  the job fails with a message naming the cause;
- idempotent: the run key ``relaunch:<failed run id>`` makes Dagster refuse a second relaunch of
  one failed run, and only the newest run of a job id is ever considered.

While a relaunch waits for its backoff, the failed run carries ``dagster/will_retry=true`` (the tag
Dagster's run retries set), so the job keeps reading ``running`` instead of ``failed``.
"""

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from esl_dagster.defs.lessons.batch import lesson_batch_job
from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.tags import (
    ERROR_TAG,
    JOB_ID_TAG,
    MANIFEST_PATH_TAG,
    OUTCOME_RUN_TAG,
    outcome_tags,
    own_outcome_tag,
)

RELAUNCH_OF_TAG = "esl/relaunch_of"
RELAUNCH_ATTEMPT_TAG = "esl/relaunch_attempt"
# Set on a failed run this sensor has taken charge of (it relaunches it after the backoff).
RELAUNCH_PENDING_TAG = "esl/relaunch_pending"
# Dagster's own tag for "a failed run that is going to be retried" (the API reads it as running).
WILL_RETRY_TAG = "dagster/will_retry"
SYSTEM_TAG_PREFIX = "dagster/"
# Tags a run writes about its own outcome: never copied to the run that replaces it.
OUTCOME_TAGS = frozenset({ERROR_TAG, MANIFEST_PATH_TAG, OUTCOME_RUN_TAG, RELAUNCH_PENDING_TAG})

MAX_RELAUNCH_ATTEMPTS = 3
RELAUNCH_BASE_DELAY_S = 10.0
LOOKBACK_S = 6 * 3600.0
MAX_RUNS_PER_TICK = 200
SENSOR_INTERVAL_S = 5
RELAUNCHED_JOBS = (lesson_job, lesson_batch_job)
RELAUNCHED_JOB_NAMES = tuple(job.name for job in RELAUNCHED_JOBS)


@dataclass(frozen=True)
class Relaunch:
    """The decision for one failed run: relaunch now, later, or give up (with the reason)."""

    run: dg.DagsterRun
    attempt: int
    due_at: float

    @property
    def exhausted(self) -> bool:
        return self.attempt > MAX_RELAUNCH_ATTEMPTS


def relaunch_delay(attempt: int) -> float:
    """Seconds between a failure and relaunch ``attempt`` (1-based): 10, 20, 40 s."""
    return float(RELAUNCH_BASE_DELAY_S * 2 ** (attempt - 1))


def is_newest_run_of_its_job(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """True when no later run carries the same job id (a retry, re-execution or relaunch)."""
    newest = instance.get_run_records(
        filters=dg.RunsFilter(tags={JOB_ID_TAG: run.tags[JOB_ID_TAG]}), limit=1
    )
    return bool(newest) and newest[0].dagster_run.run_id == run.run_id


def has_own_error(run: dg.DagsterRun) -> bool:
    """True when the run wrote ``esl/error`` about itself, not inherited from a parent run: a run
    with a parent marks its own outcome with ``esl/outcome_run_id``; a first run (or a relaunch,
    which does not copy outcome tags) inherits nothing."""
    return own_outcome_tag(run.run_id, run.tags, ERROR_TAG) is not None


def classified_failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """The message of the first step that failed with a ``dg.Failure`` (how the ops report an
    invalid lesson, a permanent service error or exhausted transient retries), else None."""
    failures = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records
    for record in failures:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event is not None else None
        if data is not None and data.user_failure_data is not None:
            description = data.user_failure_data.description
            return description or f"{event.step_key if event else 'a step'}: failed"
    return None


def relaunch_decision(
    instance: dg.DagsterInstance, record: dg.RunRecord, job_names: Sequence[str]
) -> Relaunch | None:
    """What to do about one failed run, or None when it is not ours to relaunch.

    A lesson or service failure whose ``esl/error`` the run could not write (e.g. Postgres went
    away at that moment) gets it here, so every final failure names its cause.
    """
    run = record.dagster_run
    if run.job_name not in job_names or JOB_ID_TAG not in run.tags or has_own_error(run):
        return None
    ours = run.tags.get(RELAUNCH_PENDING_TAG) == "true"
    if run.tags.get(WILL_RETRY_TAG) == "true" and not ours:
        return None  # Dagster's run retries relaunch it
    message = classified_failure(instance, run)
    if message is not None:
        instance.add_run_tags(run.run_id, outcome_tags(run.run_id, run.tags, error=message))
        return None
    if not is_newest_run_of_its_job(instance, run):
        return None
    attempt = int(run.tags.get(RELAUNCH_ATTEMPT_TAG, "0")) + 1
    failed_at = record.end_time or record.update_timestamp.timestamp()
    return Relaunch(run=run, attempt=attempt, due_at=failed_at + relaunch_delay(attempt))


def successor_tags(run: dg.DagsterRun, attempt: int) -> dict[str, str]:
    """The failed run's own tags (job id, lesson key, source, ...), marked as relaunch ``attempt``."""
    tags = {
        key: value
        for key, value in run.tags.items()
        if not key.startswith(SYSTEM_TAG_PREFIX) and key not in OUTCOME_TAGS
    }
    tags[RELAUNCH_OF_TAG] = run.run_id
    tags[RELAUNCH_ATTEMPT_TAG] = str(attempt)
    return tags


def give_up(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Let the job read ``failed``, saying that the infrastructure, not the lesson, failed it."""
    attempts = int(run.tags.get(RELAUNCH_ATTEMPT_TAG, "0"))
    message = (
        f"infrastructure failure: run {run.run_id} failed without a lesson or service error "
        f"after {attempts} relaunch(es); see the run's events in the Dagster UI"
    )
    instance.add_run_tags(
        run.run_id,
        {**outcome_tags(run.run_id, run.tags, error=message), WILL_RETRY_TAG: "false"},
    )


def plan_relaunches(
    instance: dg.DagsterInstance,
    now: float,
    job_names: Sequence[str] = RELAUNCHED_JOB_NAMES,
) -> list[dg.RunRequest]:
    """Run requests for the failed runs whose relaunch is due; marks the ones still waiting."""
    since = datetime.fromtimestamp(now - LOOKBACK_S, UTC)
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since),
        limit=MAX_RUNS_PER_TICK,
    )
    requests = []
    for record in records:
        decision = relaunch_decision(instance, record, job_names)
        if decision is None:
            continue
        run = decision.run
        if decision.exhausted:
            give_up(instance, run)
        elif now < decision.due_at:
            if run.tags.get(RELAUNCH_PENDING_TAG) != "true":
                instance.add_run_tags(
                    run.run_id, {RELAUNCH_PENDING_TAG: "true", WILL_RETRY_TAG: "true"}
                )
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"relaunch:{run.run_id}",
                    job_name=run.job_name,
                    run_config=dict(run.run_config),
                    tags=successor_tags(run, decision.attempt),
                )
            )
    return requests


@dg.sensor(
    name="relaunch_infrastructure_failures",
    jobs=list(RELAUNCHED_JOBS),
    minimum_interval_seconds=SENSOR_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Relaunches, under the same esl/job_id, jobs whose newest run failed for an "
        "infrastructure cause (no lesson or service error) and that Dagster's run retries will "
        "not retry; bounded attempts with exponential backoff."
    ),
)
def relaunch_infrastructure_failures(
    context: dg.SensorEvaluationContext,
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    requests = plan_relaunches(context.instance, time.time())
    if not requests:
        yield dg.SkipReason("No job waits for a relaunch.")
    yield from requests

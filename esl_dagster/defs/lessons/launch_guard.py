"""The launch guard: a run the API shim gave up on does nothing, even when it is created late.

When the shim's ``launchRun`` gets no answer in time (a hung webserver, a broken connection), the
shim answers 503 only after writing ``abandoned`` for the launch's id into its launch ledger (a
table of its idempotency store). The webserver may still create that run minutes later. So before
anything else, ``validate_lesson`` writes ``started`` for its ``esl/launch_id`` into the same
table; the first writer wins the row:

- ``started`` won: the shim, when it asks later, learns that the run exists and answers 202;
- ``abandoned`` won: this run moves its job id aside (``esl/job_id`` becomes
  ``abandoned:<id>``, the original is kept in ``esl/abandoned_job_id``), tags itself
  ``esl/launch_abandoned=true`` and fails at once (``LaunchAbandoned``, never retried), before
  any lesson work. Until its first op runs it waits in the queue like any run.

Runs without the two tags (sensor, schedule, UI launchpad) are not guarded. Re-executions and run
retries copy the tags and find ``started``. The ledger is the shim's SQLite file
(``sqlite:<path>``, same machine) or its Postgres database (``postgres``: the URL in
``ESL_IDEMPOTENCY_DSN``, else ``DAGSTER_PG_URL``), the same settings the shim reads.
"""

import os
import time
from pathlib import Path
from typing import Final

import dagster as dg

from esl_common.launch_ledger import LAUNCH_ABANDONED_TAG, LAUNCH_ID_TAG, LAUNCH_LEDGER_TAG
from esl_dagster.defs.lessons.tags import JOB_ID_TAG
from esl_dagster.pipeline.errors import ConfigurationError, InfrastructureError, PipelineError

ABANDONED_JOB_ID_TAG: Final = "esl/abandoned_job_id"
SQLITE_TABLE: Final = "launch_outcomes"
POSTGRES_TABLE: Final = "esl_launch_outcomes"


class LaunchAbandoned(PipelineError):
    """The shim declared this run's launch failed (503) before the run started. Never retried."""

    code = "launch_abandoned"


class LedgerUnavailable(InfrastructureError):
    """The launch ledger could not be read or written (retried by the op's policy)."""

    code = "launch_ledger_unavailable"
    transient = True


def _claim_sql(table: str, placeholder: str) -> tuple[str, str]:
    insert = (
        f"INSERT INTO {table} (launch_id, outcome, decided_at) "
        f"VALUES ({placeholder}, 'started', {placeholder}) ON CONFLICT (launch_id) DO NOTHING"
    )
    select = f"SELECT outcome FROM {table} WHERE launch_id = {placeholder}"
    return insert, select


def _record_in_sqlite(ledger: str, launch_id: str) -> str:
    import sqlite3  # here, not at import: the code location stays light

    insert, select = _claim_sql(SQLITE_TABLE, "?")
    try:
        connection = sqlite3.connect(Path(ledger.removeprefix("sqlite:")), timeout=10)
        try:
            with connection:
                connection.execute(insert, (launch_id, time.time()))
                row = connection.execute(select, (launch_id,)).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise _unavailable(ledger, exc) from exc
    return str(row[0])


def postgres_ledger_url() -> str:
    url = os.environ.get("ESL_IDEMPOTENCY_DSN") or os.environ.get("DAGSTER_PG_URL")
    if not url:
        raise ConfigurationError(
            "the run was launched by an API shim with a Postgres launch ledger, but neither "
            "ESL_IDEMPOTENCY_DSN nor DAGSTER_PG_URL is set for the code location"
        )
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}" if sep else url


def _record_in_postgres(launch_id: str) -> str:
    # Imported here: only runs launched through a Postgres ledger need the driver.
    import psycopg2  # type: ignore[import-untyped]

    insert, select = _claim_sql(POSTGRES_TABLE, "%s")
    try:
        connection = psycopg2.connect(postgres_ledger_url(), connect_timeout=5)
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(insert, (launch_id, time.time()))
                cursor.execute(select, (launch_id,))
                row = cursor.fetchone()
        finally:
            connection.close()
    except psycopg2.Error as exc:
        raise _unavailable("postgres", exc) from exc
    return str(row[0])


def _unavailable(ledger: str, exc: Exception) -> LedgerUnavailable:
    return LedgerUnavailable(f"launch ledger {ledger!r} unavailable: {exc}")


def record_start(ledger: str, launch_id: str) -> str:
    """Write ``started`` for ``launch_id`` unless a decision exists; return the decision."""
    try:
        if ledger.startswith("sqlite:"):
            return _record_in_sqlite(ledger, launch_id)
        if ledger == "postgres":
            return _record_in_postgres(launch_id)
    except OSError as exc:
        raise _unavailable(ledger, exc) from exc
    raise ConfigurationError(f"unknown launch ledger {ledger!r} in tag {LAUNCH_LEDGER_TAG}")


def refuse_abandoned_launch(context: dg.OpExecutionContext) -> None:
    """Return when the run may work; raise `LaunchAbandoned` when its launch was abandoned."""
    tags = context.run.tags
    launch_id, ledger = tags.get(LAUNCH_ID_TAG), tags.get(LAUNCH_LEDGER_TAG)
    if not launch_id or not ledger or record_start(ledger, launch_id) == "started":
        return
    job_id = tags.get(JOB_ID_TAG, "")
    context.instance.add_run_tags(
        context.run_id,
        {
            LAUNCH_ABANDONED_TAG: "true",
            ABANDONED_JOB_ID_TAG: job_id,
            JOB_ID_TAG: f"abandoned:{job_id}",
        },
    )
    raise LaunchAbandoned(
        "the API answered 503 for this launch before Dagster created the run; "
        "nothing was done (resubmit the lesson)"
    )

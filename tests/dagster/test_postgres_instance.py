"""The production ``dagster.yaml`` against the real Postgres on 127.0.0.1 (fails if unreachable)."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2  # type: ignore[import-untyped]
import pytest

from esl_dagster.pipeline.settings import load_settings
from esl_dagster.stack import dagster_postgres_url
from tests.conftest import REPO_ROOT

PG_HOST = "127.0.0.1"
PG_PORT = 5432


@pytest.fixture(scope="session")
def fresh_database() -> Iterator[str]:
    name = f"esl_dagster_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@dg.op
def say_hello(context: dg.OpExecutionContext) -> str:
    context.log.info("hello from postgres")
    return "hello"


@dg.job
def hello_job() -> None:
    say_hello()


def test_production_instance_stores_runs_and_events_in_postgres(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(REPO_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    # The seed's PG_* variables, turned into DAGSTER_PG_URL exactly as `esl-stack --postgres` does.
    settings = load_settings(
        env_file=None,
        PG_HOST=PG_HOST,
        PG_PORT=PG_PORT,
        PG_USER="postgres",
        PG_DATABASE=fresh_database,
    )
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_postgres_url(settings))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        config = instance.get_concurrency_config().run_queue_config
        assert config is not None and config.max_concurrent_runs == 5
        result = hello_job.execute_in_process(instance=instance, tags={"esl/job_id": "pg-1"})
        assert result.success
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"esl/job_id": "pg-1"}))
        assert [run.run_id for run in runs] == [result.run_id]
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        logs = instance.all_logs(result.run_id)
        assert any("hello from postgres" in (entry.user_message or "") for entry in logs)
    with (
        psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname=fresh_database
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
        assert cursor.fetchone() == (1,)
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
        row = cursor.fetchone()
        assert row is not None and row[0] > 5

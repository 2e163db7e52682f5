"""Both Dagster instance files load into a real ``DagsterInstance`` with the D9 queue settings.

The embedded default (``deploy/dagster.embedded.yaml``, SQLite) is built in a temporary
DAGSTER_HOME; the production file (Postgres) is checked against the same expectations as parsed
YAML here and as a live instance in ``tests/dagster/test_postgres_instance.py``.
"""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from tests.conftest import REPO_ROOT

EMBEDDED = REPO_ROOT / "deploy" / "dagster.embedded.yaml"
PRODUCTION = REPO_ROOT / "dagster.yaml"
EXPECTED_TAG_LIMITS = [
    {"key": ".dagster/esl.lesson_key", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    {"key": ".dagster/esl.tts", "value": "true", "limit": 2},
]


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def test_embedded_instance_builds_with_the_queue_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copyfile(EMBEDDED, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 5
        limits = [dict(limit) for limit in queue.tag_concurrency_limits]
        assert limits == EXPECTED_TAG_LIMITS
        # Infrastructure faults never fail a job: crashes are retried, op failures are not.
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 3
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_poll_interval_seconds == 10
        # A launch that cannot reach the code location goes back into the queue for 2.5 minutes.
        assert queue.max_user_code_failure_retries == 30
        assert queue.user_code_failure_retry_delay == 5
        assert queue.max_user_code_failure_retries * queue.user_code_failure_retry_delay >= 120
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, dg.QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == 1
        # One launch at a time: threaded dequeue lowered runs/min on two cores (bench runs).
        assert not coordinator.dequeue_use_threads
        # No per-run tail/watcher processes: step stdout/stderr stay out of the UI.
        assert type(instance.compute_log_manager).__name__ == "NoOpComputeLogManager"
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"


@pytest.mark.parametrize(
    "section",
    ["run_queue", "concurrency", "compute_logs", "run_retries", "run_monitoring", "retention"],
)
def test_embedded_and_production_share_queue_retry_monitoring_and_retention(section: str) -> None:
    assert load(EMBEDDED)[section] == load(PRODUCTION)[section]

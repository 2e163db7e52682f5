"""The example instance configs for scaling past one machine (deploy/dagster.*.yaml).

Each keeps the production instance's storage, queue, limits and retries, and changes only the run
launcher. The ECS launcher's class is installed (dagster-aws), so its config is loaded by a real
Dagster instance and the launcher is built (no AWS call happens at construction).
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_aws.ecs import EcsRunLauncher

from tests.deploy.deploy_files import (
    DEPLOY_DIR,
    PRODUCTION_INSTANCE,
    engine_known_variables,
    instance_env_references,
    load_yaml,
)

ECS_INSTANCE = DEPLOY_DIR / "dagster.ecs.yaml"
SHARED_BLOCKS = (
    "storage",
    "run_queue",
    "concurrency",
    "compute_logs",
    "run_retries",
    "run_monitoring",
    "retention",
    "telemetry",
    "nux",
)


@pytest.fixture(scope="module")
def ecs_config() -> dict[str, Any]:
    config = load_yaml(ECS_INSTANCE)
    assert isinstance(config, dict)
    return config


def test_ecs_instance_keeps_the_production_settings(ecs_config: dict[str, Any]) -> None:
    production = load_yaml(PRODUCTION_INSTANCE)
    assert set(ecs_config) == set(production)
    for block in SHARED_BLOCKS:
        assert ecs_config[block] == production[block], f"{block} differs from dagster.yaml"
    assert production["run_launcher"]["class"] == "DefaultRunLauncher"


def test_ecs_run_tasks_get_only_variables_the_engine_reads(ecs_config: dict[str, Any]) -> None:
    launcher = ecs_config["run_launcher"]["config"]
    plain = {entry.split("=", 1)[0] for entry in launcher["env_vars"]}
    secret = {entry["name"] for entry in launcher["secrets"]}
    assert not plain & secret
    unknown = (plain | secret) - engine_known_variables()
    assert not unknown, f"run tasks get variables nothing reads: {sorted(unknown)}"
    storage_variables = instance_env_references(ecs_config["storage"])
    assert storage_variables and storage_variables <= plain | secret


def test_ecs_launcher_is_built_by_a_dagster_instance(
    ecs_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole file but the Postgres storage (checked above to equal dagster.yaml, which
    tests/dagster/test_postgres_instance.py runs on Postgres) is loaded by Dagster itself."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    config = {**ecs_config, "storage": {"sqlite": {"base_dir": str(tmp_path)}}}
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.container_name == "run"
        assert launcher.task_definition is None  # registered per image from the dict above
        assert launcher.secrets_tags == []
        queue = instance.get_concurrency_config().run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 5
        production = load_yaml(PRODUCTION_INSTANCE)["concurrency"]["runs"]
        assert queue.tag_concurrency_limits == production["tag_concurrency_limits"]


def test_ecs_run_task_mounts_the_lesson_folder_the_sensor_watches(
    ecs_config: dict[str, Any],
) -> None:
    launcher = ecs_config["run_launcher"]["config"]
    task = launcher["task_definition"]
    volumes = {volume["name"] for volume in task["volumes"]}
    (mount,) = task["mount_points"]
    assert mount["sourceVolume"] in volumes
    assert f"ESL_LESSON_FOLDERS={mount['containerPath']}" in launcher["env_vars"]

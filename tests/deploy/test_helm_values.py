"""The Kubernetes Helm values (deploy/helm/values.yaml) make a working Dagster instance.

The instance config the official chart renders from our values (``tests/deploy/helm_instance.py``)
is loaded by a real ``DagsterInstance`` on a fresh local Postgres database: the K8sRunLauncher
from dagster-k8s is built (from a kubeconfig file pointing at loopback, as a daemon outside the
cluster would; the values themselves keep the in-cluster config, and no API call happens at
construction), and the queue, retries, monitoring and logs are the one-machine stack's.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_k8s import K8sRunLauncher

from tests.deploy.deploy_files import DEPLOY_DIR, PRODUCTION_INSTANCE, load_yaml
from tests.deploy.helm_instance import render_instance
from tests.e2e.real_stack import PG_HOST, PG_PORT, postgres_database

VALUES = DEPLOY_DIR / "helm" / "values.yaml"
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: test, user: {token: test-token}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
"""


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded = load_yaml(VALUES)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def helm_instance(
    values: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The rendered instance on a fresh database of the local server (trust auth)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    with postgres_database("esl_helm") as database:
        local = yaml.safe_load(yaml.safe_dump(values))
        local["postgresql"].update(
            postgresqlHost=PG_HOST, postgresqlUsername="postgres", postgresqlDatabase=database
        )
        local["postgresql"]["service"]["port"] = PG_PORT
        launcher = local["runLauncher"]["config"]["k8sRunLauncher"]
        launcher.update(loadInclusterConfig=False, kubeconfigFile=str(kubeconfig))
        home = tmp_path / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(render_instance(local)), "utf-8")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
        with dg.DagsterInstance.get() as instance:
            yield instance


def test_values_use_the_k8s_run_launcher_in_cluster(values: dict[str, Any]) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["loadInclusterConfig"] is True
    assert "kubeconfigFile" not in launcher
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"


def test_helm_instance_launches_runs_as_kubernetes_jobs(
    helm_instance: dg.DagsterInstance, values: dict[str, Any]
) -> None:
    launcher = helm_instance.run_launcher
    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "default"
    assert launcher.env_secrets == ["esl-pipeline-secrets"]
    assert "ESL_LESSON_FOLDERS=/opt/esl/lessons" in launcher.env_vars
    assert [mount["mountPath"] for mount in launcher.volume_mounts] == ["/opt/esl/lessons"]
    requests = launcher.run_k8s_config["container_config"]["resources"]["requests"]
    assert requests == {"cpu": "500m", "memory": "256Mi"}
    assert type(helm_instance.run_storage).__name__ == "PostgresRunStorage"


def test_helm_instance_keeps_the_stacks_queue_retries_and_logs(
    helm_instance: dg.DagsterInstance,
) -> None:
    production = load_yaml(PRODUCTION_INSTANCE)
    coordinator = helm_instance.run_coordinator
    assert isinstance(coordinator, dg.QueuedRunCoordinator)
    assert not coordinator.dequeue_use_threads
    assert coordinator.dequeue_interval_seconds == 1
    queue = helm_instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 20
    expected_limits = production["concurrency"]["runs"]["tag_concurrency_limits"]
    assert [dict(limit) for limit in queue.tag_concurrency_limits] == expected_limits
    # Infrastructure faults are retried, op failures are not (each op has its RetryPolicy).
    assert helm_instance.run_retries_enabled
    assert helm_instance.run_retries_max_retries == production["run_retries"]["max_retries"]
    assert not helm_instance.run_retries_retry_on_asset_or_op_failure
    assert helm_instance.run_monitoring_enabled
    monitoring = production["run_monitoring"]
    assert helm_instance.run_monitoring_start_timeout_seconds == monitoring["start_timeout_seconds"]
    assert helm_instance.run_monitoring_max_resume_run_attempts == 0
    assert type(helm_instance.compute_log_manager).__name__ == "NoOpComputeLogManager"
    assert production["compute_logs"]["class"] == "NoOpComputeLogManager"
    assert helm_instance.get_settings("python_logs")["managed_python_loggers"] == ["esl"]

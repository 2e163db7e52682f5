"""The ``dagster.yaml`` that Dagster's Helm chart renders from ``deploy/helm/values.yaml``.

A Python transcription of the chart's ``configmap-instance.yaml`` and its ``helpers/instance``
templates, for the sections our values use (scheduler, Postgres storages, ``K8sRunLauncher``,
``QueuedRunCoordinator``, compute logs, Python logs, run monitoring and retries, telemetry,
retention, ``additionalInstanceConfig``), so a test can load it into a real ``DagsterInstance``
without a cluster or the ``helm`` binary. Module paths are the ones the pinned Dagster imports.
"""

from typing import Any

DAGSTER_HOME = "/opt/dagster/dagster_home"  # the chart's global.dagsterHome default
SERVICE_ACCOUNT = "dagster"


def _postgres(values: dict[str, Any]) -> dict[str, Any]:
    pg = values["postgresql"]
    db: dict[str, Any] = {
        "username": pg["postgresqlUsername"],
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": pg["postgresqlHost"],
        "db_name": pg["postgresqlDatabase"],
        "port": pg["service"]["port"],
        "params": pg.get("postgresqlParams") or {},
    }
    if pg.get("postgresqlScheme"):
        db["scheme"] = pg["postgresqlScheme"]
    return {"postgres_db": db}


def _k8s_run_launcher(values: dict[str, Any], release: str) -> dict[str, Any]:
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "load_incluster_config": launcher["loadInclusterConfig"],
        "job_namespace": launcher.get("jobNamespace") or "default",
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": SERVICE_ACCOUNT,
        "dagster_home": DAGSTER_HOME,
        "instance_config_map": f"{release}-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
    }
    if launcher.get("kubeconfigFile"):
        config["kubeconfig_file"] = launcher["kubeconfigFile"]
    for key, name in (("envConfigMaps", "env_config_maps"), ("envSecrets", "env_secrets")):
        if launcher.get(key):
            config[name] = [item["name"] for item in launcher[key] if "name" in item]
    for key, name in (
        ("envVars", "env_vars"),
        ("volumeMounts", "volume_mounts"),
        ("volumes", "volumes"),
        ("labels", "labels"),
        ("resources", "resources"),
    ):
        if launcher.get(key):
            config[name] = launcher[key]
    run_k8s = launcher.get("runK8sConfig") or {}
    parts = (("containerConfig", "container_config"), ("podSpecConfig", "pod_spec_config"))
    if run_k8s:
        config["run_k8s_config"] = {name: run_k8s[key] for key, name in parts if key in run_k8s}
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def _queued_run_coordinator(values: dict[str, Any]) -> dict[str, Any]:
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    config: dict[str, Any] = {"max_concurrent_runs": queued.get("maxConcurrentRuns", -1)}
    for key, name in (
        ("tagConcurrencyLimits", "tag_concurrency_limits"),
        ("dequeueIntervalSeconds", "dequeue_interval_seconds"),
        ("dequeueUseThreads", "dequeue_use_threads"),
        ("dequeueNumWorkers", "dequeue_num_workers"),
    ):
        if queued.get(key):
            config[name] = queued[key]
    return {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": config,
    }


def _daemon_sections(values: dict[str, Any]) -> dict[str, Any]:
    daemon = values["dagsterDaemon"]
    sections: dict[str, Any] = {}
    if not daemon["enabled"]:
        return sections
    if daemon["runCoordinator"]["enabled"]:
        sections["run_coordinator"] = _queued_run_coordinator(values)
    monitoring = daemon["runMonitoring"]
    if monitoring["enabled"]:
        sections["run_monitoring"] = {
            "enabled": True,
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
        }
    retries = daemon["runRetries"]
    if retries["enabled"]:
        sections["run_retries"] = {"enabled": True, "max_retries": retries["maxRetries"]}
    return sections


def render_instance(values: dict[str, Any], release: str = "esl") -> dict[str, Any]:
    """The instance config (parsed ``dagster.yaml``) the chart puts into its ConfigMap."""
    storage = _postgres(values)
    instance: dict[str, Any] = {
        "scheduler": {"module": "dagster._core.scheduler", "class": "DagsterDaemonScheduler"},
        "schedule_storage": _storage("schedule_storage", "PostgresScheduleStorage", storage),
        "run_launcher": _k8s_run_launcher(values, release),
        "run_storage": _storage("run_storage", "PostgresRunStorage", storage),
        "event_log_storage": _storage("event_log", "PostgresEventLogStorage", storage),
        **_daemon_sections(values),
    }
    if values["computeLogManager"]["type"] == "NoOpComputeLogManager":
        instance["compute_logs"] = {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        }
    logs = values.get("pythonLogs") or {}
    if logs:
        instance["python_logs"] = {
            "python_log_level": logs["pythonLogLevel"],
            "managed_python_loggers": logs["managedPythonLoggers"],
        }
    instance["telemetry"] = {"enabled": values["telemetry"]["enabled"]}
    retention = values["retention"]
    if retention["enabled"]:
        instance["retention"] = {
            kind: {"purge_after_days": retention[kind]["purgeAfterDays"]}
            for kind in ("sensor", "schedule")
            if retention.get(kind)
        }
    instance.update(values.get("additionalInstanceConfig") or {})
    return instance


def _storage(module: str, cls: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"module": f"dagster_postgres.{module}", "class": cls, "config": config}

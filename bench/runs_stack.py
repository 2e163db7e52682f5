"""The Postgres stack ``bench/runs.py`` measures, with one instance-config variant at a time.

Built from the pieces of :mod:`esl_dagster.stack` as ``esl-stack --postgres`` runs it (gRPC code
server, webserver, daemon, shim) on a fresh database and free loopback ports, plus a second code
server holding ``bench/one_op_location.py``: the webserver and the daemon load both locations,
so lesson runs and one-op runs go through the same instance, queue and run launcher. Each code
server's reaped children (its run workers and whatever they started) are its ``cutime+cstime``.
"""

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2  # type: ignore[import-untyped]
import yaml

from bench.stack import RUN_WORKER, tree
from esl_dagster.pipeline.settings import load_settings
from esl_dagster.stack import Child, StackConfig, children, prepare, stop, wait_ready
from esl_dagster.stack.children import CODE_SERVER
from esl_dagster.stack.config import PRODUCTION_INSTANCE_YAML, REPO_ROOT, WORKSPACE_YAML
from esl_dagster.stack.supervisor import start_children
from tests.e2e.real_stack import PG_HOST, PG_PORT, free_port, postgres_database

READY_TIMEOUT_S = 180.0
ONE_OP_LOCATION = "bench_one_op"
ONE_OP_CODE_SERVER = "one-op-code-server"
ONE_OP_FILE = REPO_ROOT / "bench" / "one_op_location.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

InstanceEdit = Callable[[dict[str, Any]], None]


def _before(config: dict[str, Any]) -> None:
    """The instance as it was: step stdout/stderr captured to files (two ``tail -F`` and two
    orphan-watcher processes per run)."""
    del config["compute_logs"]


def _threads(workers: int) -> InstanceEdit:
    def edit(config: dict[str, Any]) -> None:
        config["run_queue"].update(dequeue_use_threads=True, dequeue_num_workers=workers)

    return edit


def _unchanged(config: dict[str, Any]) -> None:
    del config  # the production dagster.yaml as committed


# name -> edit of the production dagster.yaml. ``before`` is the baseline of every ratio.
VARIANTS: dict[str, InstanceEdit] = {
    "before": _before,
    "production": _unchanged,
    "threads-1": _threads(1),
    "threads-2": _threads(2),
    "threads-4": _threads(4),
}


def instance_yaml(variant: str) -> str:
    config: dict[str, Any] = yaml.safe_load(PRODUCTION_INSTANCE_YAML.read_text(encoding="utf-8"))
    VARIANTS[variant](config)
    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class CpuSeconds:
    """CPU of a process itself and of its children it has reaped, in seconds."""

    own: float
    children: float


def cpu_seconds(pid: int) -> CpuSeconds:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return CpuSeconds((utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS)


@dataclass
class BenchStack:
    config: StackConfig
    procs: list[Child]
    one_op: Child
    database: str

    def pid(self, name: str) -> int:
        proc = self.one_op if name == ONE_OP_CODE_SERVER else _named(self.procs, name)
        assert proc.pid is not None
        return proc.pid

    def stack_pids(self) -> set[int]:
        """The product's processes (the one-op code server is the bench's own)."""
        return {proc.pid for proc in self.procs if proc.pid is not None}

    def wait_workers_reaped(self, timeout: float) -> None:
        """Block until no run worker is left under either code server (their CPU is then in
        the code server's ``cutime``)."""
        deadline = time.monotonic() + timeout
        roots = {self.pid(CODE_SERVER), self.pid(ONE_OP_CODE_SERVER)}
        while any(
            RUN_WORKER in cmd and "resource_tracker" not in cmd for _, _, cmd in _below(roots)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"run workers still alive after {timeout:.0f}s")
            time.sleep(0.3)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg2.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", dbname=self.database
        ) as connection:
            with connection.cursor() as cursor:
                cursor.execute(query, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
        connection.close()
        return rows


def _named(procs: list[Child], name: str) -> Child:
    return next(proc for proc in procs if proc.name == name)


def _below(roots: set[int]) -> list[tuple[int, int, str]]:
    return [entry for pid, entry in tree(roots).items() if pid not in roots]


def _workspace(config: StackConfig, one_op_port: int) -> dict[str, Any]:
    servers = [(config.code_server_port, "esl_dagster"), (one_op_port, ONE_OP_LOCATION)]
    return {
        "load_from": [
            {"grpc_server": {"host": config.host, "port": port, "location_name": name}}
            for port, name in servers
        ]
    }


def _wait_port(proc: Child, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running():
            raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} not listening after {timeout:.0f}s") from None
            time.sleep(0.3)


@contextmanager
def bench_stack(workdir: Path, variant: str) -> Iterator[BenchStack]:
    """The stack on a fresh database with ``variant``'s instance config, stopped afterwards."""
    with postgres_database("esl_bench_runs") as database:
        config = StackConfig(
            workdir=workdir,
            dagster_home=workdir / "dagster_home",
            lessons_dir=workdir / "lessons",
            postgres=True,
            dagster_port=free_port(),
            api_port=free_port(),
        )
        settings = load_settings(
            env_file=None,
            pg_host=PG_HOST,
            pg_port=PG_PORT,
            pg_user="postgres",
            pg_database=database,
        )
        env = prepare(config, settings)
        env = {k: v for k, v in env.items() if not k.startswith(("NOTION_", "ELEVENLABS_"))}
        (config.dagster_home / "dagster.yaml").write_text(instance_yaml(variant), encoding="utf-8")
        one_op_port = free_port()
        workspace = workdir / "workspace.bench.yaml"
        workspace.write_text(yaml.safe_dump(_workspace(config, one_op_port)), encoding="utf-8")
        procs = children(config)
        for proc in procs:
            proc.argv = [str(workspace) if arg == str(WORKSPACE_YAML) else arg for arg in proc.argv]
        one_op_argv = [*_named(procs, CODE_SERVER).argv[:3], "-f", str(ONE_OP_FILE)]
        one_op_argv += [
            "--location-name",
            ONE_OP_LOCATION,
            "-h",
            config.host,
            "-p",
            str(one_op_port),
        ]
        one_op = Child(ONE_OP_CODE_SERVER, one_op_argv, config.log_dir / "one-op-code-server.log")
        try:
            one_op.start(env, workdir)
            _wait_port(one_op, config.host, one_op_port, READY_TIMEOUT_S)
            start_children(config, procs, env, timeout=READY_TIMEOUT_S)
            wait_ready(config, procs, READY_TIMEOUT_S)
            yield BenchStack(config, procs, one_op, database)
        finally:
            stop([one_op, *procs])

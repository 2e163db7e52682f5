"""The real stack for end-to-end tests and the real-stack benchmark.

A fresh Postgres database (user ``postgres`` on 127.0.0.1, trust auth; an unreachable server is an
error, never a skip), a temporary ``DAGSTER_HOME`` holding the production ``dagster.yaml``, and
a gRPC code server, ``dagster-webserver``, ``dagster-daemon`` and the shim under uvicorn on free
loopback ports, started and stopped with the pieces of :mod:`esl_dagster.stack`. Every child gets
a marker variable in its environment, so after the stop any process still carrying it (a code
server, a run worker) is found and reported as an orphan.
"""

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2  # type: ignore[import-untyped]

from esl_dagster.pipeline.settings import load_settings
from esl_dagster.stack import (
    Child,
    StackConfig,
    children,
    prepare,
    start_children,
    stop,
    wait_ready,
)

PG_HOST = "127.0.0.1"
PG_PORT = 5432
MARKER_VARIABLE = "ESL_E2E_STACK_MARKER"
READY_TIMEOUT_S = 120.0
ORPHAN_GRACE_S = 10.0
TERMINAL_STATES = frozenset({"succeeded", "failed"})
STATE_RANK = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2}

RUNS_BY_TAG = """
query RunsByTag($key: String!, $value: String!, $limit: Int) {
  runsOrError(filter: {tags: [{key: $key, value: $value}]}, limit: $limit) {
    __typename
    ... on Runs {
      results {
        runId status creationTime startTime endTime
        tags { key value }
        stepStats { stepKey status attempts { startTime endTime } }
      }
    }
    ... on PythonError { message }
  }
}
"""

RUNS_IN_FLIGHT = """
{
  runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, MANAGED, STARTING, STARTED, CANCELING]}) {
    __typename
    ... on Runs { results { runId status } }
    ... on PythonError { message }
  }
}
"""

DAEMON_HEALTH = """
{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""

# The mutation behind the UI's "Re-execute all" button.
LAUNCH_RUN_REEXECUTION = """
mutation Reexecute($parentRunId: String!, $strategy: ReexecutionStrategy!) {
  launchRunReexecution(reexecutionParams: {parentRunId: $parentRunId, strategy: $strategy}) {
    __typename
    ... on LaunchRunSuccess { run { runId status tags { key value } } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on Error { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the local server, dropped (with its connections) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def processes_with_marker(marker: str) -> list[int]:
    """Pids of live processes whose environment carries ``MARKER_VARIABLE=marker``."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def tail(path: Path, lines: int) -> str:
    if not path.exists():
        return f"({path.name}: no log)"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"--- last {len(text)} lines of {path.name} ---\n" + "\n".join(text)


@dataclass
class RealStack:
    config: StackConfig
    procs: list[Child]
    env: dict[str, str]
    marker: str

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def graphql_url(self) -> str:
        return f"{self.config.dagster_url}/graphql"

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            self.graphql_url,
            json={"query": query, "variables": dict(variables or {})},
            timeout=30.0,
            trust_env=False,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        data: dict[str, Any] = body["data"]
        return data

    def runs_for_job(self, job_id: str) -> list[dict[str, Any]]:
        """Every run tagged ``esl/job_id=job_id``, newest first."""
        data = self.graphql(RUNS_BY_TAG, {"key": "esl/job_id", "value": job_id, "limit": 50})
        result = data["runsOrError"]
        assert result["__typename"] == "Runs", result
        runs: list[dict[str, Any]] = result["results"]
        return runs

    def wait_idle(self, timeout: float) -> None:
        """Block until no run is queued or in progress (tests that inject shared faults)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.graphql(RUNS_IN_FLIGHT)["runsOrError"]
            assert result["__typename"] == "Runs", result
            if not result["results"]:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"runs still in flight after {timeout:.0f}s: {result['results']}\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)

    def log_tail(self, lines: int = 25) -> str:
        return "\n".join(tail(proc.log_path, lines) for proc in self.procs)

    def diagnose(self, job_id: str) -> str:
        """What to print when a job does not finish: its runs' statuses and the services' logs."""
        try:
            runs = [(run["runId"], run["status"]) for run in self.runs_for_job(job_id)]
            summary = f"runs of job {job_id}: {runs}"
        except (httpx.HTTPError, AssertionError) as exc:
            summary = f"runs of job {job_id}: unavailable ({exc})"
        return f"{summary}\n{self.log_tail()}"


def wait_daemon_healthy(stack: RealStack, timeout: float) -> None:
    """Block until the daemon's run queue coordinator reports a heartbeat."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = stack.graphql(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        if any(s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"] for s in statuses):
            return
        for proc in stack.procs:
            if not proc.running():
                raise RuntimeError(f"{proc.name} exited early\n{stack.log_tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"daemon not healthy after {timeout:.0f}s\n{stack.log_tail()}")
        time.sleep(0.5)


def stop_and_check_orphans(stack: RealStack) -> None:
    """Stop every child; fail when any process of the stack outlives the stop."""
    stop(stack.procs)
    deadline = time.monotonic() + ORPHAN_GRACE_S
    left = processes_with_marker(stack.marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_with_marker(stack.marker)
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise AssertionError(f"orphan processes after stopping the stack (killed): {left}")


@contextmanager
def running_stack(
    workdir: Path, *, database: str, extra_env: Mapping[str, str]
) -> Iterator[RealStack]:
    """The webserver, daemon and shim on ``workdir`` (PIPELINE_CWD; lessons under ``lessons/``).

    ``extra_env`` points the product at its services; the children inherit it.
    """
    config = StackConfig(
        workdir=workdir,
        dagster_home=workdir / "dagster_home",
        lessons_dir=workdir / "lessons",
        postgres=True,
        dagster_port=free_port(),
        api_port=free_port(),
    )
    settings = load_settings(
        env_file=None, PG_HOST=PG_HOST, PG_PORT=PG_PORT, PG_USER="postgres", PG_DATABASE=database
    )
    env = prepare(config, settings)
    marker = uuid.uuid4().hex
    env.update(extra_env)
    env[MARKER_VARIABLE] = marker
    stack = RealStack(config=config, procs=children(config), env=env, marker=marker)
    try:
        start_children(config, stack.procs, env, timeout=READY_TIMEOUT_S)
        wait_ready(config, stack.procs, timeout=READY_TIMEOUT_S)
        wait_daemon_healthy(stack, timeout=READY_TIMEOUT_S)
    except (RuntimeError, httpx.HTTPError) as exc:
        message = f"the real stack did not start: {exc}\n{stack.log_tail()}"
        stop_and_check_orphans(stack)
        raise RuntimeError(message) from exc
    try:
        yield stack
    finally:
        stop_and_check_orphans(stack)


@dataclass
class JobTrace:
    """What polling ``GET /jobs/{id}`` saw: every body whose state differed from the one before."""

    job_id: str
    bodies: list[dict[str, Any]]

    @property
    def states(self) -> list[str]:
        return [body["state"] for body in self.bodies]

    @property
    def final(self) -> dict[str, Any]:
        return self.bodies[-1]

    @property
    def terminal(self) -> bool:
        return bool(self.bodies) and self.final["state"] in TERMINAL_STATES

    def record(self, body: dict[str, Any]) -> None:
        """Add ``body`` when its state differs from the last one seen, else refresh the last."""
        if not self.bodies or self.bodies[-1]["state"] != body["state"]:
            self.bodies.append(body)
        else:
            self.bodies[-1] = body


async def _poll(
    api_url: str, traces: list[JobTrace], timeout: float, interval: float, in_flight: int
) -> None:
    deadline = time.monotonic() + timeout
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=api_url, timeout=30.0, limits=limits) as client:

        async def observe(trace: JobTrace) -> None:
            async with gate:
                response = await client.get(f"/jobs/{trace.job_id}")
            if response.status_code != 200:
                raise AssertionError(
                    f"GET /jobs/{trace.job_id} answered {response.status_code}: {response.text}"
                )
            trace.record(response.json())

        while True:
            pending = [trace for trace in traces if not trace.terminal]
            if not pending or time.monotonic() > deadline:
                return
            started = time.monotonic()
            await asyncio.gather(*(observe(trace) for trace in pending))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def poll_jobs(
    api_url: str,
    traces: list[JobTrace],
    *,
    timeout: float,
    interval: float = 0.25,
    in_flight: int = 8,
) -> None:
    """Poll ``GET /jobs/{id}`` for every trace until all are terminal or ``timeout`` passes."""
    asyncio.run(_poll(api_url, traces, timeout, interval, in_flight))

"""Idle cost of the embedded ``esl-stack`` (SQLite home), as ``make run`` starts it.

Measured: the resident memory of every process of the stack (``esl-stack`` itself, the code
server, webserver, daemon, shim and whatever they spawned) once it is ready, has run the one
lesson its sensor finds at the first start, and has idled; sampled every second over the idle
window, mean and peak reported. Also the number of code-server processes started during the
window (target 0: the standalone gRPC code server lives as long as the stack).

Baseline in the same run: the earlier layout, the webserver and the daemon loading
``workspace.yaml`` (each spawns its own code server, and the daemon replaces its own about every
minute), same instance and shim, no supervisor, measured over the same window. It runs no lesson,
which favours the baseline.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import BenchRow
from esl_dagster.pipeline.settings import load_settings
from esl_dagster.stack import StackConfig, children, prepare, stop, wait_ready
from esl_dagster.stack.children import CODE_SERVER
from esl_dagster.stack.config import REPO_ROOT, WORKSPACE_YAML, free_port
from tests.conftest import VALID_LESSONS

IDLE_WINDOW_S = 75.0  # longer than the daemon's 60 s workspace reload
READY_TIMEOUT_S = 300.0
RSS_TARGET_MIB = 600.0
RUN_COUNTS = """
{
  all: runsOrError { ... on Runs { count } }
  inFlight: runsOrError(
    filter: {statuses: [QUEUED, NOT_STARTED, MANAGED, STARTING, STARTED, CANCELING]}
  ) { ... on Runs { count } }
}
"""
RUN_WORKER = "multiprocessing.spawn"
MODULE_WORKSPACE = str(REPO_ROOT / "workspace.yaml")
CODE_SERVER_MARKERS = ("api grpc", "code-server", "grpc --lazy-load", "grpc-health")


@dataclass(frozen=True)
class IdleFigures:
    mean_rss_mib: float
    peak_rss_mib: float
    processes: int
    code_servers_started: int


def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, RSS in KiB, command line) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss = int(fields.get("VmRSS", "0 kB").split()[0])
        table[int(entry.name)] = (int(fields["PPid"]), rss, cmdline)
    return table


def tree(roots: set[int]) -> dict[int, tuple[int, int, str]]:
    """The processes descending from ``roots`` (roots included)."""
    table = process_table()
    members = {pid for pid in roots if pid in table}
    grew = True
    while grew:
        found = {pid for pid, (ppid, _, _) in table.items() if ppid in members} - members
        members |= found
        grew = bool(found)
    return {pid: table[pid] for pid in members}


def measure_idle(roots: Callable[[], set[int]]) -> IdleFigures:
    """Sample the tree under ``roots`` every second over the idle window."""
    seen_code_servers: set[int] | None = None
    started = 0
    samples: list[float] = []
    counts: list[int] = []
    deadline = time.monotonic() + IDLE_WINDOW_S
    while time.monotonic() < deadline:
        members = tree(roots())
        code_servers = {
            pid
            for pid, (_, _, cmd) in members.items()
            if any(m in cmd for m in CODE_SERVER_MARKERS)
        }
        if seen_code_servers is not None:
            started += len(code_servers - seen_code_servers)
        seen_code_servers = (seen_code_servers or set()) | code_servers
        samples.append(sum(rss for _, rss, _ in members.values()) / 1024)  # KiB -> MiB
        counts.append(len(members))
        time.sleep(1.0)
    return IdleFigures(sum(samples) / len(samples), max(samples), max(counts), started)


def wait_runs_drained(dagster_url: str, timeout: float) -> None:
    """Block until the sensor's first run has been launched and every run has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = graphql(dagster_url, RUN_COUNTS)
        if data["all"]["count"] >= 1 and data["inFlight"]["count"] == 0:
            return
        time.sleep(2.0)
    raise RuntimeError(f"the sensor's run did not end within {timeout:.0f}s")


def graphql(dagster_url: str, document: str) -> dict[str, Any]:
    response = httpx.post(
        f"{dagster_url}/graphql", json={"query": document}, timeout=30, trust_env=False
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()["data"]
    return data


@contextmanager
def supervised_stack(workdir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``esl-stack`` (embedded) on free ports, with one lesson for its sensor."""
    (workdir / "lessons").mkdir()
    shutil.copyfile(VALID_LESSONS[0], workdir / "lessons" / VALID_LESSONS[0].name)
    dagster_port = free_port()
    argv = [str(Path(sys.executable).parent / "esl-stack"), "--workdir", str(workdir)]
    argv += ["--dagster-port", str(dagster_port), "--api-port", str(free_port())]
    argv += ["--code-server-port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTION_", "ELEVENLABS_"))}
    output = workdir / "esl-stack.out"
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "is up" not in output.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"esl-stack did not come up:\n{output.read_text()}")
            time.sleep(1.0)
        yield process, f"http://127.0.0.1:{dagster_port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)


def wait_run_workers_gone(root: int, timeout: float) -> None:
    """A run reads SUCCESS a moment before its worker process (spawned by the code server) exits."""
    deadline = time.monotonic() + timeout
    while any(RUN_WORKER in cmd for _, _, cmd in tree({root}).values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run worker processes still alive after {timeout:.0f}s")
        time.sleep(1.0)


def measure_supervised(workdir: Path) -> IdleFigures:
    with supervised_stack(workdir) as (process, dagster_url):
        wait_runs_drained(dagster_url, READY_TIMEOUT_S)
        wait_run_workers_gone(process.pid, READY_TIMEOUT_S)
        return measure_idle(lambda: {process.pid})


def measure_module_workspace(workdir: Path) -> IdleFigures:
    """The baseline: webserver and daemon on ``workspace.yaml``, each with its code servers.

    Built from the stack's pieces, so the instance, the shim and the environment are the same.
    """
    config = StackConfig(
        workdir=workdir,
        dagster_home=workdir / ".dagster_home",
        lessons_dir=workdir / "lessons",
        postgres=False,
        dagster_port=free_port(),
        api_port=free_port(),
    )
    env = prepare(config, load_settings(env_file=None))
    procs = [proc for proc in children(config) if proc.name != CODE_SERVER]
    for proc in procs:
        proc.argv = [MODULE_WORKSPACE if arg == str(WORKSPACE_YAML) else arg for arg in proc.argv]
        proc.start(env, workdir)
    try:
        wait_ready(config, procs, READY_TIMEOUT_S)
        return measure_idle(lambda: {proc.pid for proc in procs if proc.pid is not None})
    finally:
        stop(procs)


def run() -> list[BenchRow]:
    results = {}
    for name, measure in (("supervised", measure_supervised), ("module", measure_module_workspace)):
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-stack-{name}-"))
        try:
            results[name] = measure(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    new, old = results["supervised"], results["module"]
    window = f"{IDLE_WINDOW_S:.0f} s idle"
    return [
        BenchRow(
            "stack.idle_rss.mean",
            new.mean_rss_mib,
            "MiB",
            baseline=old.mean_rss_mib,
            ratio=new.mean_rss_mib / old.mean_rss_mib,
            target=f"<= {RSS_TARGET_MIB:.0f} MiB",
        ),
        BenchRow(
            "stack.idle_rss.peak",
            new.peak_rss_mib,
            "MiB",
            baseline=old.peak_rss_mib,
            ratio=new.peak_rss_mib / old.peak_rss_mib,
            target=f"<= {RSS_TARGET_MIB:.0f} MiB",
        ),
        BenchRow("stack.idle.processes", new.processes, "count", baseline=old.processes),
        BenchRow(
            f"stack.code_servers_started ({window})",
            new.code_servers_started,
            "count",
            baseline=old.code_servers_started,
            target="0",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)

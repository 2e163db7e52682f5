"""Runs per minute on the Postgres stack (loopback only, bounded; not run in CI).

For each instance-config variant of ``bench/runs_stack.py`` (default ``before,production``;
``BENCH_RUNS_VARIANTS=production,threads-2`` picks others, the first one being the baseline), one
after the other on a fresh stack and database:

- idle RSS of the product's processes (code server, webserver, daemon, shim) over
  ``IDLE_SECONDS``, after one warm-up run of each kind; peak RSS during the drain;
- CPU per run: ``ONE_OP_RUNS`` one-op runs and as many seven-op runs (the lesson graph's shape,
  ops doing nothing: ``bench/one_op_location.py``), then
  ``DRAIN_JOBS`` lesson jobs (dry runs, no TTS, each of its own lesson copy) posted to ``/jobs``
  at once: each code server's reaped-children CPU (run worker + whatever it started) per run;
- the ceiling: ``DRAIN_JOBS`` one-op runs launched at once, runs/min to the last one's end;
- the drain: runs/min from the first POST to the last run's end, the time until
  ``BATCH_LESSONS`` of them had ended, and busy slots (runs STARTING/STARTED, sampled);
- one ``lesson_batch_job`` run over ``BATCH_LESSONS`` lesson copies, launch to end.

Each figure is printed for every variant with the first variant's (default ``before``: the
instance as it was) as baseline, and the target beside it. Variants run one after the other, so
a machine that is busy with other work slows them unequally: the load average is printed too.
"""

import asyncio
import os
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api_shim.dagster_gateway import LAUNCH_RUN
from bench.common import BenchRow, timed_posts
from bench.runs_stack import (
    ONE_OP_CODE_SERVER,
    ONE_OP_LOCATION,
    VARIANTS,
    BenchStack,
    bench_stack,
    cpu_seconds,
)
from bench.stack import tree
from esl_dagster.stack.children import CODE_SERVER
from tests.conftest import VALID_LESSONS

DRAIN_JOBS = 60
ONE_OP_RUNS = 12
BATCH_LESSONS = 50
IDLE_SECONDS = 15.0
SAMPLE_EVERY_S = 0.5
DRAIN_TIMEOUT_S = 900.0
MIB = 1024 * 1024
VARIANT_NAMES = os.environ.get("BENCH_RUNS_VARIANTS", "before,production").split(",")
RETRIES_503 = 3
RETRY_503_AFTER_S = 2.0
DONE = ("SUCCESS", "FAILURE", "CANCELED")
DAEMON_HEALTH = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"


@dataclass
class Figures:
    idle_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    one_op_cpu_s: float = 0.0
    seven_op_cpu_s: float = 0.0
    one_op_runs_per_min: float = 0.0
    lesson_cpu_s: float = 0.0
    code_server_cpu_s: float = 0.0
    runs_per_min: float = 0.0
    single_runs_s: float = 0.0
    succeeded: int = 0
    busy_mean: float = 0.0
    busy_peak: int = 0
    batch_s: float = 0.0
    load_average: float = 0.0
    busy: list[int] = field(default_factory=list)


def graphql(stack: BenchStack, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        f"{stack.config.dagster_url}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=60.0,
        trust_env=False,
    )
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def launch(stack: BenchStack, location: str, job: str, run_config: dict[str, Any]) -> str:
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "jobName": job,
        },
        "runConfigData": run_config,
    }
    result = graphql(stack, LAUNCH_RUN, {"executionParams": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"launch of {job} failed: {result}")
    return str(result["run"]["runId"])


def ended_count(stack: BenchStack, job: str) -> int:
    rows = stack.sql(
        "SELECT count(*) FROM runs WHERE pipeline_name = %s AND status IN %s", (job, DONE)
    )
    return int(rows[0][0])


def wait_ended(stack: BenchStack, job: str, count: int, timeout: float) -> list[float]:
    """Block until ``count`` runs of ``job`` have ended; the monotonic time each count was seen."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {count} {job} runs ended in {timeout:.0f}s")
        now = time.monotonic()
        seen.extend([now] * (min(count, ended_count(stack, job)) - len(seen)))
        time.sleep(0.2)
    return seen


def wait_daemon(stack: BenchStack) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = graphql(stack, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        if any(s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"] for s in statuses):
            return
        time.sleep(0.5)
    raise RuntimeError("the daemon's run queue never reported healthy")


def rss_mib(stack: BenchStack) -> float:
    return sum(rss for _, rss, _ in tree(stack.stack_pids()).values()) * 1024 / MIB


def post_jobs(stack: BenchStack, names: list[str]) -> None:
    """POST one dry no-TTS job per lesson; a 503 (Dagster slow to answer on a busy machine; the
    shim launched nothing) is posted again after ``RETRY_503_AFTER_S``, as a client would."""
    pending = [{"md": f"./lessons/{name}", "dryRun": True, "withTts": False} for name in names]
    for attempt in range(1 + RETRIES_503):
        if attempt:
            time.sleep(RETRY_503_AFTER_S)
        _, responses = asyncio.run(
            timed_posts(f"{stack.config.api_url}/jobs", pending, in_flight=20, timeout=60.0)
        )
        refused = [r.status_code for r in responses if r.status_code != 202]
        if any(code != 503 for code in refused):
            raise RuntimeError(f"/jobs refused {len(refused)} submissions: {refused[:5]}")
        pending = [body for body, r in zip(pending, responses, strict=True) if r.status_code == 503]
        if not pending:
            return
    raise RuntimeError(f"/jobs still answered 503 to {len(pending)} submissions")


def floor_cpu(stack: BenchStack, job: str) -> float:
    """CPU per run of ``job`` of the floor location, one warm-up run already ended."""
    server = stack.pid(ONE_OP_CODE_SERVER)
    before = cpu_seconds(server).children
    for _ in range(ONE_OP_RUNS):
        launch(stack, ONE_OP_LOCATION, job, {})
    wait_ended(stack, job, ONE_OP_RUNS + 1, DRAIN_TIMEOUT_S)
    stack.wait_workers_reaped(60)
    return (cpu_seconds(server).children - before) / ONE_OP_RUNS


def floor_drain(stack: BenchStack) -> float:
    """Runs/min of ``DRAIN_JOBS`` one-op runs launched at once: Dagster's own ceiling for this
    machine and instance (every run a fresh worker process that does nothing)."""
    already = ended_count(stack, "one_op_job")
    started = time.monotonic()
    for _ in range(DRAIN_JOBS):
        launch(stack, ONE_OP_LOCATION, "one_op_job", {})
    ends = wait_ended(stack, "one_op_job", already + DRAIN_JOBS, DRAIN_TIMEOUT_S)
    stack.wait_workers_reaped(60)
    return 60 * DRAIN_JOBS / (ends[-1] - started)


def sample(stack: BenchStack, figures: Figures, stop: threading.Event) -> None:
    """Busy slots and stack RSS every ``SAMPLE_EVERY_S`` until ``stop``."""
    while not stop.wait(SAMPLE_EVERY_S):
        busy = stack.sql("SELECT count(*) FROM runs WHERE status IN ('STARTING', 'STARTED')")
        figures.busy.append(int(busy[0][0]))
        figures.peak_rss_mib = max(figures.peak_rss_mib, rss_mib(stack))


def drain(stack: BenchStack, figures: Figures) -> None:
    server = stack.pid(CODE_SERVER)
    cpu_before = cpu_seconds(server)
    already = ended_count(stack, "lesson_job")
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(stack, figures, stop), daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        post_jobs(stack, [f"drain-{i:03d}.md" for i in range(DRAIN_JOBS)])
        ends = wait_ended(stack, "lesson_job", already + DRAIN_JOBS, DRAIN_TIMEOUT_S)[already:]
    finally:
        stop.set()
        sampler.join()
    stack.wait_workers_reaped(60)
    cpu_after = cpu_seconds(server)
    figures.load_average = os.getloadavg()[0]
    figures.runs_per_min = 60 * DRAIN_JOBS / (ends[-1] - started)
    figures.single_runs_s = ends[BATCH_LESSONS - 1] - started
    figures.lesson_cpu_s = (cpu_after.children - cpu_before.children) / DRAIN_JOBS
    figures.code_server_cpu_s = (cpu_after.own - cpu_before.own) / DRAIN_JOBS
    rows = stack.sql(
        "SELECT count(*) FROM runs WHERE pipeline_name = 'lesson_job' AND status = 'SUCCESS'"
    )
    figures.succeeded = int(rows[0][0]) - already
    active = [count for count in figures.busy if count > 0] or [0]
    figures.busy_mean, figures.busy_peak = statistics.mean(active), max(figures.busy)


def batch(stack: BenchStack, workdir: Path) -> float:
    folder = workdir / "batch"
    folder.mkdir()
    for index in range(BATCH_LESSONS):
        shutil.copyfile(VALID_LESSONS[index % len(VALID_LESSONS)], folder / f"b-{index:03d}.md")
    config = {"folder": str(folder), "dry_run": True, "with_tts": False}
    started = time.monotonic()
    launch(
        stack, "esl_dagster", "lesson_batch_job", {"ops": {"discover_lessons": {"config": config}}}
    )
    ended = wait_ended(stack, "lesson_batch_job", 1, DRAIN_TIMEOUT_S)[0]
    status = stack.sql("SELECT status FROM runs WHERE pipeline_name = 'lesson_batch_job'")
    if status[0][0] != "SUCCESS":
        raise RuntimeError(f"the batch run ended {status[0][0]}")
    return ended - started


def measure(variant: str) -> Figures:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-runs-{variant}-"))
    try:
        lessons = workdir / "lessons"
        lessons.mkdir()
        for index, name in enumerate(
            ["warm.md", *(f"drain-{i:03d}.md" for i in range(DRAIN_JOBS))]
        ):
            shutil.copyfile(VALID_LESSONS[index % len(VALID_LESSONS)], lessons / name)
        with bench_stack(workdir, variant) as stack:
            wait_daemon(stack)
            post_jobs(stack, ["warm.md"])
            launch(stack, ONE_OP_LOCATION, "one_op_job", {})
            launch(stack, ONE_OP_LOCATION, "seven_op_job", {})
            wait_ended(stack, "lesson_job", 1, DRAIN_TIMEOUT_S)
            wait_ended(stack, "one_op_job", 1, DRAIN_TIMEOUT_S)
            wait_ended(stack, "seven_op_job", 1, DRAIN_TIMEOUT_S)
            stack.wait_workers_reaped(60)
            figures = Figures()
            samples = []
            for _ in range(int(IDLE_SECONDS)):
                samples.append(rss_mib(stack))
                time.sleep(1.0)
            figures.idle_rss_mib = statistics.mean(samples)
            figures.one_op_cpu_s = floor_cpu(stack, "one_op_job")
            figures.seven_op_cpu_s = floor_cpu(stack, "seven_op_job")
            figures.one_op_runs_per_min = floor_drain(stack)
            drain(stack, figures)
            figures.batch_s = batch(stack, workdir)
            return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def variant_rows(name: str, new: Figures, old: Figures, baseline: str) -> list[BenchRow]:
    """The figures of one variant, each beside its baseline and target."""

    def row(label: str, value: float, unit: str, base: float | None, target: str | None = None):
        ratio = value / base if base else None
        label = label.replace("(vs before)", f"(vs {baseline})")
        return BenchRow(f"runs[{name}] {label}", value, unit, base, ratio, target)

    return [
        row(
            "drain of 60 jobs (vs before)", new.runs_per_min, "runs/min", old.runs_per_min, ">= 40"
        ),
        row(
            f"drain of {DRAIN_JOBS} one-op runs, Dagster's ceiling here (vs before)",
            new.one_op_runs_per_min,
            "runs/min",
            old.one_op_runs_per_min,
        ),
        row(
            f"drain of {DRAIN_JOBS} jobs (vs one-op runs)",
            new.runs_per_min,
            "runs/min",
            new.one_op_runs_per_min,
        ),
        row("drain: runs succeeded", new.succeeded, "count", None, f"== {DRAIN_JOBS}"),
        row(
            "CPU per lesson run (vs one-op run)",
            new.lesson_cpu_s,
            "CPU-s",
            new.one_op_cpu_s,
            "ratio <= 1.15",
        ),
        row(
            "CPU per seven-op run, the graph's shape in Dagster alone (vs one-op run)",
            new.seven_op_cpu_s,
            "CPU-s",
            new.one_op_cpu_s,
        ),
        row(
            "CPU per lesson run (vs seven-op run: what is ours)",
            new.lesson_cpu_s,
            "CPU-s",
            new.seven_op_cpu_s,
        ),
        row("CPU per lesson run (vs before)", new.lesson_cpu_s, "CPU-s", old.lesson_cpu_s),
        row("CPU per one-op run (vs before)", new.one_op_cpu_s, "CPU-s", old.one_op_cpu_s),
        row(
            "code server own CPU per run (vs before)",
            new.code_server_cpu_s,
            "CPU-s",
            old.code_server_cpu_s,
        ),
        row(
            "busy slots, mean while busy (vs before)",
            new.busy_mean,
            "runs",
            old.busy_mean,
            "<= 5 (max_concurrent_runs)",
        ),
        row("busy slots, peak (vs before)", new.busy_peak, "runs", old.busy_peak),
        row(
            f"{BATCH_LESSONS} lessons as single runs (vs before)",
            new.single_runs_s,
            "s",
            old.single_runs_s,
        ),
        row(
            f"{BATCH_LESSONS} lessons as 1 batch run (vs single runs)",
            new.batch_s,
            "s",
            new.single_runs_s,
            "ratio <= 0.1",
        ),
        row("idle RSS (vs before)", new.idle_rss_mib, "MiB", old.idle_rss_mib, "<= 600 MiB"),
        row("peak RSS during drain (vs before)", new.peak_rss_mib, "MiB", old.peak_rss_mib),
        row(
            "machine load average at drain end (vs before)",
            new.load_average,
            "1 min",
            old.load_average,
            f"< {os.cpu_count()} (cores): else figures are shared",
        ),
    ]


def run() -> list[BenchRow]:
    unknown = sorted(set(VARIANT_NAMES) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown BENCH_RUNS_VARIANTS: {unknown}; known: {sorted(VARIANTS)}")
    names = list(dict.fromkeys(VARIANT_NAMES))
    baseline = names[0]
    measured = {}
    for name in names:
        started = time.monotonic()
        measured[name] = measure(name)
        print(f"[bench] runs: {name} took {time.monotonic() - started:.0f}s", flush=True)
    return [
        row
        for name in names
        for row in variant_rows(name, measured[name], measured[baseline], baseline)
    ]


if __name__ == "__main__":
    for bench_row in run():
        print(bench_row)

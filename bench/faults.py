"""Jobs survive infrastructure faults on the REAL stack (loopback only, bounded).

The stack of ``tests/e2e/real_stack.py`` (Postgres with the production ``dagster.yaml``, Dagster
webserver + daemon, the shim), its Postgres connection through a TCP proxy on 127.0.0.1.
``SUBMISSIONS`` jobs (dry runs without TTS, each of its own lesson copy) are posted at
``IN_FLIGHT`` at a time; half-way through, Postgres is cut for ``CUT_SECONDS`` (the second half is
posted during the cut), and after it comes back the daemon is killed (SIGKILL) and started again.
Every accepted job is polled through ``GET /jobs/{id}`` from its 202 until it is terminal.

Printed: accepted, terminal, succeeded, lost (accepted and not succeeded), duplicated (more than
one successful run per job id), backwards state transitions observed, runs of rejected
submissions (a 5xx must leave none), and POST p99 during the cut against POST p99 before it.
``BENCH_FAULTS_SUBMISSIONS`` and ``BENCH_FAULTS_CUT_SECONDS`` shrink the run on a busy machine.
"""

import asyncio
import os
import shutil
import signal
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import BenchRow, percentile
from tests.conftest import VALID_LESSONS
from tests.e2e.job_observer import JobObserver, Observed
from tests.e2e.real_stack import PG_PORT, RealStack, postgres_database, running_stack
from tests.e2e.tcp_proxy import TcpProxy

SUBMISSIONS = int(os.environ.get("BENCH_FAULTS_SUBMISSIONS", "200"))
CUT_SECONDS = float(os.environ.get("BENCH_FAULTS_CUT_SECONDS", "60"))
IN_FLIGHT = 20
POST_TIMEOUT_S = 60.0
DAEMON_KILL_AFTER_RESTORE_S = 10.0
DRAIN_TIMEOUT_S = 1200.0
JOB_OPTIONS: dict[str, Any] = {"dryRun": True, "withTts": False}

API_RUNS = """
{
  runsOrError(filter: {tags: [{key: "esl/source", value: "api"}]}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""


@dataclass
class Posted:
    """What the submissions got: latencies (ms), answers, and the jobs accepted."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: list[Observed] = field(default_factory=list)


async def post_all(api_url: str, names: list[str], observer: JobObserver, posted: Posted) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT)
    async with httpx.AsyncClient(
        base_url=api_url, timeout=POST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:

        async def one(name: str) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    response = await client.post("/jobs", json={"md": name, **JOB_OPTIONS})
                except httpx.HTTPError:
                    posted.statuses[0] += 1
                    return
                finally:
                    posted.latencies_ms.append((time.perf_counter() - started) * 1000)
            posted.statuses[response.status_code] += 1
            if response.status_code == 202:
                job = Observed(str(response.json()["jobId"]))
                posted.accepted.append(job)
                observer.add(job)

        await asyncio.gather(*(one(name) for name in names))


def restart_daemon(stack: RealStack) -> None:
    """SIGKILL the daemon (only its own process) and start it again, as a supervisor would."""
    daemon = next(proc for proc in stack.procs if proc.name == "dagster-daemon")
    assert daemon.process is not None
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.process.wait()
    daemon.start(stack.env, stack.config.workdir)


def run_counts(stack: RealStack, accepted: set[str]) -> tuple[int, int]:
    """Job ids with more than one successful run, and runs of job ids never accepted."""
    runs = stack.graphql(API_RUNS)["runsOrError"]["results"]
    successes: Counter[str] = Counter()
    orphans = 0
    for run in runs:
        job_id = next(tag["value"] for tag in run["tags"] if tag["key"] == "esl/job_id")
        if job_id not in accepted:
            orphans += 1
        elif run["status"] == "SUCCESS":
            successes[job_id] += 1
    return sum(1 for count in successes.values() if count > 1), orphans


def _measure(stack: RealStack, proxy: TcpProxy) -> list[BenchRow]:
    names = [f"./lessons/faults-{index:03d}.md" for index in range(SUBMISSIONS)]
    half = SUBMISSIONS // 2
    observer = JobObserver(stack.api_url, in_flight=IN_FLIGHT)
    observer.start()
    before, during = Posted(), Posted()
    asyncio.run(post_all(stack.api_url, names[:half], observer, before))
    proxy.cut()
    cut_started = time.monotonic()
    try:
        asyncio.run(post_all(stack.api_url, names[half:], observer, during))
        time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_started)))
    finally:
        proxy.restore()
    time.sleep(DAEMON_KILL_AFTER_RESTORE_S)
    restart_daemon(stack)
    drain_started = time.monotonic()
    observer.wait(DRAIN_TIMEOUT_S)
    drain_seconds = time.monotonic() - drain_started

    jobs = before.accepted + during.accepted
    finals = Counter(job.states[-1] if job.states else "never seen" for job in jobs)
    terminal = sum(1 for job in jobs if job.terminal)
    backwards = sum(len(job.backwards()) for job in jobs)
    duplicated, orphans = run_counts(stack, {job.job_id for job in jobs})
    rejected = sum(count for status, count in during.statuses.items() if status != 202)
    p99_before = percentile(before.latencies_ms, 0.99)
    p99_during = percentile(during.latencies_ms, 0.99)
    accepted = len(jobs)
    return [
        BenchRow("faults.submitted", SUBMISSIONS, "count"),
        BenchRow("faults.accepted_202", accepted, "count"),
        BenchRow("faults.rejected_during_cut", rejected, "count"),
        BenchRow("faults.terminal", terminal, "count", target=f"== {accepted} (accepted)"),
        BenchRow("faults.succeeded", finals["succeeded"], "count", target=f"== {accepted}"),
        BenchRow("faults.lost", accepted - finals["succeeded"], "count", target="0 lost"),
        BenchRow("faults.duplicated", duplicated, "count", target="0 duplicated"),
        BenchRow("faults.backwards", backwards, "count", target="0 backwards"),
        BenchRow("faults.runs_of_rejected_posts", orphans, "count", target="0"),
        BenchRow("faults.cut", CUT_SECONDS, "s"),
        BenchRow("faults.drain_after_daemon_restart", drain_seconds, "s"),
        BenchRow(
            "faults.post_p99_during_cut",
            p99_during,
            "ms",
            baseline=p99_before,
            ratio=p99_during / p99_before if p99_before else None,
        ),
        BenchRow("faults.post_p50_before_cut", statistics.median(before.latencies_ms), "ms"),
    ]


def run() -> list[BenchRow]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    try:
        lessons = workdir / "lessons"
        lessons.mkdir()
        for index in range(SUBMISSIONS):
            lesson = VALID_LESSONS[index % len(VALID_LESSONS)]
            shutil.copyfile(lesson, lessons / f"faults-{index:03d}.md")
        with TcpProxy(PG_PORT) as proxy, postgres_database("esl_bench_faults") as database:
            url = f"postgresql+psycopg2://postgres@127.0.0.1:{proxy.port}/{database}"
            env = {"DAGSTER_PG_URL": url}
            with running_stack(workdir, database=database, extra_env=env) as stack:
                return _measure(stack, proxy)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(row)

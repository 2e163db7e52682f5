"""Infrastructure faults on the real stack never fail a job, duplicate it or move it backwards.

The stack's Postgres connection goes through a TCP proxy on 127.0.0.1 that the test cuts and
restores; a run worker is killed with SIGKILL, found by its run id. Jobs run in the embedded
preview mode (no Notion token: the payloads are written next to the manifest), so every failure
seen here comes from the injected fault. Each job is polled through ``GET /jobs/{id}`` for its
whole life, and its runs are read from Dagster afterwards.
"""

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import VALID_LESSONS
from tests.e2e.job_observer import JobObserver, Observed
from tests.e2e.real_stack import (
    PG_PORT,
    RealStack,
    postgres_database,
    processes_with_marker,
    running_stack,
)
from tests.e2e.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

CUT_SECONDS = 18.0
RECOVERY_DEADLINE_S = 300.0
WORKER_DEADLINE_S = 60.0
STARTED_PROCESS = re.compile(r"Started process for run \(pid: (\d+)\)")
RUN_ENGINE_EVENTS = """
query RunEngineEvents($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on EngineEvent { message } } }
  }
}
"""
CUT_JOBS = 3
SHOWN_TAG_PREFIXES = ("dagster/failure_reason", "dagster/will_retry", "dagster/retry", "esl/")


@pytest.fixture(scope="module")
def proxy() -> Iterator[TcpProxy]:
    with TcpProxy(PG_PORT) as started:
        yield started


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e-faults")
    (root / "lessons").mkdir()
    return root


@pytest.fixture(scope="module")
def stack(proxy: TcpProxy, workdir: Path) -> Iterator[RealStack]:
    """The real stack, reaching Postgres only through ``proxy`` (no external service is set)."""
    with postgres_database("esl_faults") as database:
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{proxy.port}/{database}"
        with running_stack(workdir, database=database, extra_env={"DAGSTER_PG_URL": url}) as real:
            yield real


def submit(stack: RealStack, workdir: Path, name: str, **options: Any) -> Observed:
    lesson = VALID_LESSONS[len(name) % len(VALID_LESSONS)]
    shutil.copyfile(lesson, workdir / "lessons" / f"{name}.md")
    response = httpx.post(
        f"{stack.api_url}/jobs",
        json={"md": f"./lessons/{name}.md", "withTts": False, **options},
        timeout=30.0,
        trust_env=False,
    )
    assert response.status_code == 202, response.text
    return Observed(str(response.json()["jobId"]))


RUNS_OF_JOB = """
query RunsOfJob($value: String!) {
  runsOrError(filter: {tags: [{key: "esl/job_id", value: $value}]}) {
    __typename
    ... on Runs { results { runId status tags { key value } } }
    ... on PythonError { message }
  }
}
"""


def runs_of(stack: RealStack, job_id: str) -> list[dict[str, Any]]:
    """Every run of the job, newest first (the webserver's answer in full when it is not 200)."""
    response = httpx.post(
        stack.graphql_url,
        json={"query": RUNS_OF_JOB, "variables": {"value": job_id}},
        timeout=30.0,
        trust_env=False,
    )
    assert response.status_code == 200, f"GraphQL {response.status_code}: {response.text}"
    result = response.json()["data"]["runsOrError"]
    assert result["__typename"] == "Runs", result
    runs: list[dict[str, Any]] = result["results"]
    return runs


def successful_runs(stack: RealStack, job_id: str) -> list[str]:
    return [run["runId"] for run in runs_of(stack, job_id) if run["status"] == "SUCCESS"]


def describe(stack: RealStack, job: Observed) -> str:
    """What a failed check prints: the states seen, the last body and every run of the job."""
    lines = [f"job {job.job_id}: states {job.states}, last body {job.last}"]
    for run in runs_of(stack, job.job_id):
        tags = {tag["key"]: tag["value"] for tag in run["tags"]}
        shown = {key: value for key, value in tags.items() if key.startswith(SHOWN_TAG_PREFIXES)}
        lines.append(f"  run {run['runId']} {run['status']} {shown}")
    return "\n".join(lines)


def check_finished_once(stack: RealStack, jobs: list[Observed]) -> None:
    """Every job succeeded exactly once and was never seen moving backwards."""
    wrong = [
        job
        for job in jobs
        if not job.terminal
        or job.states[-1] != "succeeded"
        or job.backwards()
        or successful_runs(stack, job.job_id) != [job.last["runId"]]
    ]
    if wrong:
        details = "\n".join(describe(stack, job) for job in wrong)
        pytest.fail(
            f"{len(wrong)} of {len(jobs)} jobs broke an invariant:\n{details}\n{stack.log_tail(40)}"
        )


def test_a_postgres_outage_delays_jobs_and_fails_none(
    stack: RealStack, proxy: TcpProxy, workdir: Path
) -> None:
    jobs = [submit(stack, workdir, f"cut-{index}") for index in range(CUT_JOBS)]
    observer = JobObserver(stack.api_url, jobs)
    observer.start()
    time.sleep(2.0)  # some jobs queued, some running
    proxy.cut()
    try:
        time.sleep(CUT_SECONDS)
    finally:
        proxy.restore()
    observer.wait(RECOVERY_DEADLINE_S)
    check_finished_once(stack, jobs)


def run_worker_pid(stack: RealStack, run_id: str) -> int | None:
    """The pid of the process executing ``run_id``, from the engine event its worker writes once
    it started ("Started process for run (pid: N)."), when that process is one of the stack's."""
    result = stack.graphql(RUN_ENGINE_EVENTS, {"runId": run_id})["logsForRun"]
    if result["__typename"] != "EventConnection":
        return None
    for event in result["events"]:
        found = STARTED_PROCESS.search(event.get("message") or "")
        if found and int(found.group(1)) in processes_with_marker(stack.marker):
            return int(found.group(1))
    return None


def started_run(stack: RealStack, job_id: str) -> tuple[str, int]:
    """The job's run id and its worker's pid, once the run executes its ops."""
    deadline = time.monotonic() + WORKER_DEADLINE_S
    while time.monotonic() < deadline:
        runs = runs_of(stack, job_id)
        if runs and runs[0]["status"] == "STARTED":
            pid = run_worker_pid(stack, runs[0]["runId"])
            if pid is not None:
                return str(runs[0]["runId"]), pid
        time.sleep(0.1)
    raise AssertionError(f"no run worker found for {job_id}\n{stack.diagnose(job_id)}")


def test_a_killed_run_worker_is_retried_and_the_manifest_names_the_retry(
    stack: RealStack, workdir: Path
) -> None:
    (job,) = jobs = [submit(stack, workdir, "killed", withTts=True)]
    observer = JobObserver(stack.api_url, jobs)
    observer.start()
    killed_run_id, pid = started_run(stack, job.job_id)
    os.kill(pid, signal.SIGKILL)
    observer.wait(RECOVERY_DEADLINE_S)
    check_finished_once(stack, jobs)

    retry_run_id = job.last["runId"]
    assert retry_run_id != killed_run_id
    manifest = json.loads(Path(job.last["manifestPath"]).read_text(encoding="utf-8"))
    assert manifest["runId"] == retry_run_id and manifest["jobId"] == job.job_id
    stage_runs = {name: record["runId"] for name, record in manifest["stages"].items()}
    assert set(stage_runs.values()) <= {killed_run_id, retry_run_id}
    assert retry_run_id in stage_runs.values()

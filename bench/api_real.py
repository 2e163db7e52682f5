"""Load test of ``/jobs`` on the REAL stack (loopback only, bounded): Postgres with the production
``dagster.yaml``, Dagster webserver + daemon, the shim under uvicorn (``tests/e2e/real_stack.py``).

200 submissions at 20 in flight, each a dry run without TTS (cheap, side-effect free) of its own
lesson copy (distinct ``esl/lesson_key``, so the queue may run five at once). Checked: every
submission answered 202, job ids unique, exactly one run per job id (GraphQL), every job terminal
through ``GET /jobs/{id}`` after the queue drained (bounded wait; the drain time is reported: on
two cores each run costs about 2 CPU-seconds, so 200 runs take minutes, not seconds).

Baseline in the same run, under the same load (the submitted runs are executing meanwhile): 200
bare GraphQL ``launchRun`` calls, same document, selector and run config, at 20 in flight. They
all share one lesson key, so at most one of them executes; the ones still queued are then
canceled, and only the shim's jobs are drained.
"""

import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from api_shim.dagster_gateway import LAUNCH_RUN, TERMINATE_RUN
from bench.common import BenchRow, percentile, timed_posts
from tests.conftest import VALID_LESSONS
from tests.e2e.real_stack import (
    TERMINAL_STATES,
    RealStack,
    postgres_database,
    running_stack,
)

SUBMISSIONS = 200
IN_FLIGHT = 20
DRAIN_TIMEOUT_S = 900.0
DRAIN_POLL_S = 2.0
JOB_OPTIONS: dict[str, Any] = {"dryRun": True, "withTts": False}
BARE_LESSON_KEY = "bench-bare-launch"

RUN_COUNT = """
query RunCount($statuses: [RunStatus!]) {
  runsOrError(filter: {tags: [{key: "esl/source", value: "api"}], statuses: $statuses}) {
    __typename
    ... on Runs { count }
  }
}
"""

API_RUNS = """
{
  runsOrError(filter: {tags: [{key: "esl/source", value: "api"}]}) {
    __typename
    ... on Runs { results { runId tags { key value } } }
  }
}
"""


async def _get_all(url: str, paths: list[str]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, trust_env=False) as client:

        async def one(path: str) -> httpx.Response:
            async with gate:
                return await client.get(path)

        return list(await asyncio.gather(*(one(path) for path in paths)))


def _bare_launch(workdir: Path, index: int) -> dict[str, Any]:
    """What the shim sends for a dry run without TTS, as one bare GraphQL request."""
    config = {"md": str(workdir / "lessons" / "bare.md"), "dry_run": True, "with_tts": False}
    tags = {
        "esl/job_id": str(uuid.uuid4()),
        "esl/lesson_key": BARE_LESSON_KEY,
        "esl/source": "bench",
        "esl/submitted_at": f"{time.time():.3f}",
        "esl/request_id": f"bare-{index}",
    }
    return {
        "query": LAUNCH_RUN,
        "variables": {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": "esl_dagster",
                    "repositoryName": "__repository__",
                    "jobName": "lesson_job",
                },
                "runConfigData": {"ops": {"validate_lesson": {"config": config}}},
                "executionMetadata": {
                    "tags": [{"key": key, "value": value} for key, value in tags.items()]
                },
            }
        },
    }


def _launched_run_id(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    result = response.json().get("data", {}).get("launchRun", {})
    return result["run"]["runId"] if result.get("__typename") == "LaunchRunSuccess" else None


def _api_run_count(stack: RealStack, statuses: list[str] | None) -> int:
    result = stack.graphql(RUN_COUNT, {"statuses": statuses})["runsOrError"]
    return int(result["count"])


def _drain(stack: RealStack, expected: int) -> float:
    """Seconds until ``expected`` API runs are finished (or DRAIN_TIMEOUT_S), counted from the
    end of the baseline phase; runs were already executing during both submission phases."""
    started = time.monotonic()
    done = ["SUCCESS", "FAILURE", "CANCELED"]
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        if _api_run_count(stack, done) >= expected:
            break
        time.sleep(DRAIN_POLL_S)
    return time.monotonic() - started


def _measure(stack: RealStack, workdir: Path) -> list[BenchRow]:
    jobs_url = f"{stack.api_url}/jobs"
    # Warm both paths once (first-use costs); the warm-up job counts among the API runs.
    asyncio.run(timed(jobs_url, [{"md": "./lessons/warm.md", **JOB_OPTIONS}]))
    asyncio.run(timed(stack.graphql_url, [_bare_launch(workdir, -1)]))

    bodies = [{"md": f"./lessons/bench-{i:03d}.md", **JOB_OPTIONS} for i in range(SUBMISSIONS)]
    submit_started = time.monotonic()
    shim_ms, responses = asyncio.run(timed(jobs_url, bodies))
    submit_seconds = time.monotonic() - submit_started
    accepted = [r for r in responses if r.status_code == 202]
    job_ids = [str(r.json()["jobId"]) for r in accepted]

    bare_ms, bare_responses = asyncio.run(
        timed(stack.graphql_url, [_bare_launch(workdir, i) for i in range(SUBMISSIONS)])
    )
    bare_ids = [run_id for r in bare_responses if (run_id := _launched_run_id(r))]
    asyncio.run(
        timed(
            stack.graphql_url,
            [{"query": TERMINATE_RUN, "variables": {"runId": run_id}} for run_id in bare_ids],
        )
    )

    drain_seconds = _drain(stack, expected=len(job_ids) + 1)
    submit_to_drained = time.monotonic() - submit_started
    finals = asyncio.run(_get_all(stack.api_url, [f"/jobs/{job_id}" for job_id in job_ids]))
    states = Counter(r.json()["state"] if r.status_code == 200 else "missing" for r in finals)
    terminal = sum(count for state, count in states.items() if state in TERMINAL_STATES)

    runs = stack.graphql(API_RUNS)["runsOrError"]["results"]
    runs_per_job = Counter(
        tag["value"] for run in runs for tag in run["tags"] if tag["key"] == "esl/job_id"
    )
    exactly_one = sum(1 for job_id in job_ids if runs_per_job[job_id] == 1)

    p50, p99 = statistics.median(shim_ms), percentile(shim_ms, 0.99)
    bare_p50, bare_p99 = statistics.median(bare_ms), percentile(bare_ms, 0.99)
    target = f"== {SUBMISSIONS}"
    return [
        BenchRow("api_real.submit.accepted_202", len(accepted), "count", target=target),
        BenchRow("api_real.submit.unique_job_ids", len(set(job_ids)), "count", target=target),
        BenchRow("api_real.jobs.exactly_one_run", exactly_one, "count", target=target),
        BenchRow("api_real.jobs.terminal", terminal, "count", target=target),
        BenchRow("api_real.jobs.succeeded", states["succeeded"], "count", target=target),
        BenchRow("api_real.bare_launch.succeeded", len(bare_ids), "count", target=target),
        BenchRow("api_real.submit.wall", submit_seconds, "s"),
        BenchRow(
            "api_real.drain.wall",
            drain_seconds,
            "s",
            target=f"<= {DRAIN_TIMEOUT_S:.0f} (bounded wait)",
        ),
        BenchRow(
            "api_real.jobs_per_min",
            60 * terminal / submit_to_drained,
            "1/min",
            target=">= 40 runs/min on 2 cores",
        ),
        BenchRow("api_real.submit.p50", p50, "ms", baseline=bare_p50, ratio=p50 / bare_p50),
        BenchRow(
            "api_real.submit.p99",
            p99,
            "ms",
            baseline=bare_p99,
            ratio=p99 / bare_p99,
            target="ratio <= 1.15",
        ),
    ]


def run() -> list[BenchRow]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-real-"))
    try:
        lessons = workdir / "lessons"
        lessons.mkdir()
        names = ["warm", "bare", *(f"bench-{i:03d}" for i in range(SUBMISSIONS))]
        for index, name in enumerate(names):
            shutil.copyfile(VALID_LESSONS[index % len(VALID_LESSONS)], lessons / f"{name}.md")
        with (
            postgres_database("esl_bench") as database,
            running_stack(workdir, database=database, extra_env={}) as stack,
        ):
            return _measure(stack, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(row)


async def timed(url: str, bodies: list[dict[str, Any]]) -> tuple[list[float], list[httpx.Response]]:
    return await timed_posts(url, bodies, in_flight=IN_FLIGHT, timeout=60.0)

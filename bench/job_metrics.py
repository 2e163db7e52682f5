"""Cost of the job metrics behind `/metrics`, against the fake Dagster GraphQL endpoint.

A history of finished `lesson_job` runs (seven steps each, with output metadata and counters) and
a few unfinished runs. Measured: the first refresh (reads and folds the whole history), a steady
refresh (nothing new: only the runs behind the horizon are listed again) and a refresh after ten
more runs finished. Baseline measured in the same run: one bare `runsOrError` query of the whole
history, what a collector without a horizon or a fold cache would repeat on every scrape (before
even reading any run's events).
"""

import asyncio
import time

import httpx

from api_shim.job_metrics import JobMetricsCollector
from api_shim.job_metrics_queries import METRICS_RUNS
from bench.common import BenchRow
from tests.fakes.dagster_graphql import FakeDagster

HISTORY = 300
UNFINISHED = 10
STEPS = ("validate", "import", "colorize", "tts", "upload", "add-audio", "manifest")
COUNTERS = [
    {"metric": "esl.external.requests", "tags": {"service": "notion", "status": "200"}, "value": 3}
]


def _finished_run(fake: FakeDagster, created: float) -> None:
    run = fake.add_run(job_id=f"job-{created}", status="SUCCESS", creation_time=created)
    fake.update_run(run["runId"], start_time=created + 1, end_time=created + 20)
    for index, stage in enumerate(STEPS):
        step_key = f"step_{index}"
        start = created + 1 + index
        fake.set_step(run["runId"], step_key, "SUCCESS", start_time=start, end_time=start + 1)
        fake.add_output(
            run["runId"],
            step_key,
            {
                "stage": ("text", stage),
                "status": ("text", "success"),
                "esl/counters": ("json", COUNTERS),
            },
        )


async def _timed_refresh(collector: JobMetricsCollector) -> float:
    started = time.perf_counter()
    await collector.refresh()
    return time.perf_counter() - started


async def _measure(fake: FakeDagster) -> dict[str, float]:
    now = time.time()
    clock = iter(now + 60.0 * i for i in range(10))
    async with httpx.AsyncClient(timeout=60.0) as client:
        started = time.perf_counter()
        await client.post(
            fake.url,
            json={
                "query": METRICS_RUNS,
                "variables": {"filter": {"pipelineName": "lesson_job"}, "limit": HISTORY + 100},
            },
        )
        baseline = time.perf_counter() - started
        collector = JobMetricsCollector(
            client, fake.url, job="lesson_job", fold_limit=HISTORY + 100, clock=lambda: next(clock)
        )
        cold = await _timed_refresh(collector)
        steady = await _timed_refresh(collector)
        for i in range(10):
            _finished_run(fake, now + 1.0 + i)
        incremental = await _timed_refresh(collector)
    return {"baseline": baseline, "cold": cold, "steady": steady, "incremental": incremental}


def run() -> list[BenchRow]:
    with FakeDagster() as fake:
        base = time.time() - 10 * 86400.0
        for i in range(HISTORY):
            _finished_run(fake, base + 60.0 * i)
        for i in range(UNFINISHED):
            fake.add_run(job_id=f"open-{i}", status="QUEUED", creation_time=time.time() - i)
        figures = asyncio.run(_measure(fake))
    baseline = figures["baseline"]
    return [
        BenchRow(
            f"first refresh, {HISTORY} finished runs",
            figures["cold"],
            "s",
            baseline,
            figures["cold"] / baseline,
            "once per shim start",
        ),
        BenchRow(
            "steady refresh (nothing new)",
            figures["steady"],
            "s",
            baseline,
            figures["steady"] / baseline,
            "< 0.5x the bare history query",
        ),
        BenchRow(
            "refresh after 10 runs finished",
            figures["incremental"],
            "s",
            baseline,
            figures["incremental"] / baseline,
            "< 1x the bare history query",
        ),
    ]

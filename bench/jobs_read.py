"""Reading jobs through the shim: `GET /jobs/{jobId}` of a finished job (seven stages with their
output metadata) and a `GET /jobs` page of 20 such jobs, in process against the fake Dagster
GraphQL endpoint. Baseline measured in the same run: the same GraphQL queries sent straight to the
fake (what the shim cannot avoid); the ratio is the shim's own cost on top.
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from api_shim.core.config import Settings
from api_shim.dagster_gateway import job_runs_document, run_events_document
from api_shim.job_steps import STAGE_OPS
from api_shim.main import create_app
from bench.common import BenchRow
from tests.fakes.dagster_graphql import FakeDagster

JOBS = 20
REPEAT = 60
T0 = 1_738_315_300.0
# The shim's own cost (value - baseline) per request, in-process client included.
TARGET = "value - baseline < 10 ms"


def _finished_job(fake: FakeDagster, index: int) -> tuple[str, str]:
    job_id = f"00000000-0000-4000-8000-{index:012d}"
    run = fake.add_run(job_id=job_id, status="QUEUED", creation_time=T0 + index)
    run_id = str(run["runId"])
    for offset, (stage, op) in enumerate(STAGE_OPS):
        fake.set_step(run_id, op, "SUCCESS", start_time=T0 + offset, end_time=T0 + offset + 1)
        meta = {"status": ("text", "success"), "stage_duration_ms": ("float", 12.5)}
        if stage in ("import", "add-audio"):
            meta["notion_page"] = ("url", f"https://www.notion.so/page-{index}")
        fake.add_output(run_id, op, meta)
    fake.update_run(run_id, status="SUCCESS", start_time=T0, end_time=T0 + 8)
    return job_id, run_id


def _median_ms(call: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _graphql(client: httpx.Client, url: str, document: str, variables: dict[str, object]) -> None:
    response = client.post(url, json={"query": document, "variables": variables})
    response.raise_for_status()


def run() -> list[BenchRow]:
    with FakeDagster() as fake, tempfile.TemporaryDirectory() as cwd:
        jobs = [_finished_job(fake, index) for index in range(JOBS)]
        job_id, run_id = jobs[0]
        settings = Settings(
            dagster_graphql_url=fake.url,
            pipeline_cwd=Path(cwd),
            idempotency_db=Path(cwd) / "idempotency.sqlite3",
        )
        job_filter = {"tags": [{"key": "esl/job_id", "value": job_id}]}
        with TestClient(create_app(settings)) as api, httpx.Client(trust_env=False) as raw:
            one = _median_ms(lambda: api.get(f"/jobs/{job_id}").raise_for_status())
            one_base = _median_ms(
                lambda: (
                    _graphql(raw, fake.url, job_runs_document(1), {"f0": job_filter, "limit": 20}),
                    _graphql(raw, fake.url, run_events_document(1), {"r0": run_id, "a0": None}),
                )
            )
            page = _median_ms(lambda: api.get("/jobs", params={"limit": JOBS}).raise_for_status())
            filters = {
                f"f{i}": {"tags": [{"key": "esl/job_id", "value": j}]}
                for i, (j, _) in enumerate(jobs)
            }
            events = {}
            for i, (_, rid) in enumerate(jobs):
                events[f"r{i}"], events[f"a{i}"] = rid, None
            page_base = _median_ms(
                lambda: (
                    _graphql(raw, fake.url, job_runs_document(JOBS), {**filters, "limit": 20}),
                    _graphql(raw, fake.url, run_events_document(JOBS), events),
                )
            )
    return [
        BenchRow("GET /jobs/{id} (7 stages) p50", one, "ms", one_base, one / one_base, TARGET),
        BenchRow(f"GET /jobs page of {JOBS} p50", page, "ms", page_base, page / page_base, TARGET),
    ]

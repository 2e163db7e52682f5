"""Load test of the /jobs shim on loopback: 200 submissions at 20 in flight, against uvicorn in a
subprocess backed by the fake Dagster GraphQL endpoint. Baseline measured in the same run: the
same number of bare GraphQL `launchRun` calls to the same fake at the same concurrency.

The real-Dagster variant (webserver + daemon + Postgres) is a separate, later benchmark.
"""

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from api_shim.dagster_gateway import LAUNCH_RUN
from bench.common import BenchRow, percentile, timed_posts
from tests.conftest import REPO_ROOT, VALID_LESSONS
from tests.fakes.dagster_graphql import FakeDagster

SUBMISSIONS = 200
IN_FLIGHT = 20
STARTUP_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not become ready")


def _launch_variables(fake: FakeDagster, index: int) -> dict[str, object]:
    return {
        "query": LAUNCH_RUN,
        "variables": {
            "executionParams": {
                "selector": {
                    "repositoryLocationName": fake.location,
                    "repositoryName": fake.repository,
                    "jobName": fake.job,
                },
                "runConfigData": {"ops": {"validate_lesson": {"config": {"md": "x.md"}}}},
                "executionMetadata": {"tags": [{"key": "esl/job_id", "value": f"bare-{index}"}]},
            }
        },
    }


def run() -> list[BenchRow]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    (workdir / "lessons").mkdir()
    shutil.copy(VALID_LESSONS[0], workdir / "lessons" / "mission.md")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeDagster() as fake:
        env = {
            **os.environ,
            "ESL_DAGSTER_GRAPHQL_URL": fake.url,
            "PIPELINE_CWD": str(workdir),
            "ESL_API_IDEMPOTENCY_DB": str(workdir / "idempotency.sqlite3"),
            "ESL_API_KEYS": "",
        }
        command = [sys.executable, "-m", "uvicorn", "api_shim.main:app"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        command += ["--log-level", "warning"]
        log = (workdir / "uvicorn.log").open("wb")  # a pipe nobody drains would block uvicorn
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            _wait_ready(base, process)
            # Warm both paths once so neither side pays for first-use costs.
            asyncio.run(timed(f"{base}/jobs", [{"md": "./lessons/mission.md"}]))
            asyncio.run(timed(fake.url, [_launch_variables(fake, -1)]))
            warm_launches = len(fake.launches)

            bodies: list[dict[str, object]] = [
                {"md": "./lessons/mission.md"} for _ in range(SUBMISSIONS)
            ]
            shim_ms, responses = asyncio.run(timed(f"{base}/jobs", bodies))
            accepted = sum(1 for r in responses if r.status_code == 202)
            job_ids = {r.json()["jobId"] for r in responses if r.status_code == 202}
            launched = len(fake.launches) - warm_launches
            tagged = {
                t["value"]
                for launch in fake.launches[warm_launches:]
                for t in launch["executionMetadata"]["tags"]
                if t["key"] == "esl/job_id"
            }

            bare_bodies = [_launch_variables(fake, i) for i in range(SUBMISSIONS)]
            bare_ms, bare_responses = asyncio.run(timed(fake.url, bare_bodies))
            bare_ok = sum(
                1
                for r in bare_responses
                if r.json()["data"]["launchRun"]["__typename"] == "LaunchRunSuccess"
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    shutil.rmtree(workdir, ignore_errors=True)

    p50, p99 = statistics.median(shim_ms), percentile(shim_ms, 0.99)
    bare_p50, bare_p99 = statistics.median(bare_ms), percentile(bare_ms, 0.99)
    return [
        BenchRow("api.submit.accepted_202", accepted, "count", target=f"== {SUBMISSIONS}"),
        BenchRow("api.submit.unique_job_ids", len(job_ids), "count", target=f"== {SUBMISSIONS}"),
        BenchRow("api.submit.launches_recorded", launched, "count", target=f"== {SUBMISSIONS}"),
        BenchRow(
            "api.submit.launch_tags_match_job_ids",
            float(tagged == job_ids),
            "bool",
            target="== 1",
        ),
        BenchRow("api.bare_launch.succeeded", bare_ok, "count", target=f"== {SUBMISSIONS}"),
        BenchRow("api.submit.p50", p50, "ms", baseline=bare_p50, ratio=p50 / bare_p50),
        BenchRow(
            "api.submit.p99",
            p99,
            "ms",
            baseline=bare_p99,
            ratio=p99 / bare_p99,
            target="ratio <= 1.15",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)


async def timed(url: str, bodies: list[dict[str, Any]]) -> tuple[list[float], list[httpx.Response]]:
    return await timed_posts(url, bodies, in_flight=IN_FLIGHT, timeout=30.0)

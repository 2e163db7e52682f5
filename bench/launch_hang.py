"""POST /jobs latency while the Dagster webserver hangs: 40 submissions at 10 in flight against the
shim under uvicorn, backed by the fake GraphQL endpoint whose `launchRun` and `runsOrError` hold
every answer for 30 s (the launch is recorded, as by a webserver that resumes later). Baseline
measured in the same run: the same submissions with a responsive fake. Target: p99 within 5 s
(`ESL_LAUNCH_BUDGET_SECONDS` = 4 s by default) and every launch decided: 202 or abandoned.
"""

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.api import _free_port, _wait_ready
from bench.common import BenchRow, percentile, timed_posts
from tests.conftest import REPO_ROOT, VALID_LESSONS
from tests.fakes.dagster_graphql import FakeDagster

SUBMISSIONS = 40
IN_FLIGHT = 10
HANG_S = 30.0


def _post_all(fake: FakeDagster, workdir: Path, *, hung: bool) -> tuple[list[float], list[int]]:
    """Latencies (ms) and status codes of SUBMISSIONS POSTs to a fresh shim on `fake`."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ESL_DAGSTER_GRAPHQL_URL": fake.url,
        "PIPELINE_CWD": str(workdir),
        "ESL_API_IDEMPOTENCY_DB": str(workdir / f"idempotency-{port}.sqlite3"),
        "ESL_API_KEYS": "",
    }
    env.pop("ESL_IDEMPOTENCY_DSN", None)
    env.pop("DAGSTER_PG_URL", None)
    command = [sys.executable, "-m", "uvicorn", "api_shim.main:app", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    with (workdir / f"uvicorn-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        _wait_ready(base, process)
        fake.launch_delay_s = fake.runs_delay_s = HANG_S if hung else 0.0
        bodies: list[dict[str, object]] = [
            {"md": "./lessons/mission.md"} for _ in range(SUBMISSIONS)
        ]
        latencies, responses = asyncio.run(
            timed_posts(f"{base}/jobs", bodies, in_flight=IN_FLIGHT, timeout=60.0)
        )
    finally:
        fake.launch_delay_s = fake.runs_delay_s = 0.0
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return latencies, [response.status_code for response in responses]


def run() -> list[BenchRow]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-hang-"))
    (workdir / "lessons").mkdir()
    shutil.copy(VALID_LESSONS[0], workdir / "lessons" / "mission.md")
    with FakeDagster() as fake:
        base_ms, _ = _post_all(fake, workdir, hung=False)
        hung_ms, statuses = _post_all(fake, workdir, hung=True)
    shutil.rmtree(workdir, ignore_errors=True)
    p50, p99 = statistics.median(hung_ms), percentile(hung_ms, 0.99)
    base_p50, base_p99 = statistics.median(base_ms), percentile(base_ms, 0.99)
    decided = sum(1 for status in statuses if status in (202, 503))
    return [
        BenchRow("hung.submit.p50", p50, "ms", baseline=base_p50, ratio=p50 / base_p50),
        BenchRow(
            "hung.submit.p99",
            p99,
            "ms",
            baseline=base_p99,
            ratio=p99 / base_p99,
            target="<= 5000",
        ),
        BenchRow("hung.submit.answered_202_or_503", decided, "count", target=f"== {SUBMISSIONS}"),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)

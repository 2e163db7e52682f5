"""Live job events (`GET /jobs/events`) under load, on the fake Dagster GraphQL endpoint.

The shim runs under uvicorn in a subprocess with its shipped settings (poll every 1 s); 50 jobs
go through a run each (start, seven steps, success: 16 changes per job, spread over
`DRIVE_S` seconds) while 20 SSE streams watch all 50 jobs. Measured: events delivered per
second (all streams together), the delay from a change in Dagster to its arrival at a client
(p50/p99), and the GraphQL requests the shim sent Dagster per second.

Baseline, same run, same schedule: 20 clients polling `GET /jobs?limit=50` once a second (plain
polling; the list carries job states but no steps, so its delay covers state changes only).
"""

import asyncio
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.common import BenchRow, percentile
from tests.api.sse import shim_process
from tests.fakes.dagster_graphql import FakeDagster

JOBS = 50
STREAMS = 20
POLL_S = 1.0
DRIVE_S = 12.0
TAIL_S = 20.0  # after the last change, how long clients may take to see everything
STEPS = (
    ("validate_lesson", "validate"),
    ("import_to_notion", "import"),
    ("colorize_page", "colorize"),
    ("synthesize_audio", "tts"),
    ("upload_audio", "upload"),
    ("attach_audio", "add-audio"),
    ("write_manifest", "manifest"),
)
ChangeKey = tuple[str, str, str | None, str | None]  # job, kind, step or state, step status


@dataclass
class Observed:
    """When each change was made (driver) and when clients saw it."""

    made: dict[ChangeKey, float] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)
    received: int = 0
    last_at: float = 0.0


def _drive(fake: FakeDagster, runs: dict[str, str], observed: Observed) -> None:
    """Every job's run: start, seven steps (start, success), success; shuffled over DRIVE_S."""
    plan: list[tuple[float, str, int]] = []
    for job_id in runs:
        offset = random.uniform(0, DRIVE_S / 4)
        plan += [(offset + i * (DRIVE_S * 0.7 / 16), job_id, i) for i in range(16)]
    started = time.monotonic()
    for at, job_id, index in sorted(plan):
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        _apply(fake, runs[job_id], job_id, index, observed)


def _apply(fake: FakeDagster, run_id: str, job_id: str, index: int, observed: Observed) -> None:
    now = time.time()
    if index == 0:
        fake.update_run(run_id, status="STARTED", start_time=now)
        key: ChangeKey = (job_id, "job_state_changed", "running", None)
    elif index == 15:
        fake.update_run(run_id, status="SUCCESS", end_time=now)
        key = (job_id, "job_state_changed", "succeeded", None)
    else:
        op, stage = STEPS[(index - 1) // 2]
        starting = index % 2 == 1
        start = now if starting else observed.made[(job_id, "job_step_changed", stage, "running")]
        if starting:
            fake.set_step(run_id, op, "IN_PROGRESS", start_time=start)
        else:
            fake.set_step(run_id, op, "SUCCESS", start_time=start, end_time=now)
        key = (job_id, "job_step_changed", stage, "running" if starting else "succeeded")
    observed.made[key] = now


async def _follow(base: str, job_ids: list[str], observed: Observed) -> None:
    url = f"{base}/jobs/events?jobId={','.join(job_ids)}"
    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(timeout=timeout, trust_env=False) as client,
        client.stream("GET", url) as response,
    ):
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                _seen(json.loads(line[6:]), kind, observed)


def _seen(data: dict[str, object], kind: str, observed: Observed) -> None:
    now = time.time()
    change = data["change"]
    assert isinstance(change, dict)
    if kind == "job_step_changed":
        key: ChangeKey = (str(data["jobId"]), kind, change["step"], change["stepStatus"])
    else:
        key = (str(data["jobId"]), kind, change["state"], None)
    observed.received += 1
    made = observed.made.get(key)
    if made is not None:
        observed.delays.append(now - made)
        observed.last_at = now


async def _poll(base: str, observed: Observed) -> None:
    """A plain polling client: `GET /jobs?limit=50` every POLL_S; new states count as seen."""
    states: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
        while True:
            response = await client.get(f"{base}/jobs", params={"limit": JOBS})
            for item in response.json()["items"]:
                if states.get(item["jobId"]) != item["state"]:
                    states[item["jobId"]] = item["state"]
                    _seen(
                        {"jobId": item["jobId"], "change": {"state": item["state"]}},
                        "job_state_changed",
                        observed,
                    )
            await asyncio.sleep(POLL_S)


def _phase(fake: FakeDagster, base: str, streaming: bool) -> tuple[Observed, float, float]:
    """Drive 50 jobs while 20 clients watch; (observations, elapsed s, GraphQL requests/s)."""
    runs = {}
    for _ in range(JOBS):
        job_id = str(uuid.uuid4())
        runs[job_id] = fake.add_run(job_id=job_id, status="QUEUED")["runId"]
    observed = Observed()
    expected = STREAMS * JOBS * (16 if streaming else 2)
    deadline = time.time() + POLL_S + DRIVE_S + TAIL_S

    async def clients() -> None:
        if streaming:
            watchers = [_follow(base, list(runs), observed) for _ in range(STREAMS)]
        else:
            watchers = [_poll(base, observed) for _ in range(STREAMS)]
        tasks = [asyncio.create_task(watcher) for watcher in watchers]
        while len(observed.delays) < expected and time.time() < deadline:
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    requests_before = len(fake.requests)
    started = time.time()
    with _background(lambda: asyncio.run(clients())):
        time.sleep(POLL_S)  # every client connected and caught up with the queued jobs
        _drive(fake, runs, observed)
    elapsed = observed.last_at - started
    return observed, elapsed, (len(fake.requests) - requests_before) / elapsed


@contextmanager
def _background(target: Callable[[], None]) -> Iterator[None]:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=DRIVE_S + 30)


def run() -> list[BenchRow]:
    random.seed(13)
    workdir = Path(tempfile.mkdtemp(prefix="bench-events-"))
    (workdir / "lessons").mkdir()
    try:
        with (
            FakeDagster() as fake,
            shim_process(fake.url, workdir, {"ESL_EVENTS_POLL_INTERVAL": str(POLL_S)}) as (base, _),
        ):
            sse, sse_s, sse_rps = _phase(fake, base, streaming=True)
            polled, _, poll_rps = _phase(fake, base, streaming=False)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    changes = JOBS * 16
    sse_ms = [d * 1000 for d in sse.delays]
    poll_ms = [d * 1000 for d in polled.delays]
    sse_p50, poll_p50 = statistics.median(sse_ms), statistics.median(poll_ms)
    sse_p99, poll_p99 = percentile(sse_ms, 0.99), percentile(poll_ms, 0.99)
    delivered_per_s = sse.received / sse_s
    return [
        BenchRow(
            "events.delivered_of_expected",
            len(sse.delays) / (changes * STREAMS),
            "fraction",
            target="== 1 (every change to every stream)",
        ),
        BenchRow("events.delivered_per_s", delivered_per_s, "events/s", target=">= 500"),
        BenchRow(
            "events.delay_p50 (vs polling GET /jobs)",
            sse_p50,
            "ms",
            baseline=poll_p50,
            ratio=sse_p50 / poll_p50,
            target=f"<= {POLL_S * 1000:.0f} (poll interval)",
        ),
        BenchRow(
            "events.delay_p99 (vs polling GET /jobs)",
            sse_p99,
            "ms",
            baseline=poll_p99,
            ratio=sse_p99 / poll_p99,
            target=f"<= {2 * POLL_S * 1000:.0f}",
        ),
        BenchRow(
            "events.graphql_requests_per_s (vs polling)",
            sse_rps,
            "req/s",
            baseline=poll_rps,
            ratio=sse_rps / poll_rps,
            target=f"<= {(2 + JOBS) / POLL_S:.0f} (2 + changed jobs per poll, any number of streams)",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)

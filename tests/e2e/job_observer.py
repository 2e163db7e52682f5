"""Watch jobs through ``GET /jobs/{id}`` for their whole life while faults are injected.

A :class:`JobObserver` is a background thread that polls every job it was given (at most
``in_flight`` requests at once) until all are terminal or it is stopped. An answer other than 200,
or no answer (the fault at work), is not a state: only the states the API actually reported are
recorded, in order, so a backwards transition is one the API really showed a client.
"""

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.real_stack import STATE_RANK, TERMINAL_STATES

POLL_INTERVAL_S = 0.25
GET_TIMEOUT_S = 5.0


@dataclass
class Observed:
    """Every state ``GET /jobs/{id}`` answered for one job, in order, and the last body."""

    job_id: str
    states: list[str] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return bool(self.states) and self.states[-1] in TERMINAL_STATES

    def record(self, body: dict[str, Any]) -> None:
        self.last = body
        if not self.states or self.states[-1] != body["state"]:
            self.states.append(body["state"])

    def backwards(self) -> list[tuple[str, str]]:
        """Every transition to a lower state, or out of a terminal one (never allowed)."""
        return [
            (before, after)
            for before, after in zip(self.states, self.states[1:], strict=False)
            if STATE_RANK[after] < STATE_RANK[before] or before in TERMINAL_STATES
        ]


class JobObserver(threading.Thread):
    def __init__(self, api_url: str, jobs: Iterable[Observed] = (), *, in_flight: int = 8) -> None:
        super().__init__(daemon=True, name="job-observer")
        self.api_url = api_url
        self.in_flight = in_flight
        self._jobs = list(jobs)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._accepting = threading.Event()

    def add(self, job: Observed) -> None:
        """Watch one more job (from the moment its POST was answered)."""
        with self._lock:
            self._jobs.append(job)

    def all_added(self) -> None:
        """No more jobs will come: the thread ends once every job is terminal."""
        self._accepting.set()

    @property
    def jobs(self) -> list[Observed]:
        with self._lock:
            return list(self._jobs)

    def run(self) -> None:
        asyncio.run(self._poll())

    def wait(self, timeout: float) -> None:
        """Block until every job is terminal or ``timeout`` passes, then stop polling."""
        self.all_added()
        self.join(timeout)
        self._stopped.set()
        self.join()

    def _done(self) -> bool:
        return self._accepting.is_set() and all(job.terminal for job in self.jobs)

    async def _poll(self) -> None:
        gate = asyncio.Semaphore(self.in_flight)
        limits = httpx.Limits(max_connections=self.in_flight)
        async with httpx.AsyncClient(
            base_url=self.api_url, timeout=GET_TIMEOUT_S, limits=limits, trust_env=False
        ) as client:

            async def observe(job: Observed) -> None:
                async with gate:
                    try:
                        response = await client.get(f"/jobs/{job.job_id}")
                    except httpx.HTTPError:
                        return
                if response.status_code == 200:
                    job.record(response.json())

            while not self._stopped.is_set() and not self._done():
                started = time.monotonic()
                pending = [job for job in self.jobs if not job.terminal]
                await asyncio.gather(*(observe(job) for job in pending))
                await asyncio.sleep(max(0.0, POLL_INTERVAL_S - (time.monotonic() - started)))

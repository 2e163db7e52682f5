"""One poller per shim process shared by every open event stream.

Each tick reads, in a bounded number of GraphQL calls, the histories of the jobs some stream
watches (and, while a `jobId=*` stream is open, of the jobs whose runs changed recently),
derives their events (`job_events`) and the job resource (the `GET /jobs/{id}` body, once per
changed job), then wakes the streams. A stream owes whatever its `StreamPosition` has not yet
covered; that is the replay of a reconnecting client and the live feed alike. No state outlives
the process: positions travel in the event ids, histories are re-read from Dagster.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.encoders import jsonable_encoder

from api_shim.core.config import Settings
from api_shim.dagster_gateway import DagsterProtocolError, DagsterRun, DagsterUnavailable
from api_shim.event_source import EventSource
from api_shim.job_events import JobEvent, StreamPosition, job_events
from api_shim.job_queries import read_job

logger = logging.getLogger("api_shim.events")

RESOURCE_READS_IN_FLIGHT = 8


class TooManyStreams(Exception):
    pass


@dataclass(frozen=True)
class JobSnapshot:
    events: list[JobEvent]
    resource: dict[str, Any] | None


@dataclass(frozen=True)
class Delivery:
    """One event for one stream: the SSE `id`, `event` and `data` (serialized JSON)."""

    event_id: str
    kind: str
    data: str


@dataclass
class Subscription:
    """An open stream: its jobs (None = every job) and what it has delivered."""

    job_ids: frozenset[str] | None
    position: StreamPosition
    needs_tick: int
    open: bool = True


@dataclass
class _Snapshot:
    tick: int = 0
    jobs: dict[str, JobSnapshot] = field(default_factory=dict)
    floor_ms: int = 0
    # `data` of each (job, event index), serialized once and shared by every stream.
    payloads: dict[tuple[str, int], str] = field(default_factory=dict)

    def payload(self, job_id: str, index: int) -> str:
        key = (job_id, index)
        if key not in self.payloads:
            job = self.jobs[job_id]
            data = {**(job.resource or {}), "change": job.events[index].change()}
            self.payloads[key] = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        return self.payloads[key]


class EventHub:
    def __init__(
        self, source: EventSource, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._source = source
        self._poll_s = settings.events_poll_s
        self._settle_s = settings.events_settle_s
        self._max_streams = settings.events_max_streams
        self._clock = clock
        self._subscriptions: list[Subscription] = []
        self._interest: Counter[str] = Counter()
        self._snapshot = _Snapshot()
        self._ticks_started = 0
        self._scan_since: float | None = None
        self._catch_up: float | None = None
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._notifier: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        """True once the server is stopping: streams end, new ones are refused."""
        return self._stopping

    def stop_streams(self) -> None:
        """End every open stream (called on the loop when the server is told to exit)."""
        self._stopping = True
        self._notifier = asyncio.get_running_loop().create_task(self._notify_all())

    async def _notify_all(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def now(self) -> float:
        return self._clock()

    def open(self, job_ids: frozenset[str] | None, position: StreamPosition) -> Subscription:
        """Register a stream; raises `TooManyStreams` at the per-process cap."""
        if self._stopping or len(self._subscriptions) >= self._max_streams:
            raise TooManyStreams()
        subscription = Subscription(job_ids, position, needs_tick=self._ticks_started + 1)
        self._subscriptions.append(subscription)
        if job_ids is None:
            since = position.watermark_ms / 1000.0
            self._catch_up = since if self._catch_up is None else min(self._catch_up, since)
        else:
            self._interest.update(job_ids)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="event-hub")
        self._wake.set()
        return subscription

    def close(self, subscription: Subscription) -> None:
        """Unregister a stream (idempotent)."""
        if not subscription.open:
            return
        subscription.open = False
        self._subscriptions.remove(subscription)
        if subscription.job_ids is not None:
            self._interest.subtract(subscription.job_ids)
            self._interest += Counter()  # drop ids no stream watches any more

    async def next_batch(self, subscription: Subscription, timeout_s: float) -> list[Delivery]:
        """The events the stream owes after the next tick ([] if none, or if `timeout_s` passed
        first)."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self._stopping or self._snapshot.tick >= subscription.needs_tick
                    ),
                    timeout_s,
                )
        snapshot = self._snapshot
        if self._stopping or snapshot.tick < subscription.needs_tick:
            return []
        subscription.needs_tick = snapshot.tick + 1
        return _owed(subscription, snapshot)

    async def close_all(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            if not self._subscriptions:
                self._wake.clear()
                await self._wake.wait()
            started = time.monotonic()
            try:
                await self._tick()
            except (DagsterUnavailable, DagsterProtocolError) as exc:
                logger.warning("event poll failed", extra={"fields": {"detail": str(exc)}})
            except Exception:
                # The poller must outlive a bad tick: streams wait on it.
                logger.exception("event poll crashed")
            self._wake.clear()
            # Fixed rate: a slow tick shortens the pause instead of adding to it.
            pause = self._poll_s - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(pause, 0.0))

    async def _tick(self) -> None:
        self._ticks_started += 1
        tick = self._ticks_started
        started = self._clock()
        star = any(sub.job_ids is None for sub in self._subscriptions)
        wanted = set(self._interest)
        if star:
            since = started - self._settle_s
            if self._scan_since is not None:
                since = min(since, self._scan_since)
            if self._catch_up is not None:
                since = min(since, self._catch_up)
                self._catch_up = None
            wanted |= await self._source.recently_changed_jobs(since)
            self._scan_since = started - self._settle_s
        else:
            self._scan_since = None
        histories = await self._source.histories(sorted(wanted))
        jobs = await self._updated_jobs(histories)
        floor_ms = int((started - self._settle_s) * 1000) if star else 0
        async with self._changed:
            self._snapshot = _Snapshot(tick, self._retained(jobs, star), floor_ms)
            self._changed.notify_all()

    async def _updated_jobs(
        self, histories: Mapping[str, list[DagsterRun]]
    ) -> dict[str, JobSnapshot]:
        jobs = dict(self._snapshot.jobs)
        changed: list[tuple[str, list[JobEvent]]] = []
        for job_id, runs in histories.items():
            events = job_events(runs)
            known = jobs.get(job_id)
            if known is None or known.events != events or (events and known.resource is None):
                changed.append((job_id, events))
        limit = asyncio.Semaphore(RESOURCE_READS_IN_FLIGHT)

        async def resource(job_id: str) -> dict[str, Any] | None:
            async with limit:
                status = await read_job(self._source.gateway, job_id)
            return None if status is None else dict(jsonable_encoder(status))

        resources = await asyncio.gather(*(resource(job_id) for job_id, _ in changed))
        for (job_id, events), body in zip(changed, resources, strict=True):
            jobs[job_id] = JobSnapshot(events, body)
        return jobs

    def _retained(self, jobs: dict[str, JobSnapshot], star: bool) -> dict[str, JobSnapshot]:
        """Keep watched jobs, and for `*` streams those with events above the lowest watermark."""
        floors = [s.position.watermark_ms for s in self._subscriptions if s.job_ids is None]
        floor = min(floors) / 1000.0 if star and floors else None
        return {
            job_id: snapshot
            for job_id, snapshot in jobs.items()
            if job_id in self._interest
            or (floor is not None and snapshot.events and snapshot.events[-1].at >= floor)
        }


def _owed(subscription: Subscription, snapshot: _Snapshot) -> list[Delivery]:
    position = subscription.position
    jobs = snapshot.jobs
    watched = jobs.keys() if subscription.job_ids is None else subscription.job_ids
    owed: list[tuple[float, str, int, JobEvent]] = []
    for job_id in watched:
        job = jobs.get(job_id)
        if job is None or job.resource is None:
            continue
        first = position.owed_from(job_id, job.events)
        owed += [(event.at, job_id, i, event) for i, event in enumerate(job.events) if i >= first]
    deliveries: list[Delivery] = []
    for _, job_id, index, event in sorted(owed, key=lambda item: item[:3]):
        position.delivered[job_id] = index + 1
        deliveries.append(Delivery(position.encode(), event.kind, snapshot.payload(job_id, index)))
    if subscription.job_ids is None:
        histories = {job_id: job.events for job_id, job in jobs.items()}
        position.advance(snapshot.floor_ms, histories)
    return deliveries

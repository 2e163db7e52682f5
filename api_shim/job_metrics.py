"""Job and stage metrics derived from Dagster's run and step records, for `/metrics`.

Why from Dagster and not from counters in the run workers: every job runs in its own short-lived
process, which Prometheus cannot scrape and whose counters die with it. Dagster's storage already
holds every run (status, creation/start/end times, tags), every step (status, start/end times)
and the metadata each stage op attaches to its output or failure event (the engine's counters:
external requests by service and status, retries, TTS characters, uploads). Reading them over
GraphQL gives exact figures with any number of run workers, and every shim replica reports the
same figures: aggregate replicas with `max` (or scrape one), never `sum`.

Cost per scrape is bounded:
- at most one refresh per `refresh_s` seconds, shared by concurrent scrapes (an `asyncio.Lock`;
  a scrape inside the window serves the cached figures);
- a refresh reads only runs created after the horizon: the creation time of the oldest run that
  is not yet folded (unfinished, or finished but not yet read), minus `HORIZON_SLACK_S` for
  clocks and commit races; runs already folded are skipped by id;
- a finished run is folded exactly once: its step events are read (one batched `logsForRun`
  document per `EVENTS_BATCH` runs), added to cumulative histograms and counters, and never read
  again, so counters never go down. At most `fold_limit` runs are folded per refresh (oldest
  first): a shim started on a long history catches up over a few scrapes.
If Dagster cannot be reached, the last figures are served and
`esl_job_metrics_refresh_errors_total` grows.

The cumulative series are only exported once the whole history is folded: a restarted shim that
served a partial count would look like a counter reset to Prometheus, and `rate()` would read the
whole history as new. While catching up they are absent (`esl_job_metrics_unfolded_runs` > 0),
then reappear with the same values every other replica reports.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api_shim.dagster_gateway import DagsterProtocolError, DagsterRun, DagsterUnavailable
from api_shim.dagster_graphql import DagsterGraphQL
from api_shim.dagster_runs import read_run_events
from api_shim.job_metrics_queries import (
    EVENTS_BATCH,
    METRICS_RUNS,
    StepReport,
    parse_metrics_runs,
    step_events_document,
    step_reports,
)
from api_shim.job_metrics_tally import JobTally
from api_shim.job_view import RUN_STATUS_TO_STATE

logger = logging.getLogger("api_shim.job_metrics")

TERMINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
HORIZON_SLACK_S = 60.0
RUNS_PAGE = 200
MAX_EVENT_PAGES = 10


@dataclass(frozen=True)
class LiveFigures:
    """Gauges of the runs that have not finished, as of the last refresh."""

    queued: int = 0
    running: int = 0
    oldest_queued_age_s: float = 0.0
    oldest_starting_age_s: float = 0.0
    unfolded: int = 0


class JobMetricsCollector(Collector):
    """A prometheus-client collector over the runs of one Dagster job (no run or job id labels)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        job: str,
        refresh_s: float = 10.0,
        fold_limit: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._graphql = DagsterGraphQL(client, url)
        self._job = job
        self._refresh_s = refresh_s
        self._fold_limit = fold_limit
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tally = JobTally()
        self._live = LiveFigures()
        self._folded: dict[str, float] = {}  # run id -> creation time, pruned behind the horizon
        self._horizon: float | None = None
        self._refreshed_at: float | None = None  # last attempt (the window starts there)
        self._succeeded_at = 0.0
        self._errors = 0
        self.refreshes = 0

    async def refresh(self) -> None:
        """Bring the figures up to date, unless another refresh did within `refresh_s`."""
        async with self._lock:
            now = self._clock()
            if self._refreshed_at is not None and now - self._refreshed_at < self._refresh_s:
                return
            try:
                await self._refresh(now)
                self._succeeded_at = now
            except (DagsterUnavailable, DagsterProtocolError) as exc:
                self._errors += 1
                logger.warning("job metrics refresh failed", extra={"fields": {"error": str(exc)}})
            self._refreshed_at = now

    async def _refresh(self, now: float) -> None:
        self.refreshes += 1
        runs = await self._runs_since_horizon()
        live = [run for run in runs if run.status not in TERMINAL]
        pending = sorted(
            (run for run in runs if run.status in TERMINAL and run.run_id not in self._folded),
            key=lambda run: run.creation_time,
        )
        batch = pending[: self._fold_limit]
        reports = await self._step_reports([run.run_id for run in batch])
        for run in batch:
            self._tally.fold(run, reports.get(run.run_id, {}))
            self._folded[run.run_id] = run.creation_time
        unfinished = live + pending[self._fold_limit :]
        if unfinished:
            self._horizon = min(run.creation_time for run in unfinished)
        elif runs:
            self._horizon = max([run.creation_time for run in runs] + [self._horizon or 0.0])
        if self._horizon is not None:
            cutoff = self._horizon - HORIZON_SLACK_S
            self._folded = {key: at for key, at in self._folded.items() if at > cutoff}
        self._live = _live_figures(live, now, unfolded=len(pending) - len(batch))

    async def _runs_since_horizon(self) -> list[DagsterRun]:
        run_filter: dict[str, Any] = {"pipelineName": self._job}
        if self._horizon is not None:
            run_filter["createdAfter"] = self._horizon - HORIZON_SLACK_S
        runs: list[DagsterRun] = []
        cursor: str | None = None
        while True:
            variables = {"filter": run_filter, "cursor": cursor, "limit": RUNS_PAGE}
            page = parse_metrics_runs(
                await self._graphql.execute("metricsRuns", METRICS_RUNS, variables)
            )
            runs.extend(page)
            if len(page) < RUNS_PAGE:
                return runs
            cursor = page[-1].run_id

    async def _step_reports(self, run_ids: list[str]) -> dict[str, dict[str, StepReport]]:
        """Run id -> step key -> report, read in batches of `EVENTS_BATCH` runs per document."""
        events = await read_run_events(
            self._graphql,
            "metricsStepEvents",
            step_events_document,
            run_ids,
            max_pages=MAX_EVENT_PAGES,
            batch=EVENTS_BATCH,
        )
        return {run_id: step_reports(run_events) for run_id, run_events in events.items()}

    def collect(self) -> Iterator[Metric]:
        live = self._live
        jobs = GaugeMetricFamily(
            "esl_jobs", "Jobs not finished, by state (queued = queue depth).", labels=["state"]
        )
        jobs.add_metric(["queued"], live.queued)
        jobs.add_metric(["running"], live.running)
        yield jobs
        yield GaugeMetricFamily(
            "esl_oldest_queued_job_age_seconds",
            "Age of the oldest queued job (0 when none is queued).",
            value=live.oldest_queued_age_s,
        )
        yield GaugeMetricFamily(
            "esl_oldest_starting_run_age_seconds",
            "How long the run longest in STARTING has been there (0 when none).",
            value=live.oldest_starting_age_s,
        )
        if self._succeeded_at and live.unfolded == 0:
            yield from self._tally.families()
        yield GaugeMetricFamily(
            "esl_job_metrics_unfolded_runs",
            "Finished runs not yet counted (catching up on a long history).",
            value=live.unfolded,
        )
        yield GaugeMetricFamily(
            "esl_job_metrics_refresh_timestamp_seconds",
            "When these job metrics were last refreshed from Dagster (Unix time).",
            value=self._succeeded_at,
        )
        errors = CounterMetricFamily(
            "esl_job_metrics_refresh_errors", "Refreshes from Dagster that failed."
        )
        errors.add_metric([], self._errors)
        yield errors


def _live_figures(live: list[DagsterRun], now: float, *, unfolded: int) -> LiveFigures:
    queued = [run for run in live if RUN_STATUS_TO_STATE.get(run.status) == "queued"]
    starting = [run for run in live if run.status == "STARTING"]
    return LiveFigures(
        queued=len(queued),
        running=len(live) - len(queued),
        oldest_queued_age_s=max((now - run.creation_time for run in queued), default=0.0),
        oldest_starting_age_s=max(
            (now - (run.update_time or run.creation_time) for run in starting), default=0.0
        ),
        unfolded=unfolded,
    )

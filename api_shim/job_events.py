"""A job's event history, derived only from what Dagster stores, and the SSE event ids.

`job_events(runs)` is a pure function of the job's runs (run records and their step stats, as
Dagster's event log summarises them): every shim replica, and a shim after a restart, derives the
same list in the same order. An event's position in that list (per job) is therefore a durable
cursor, and a stream's `id:` is the vector of positions it has delivered, one per job (plus a
time watermark for `jobId=*` streams, see `StreamPosition`).
"""

import base64
import functools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from api_shim.dagster_gateway import DagsterRun
from api_shim.job_view import created_at, job_state
from api_shim.schemas import JobState
from api_shim.timestamps import format_timestamp

EventKind = Literal["job_created", "job_state_changed", "job_step_changed"]
StepStatus = Literal["running", "succeeded", "failed", "skipped"]

# Op name in lesson_job -> stage name (the op tag `esl/stage`); unknown ops keep their name.
STAGE_OF_OP: Final = {
    "validate_lesson": "validate",
    "import_to_notion": "import",
    "colorize_page": "colorize",
    "synthesize_audio": "tts",
    "upload_audio": "upload",
    "attach_audio": "add-audio",
    "write_manifest": "manifest",
}
FINISHED_STEP: Final[dict[str, StepStatus]] = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "SKIPPED": "skipped",
}
ID_VERSION: Final = "v1"
_ID_PATTERN = re.compile(r"^v1\.(\d{1,15})((?:\.[A-Za-z0-9_-]{22}:\d{1,6}){0,1000})$")
# Order of simultaneous points of one run: it is queued, then starts, steps run, then it ends.
_RANK_QUEUED, _RANK_RUNNING, _RANK_STEP, _RANK_END = range(4)


@dataclass(frozen=True)
class JobEvent:
    """One change of a job; `state` is the job's state after it (for every kind)."""

    kind: EventKind
    at: float
    run_id: str
    state: JobState
    step: str | None = None
    step_status: StepStatus | None = None

    def change(self) -> dict[str, str | None]:
        """The `change` member of the event's data."""
        return {
            "at": format_timestamp(self.at),
            "runId": self.run_id,
            "state": self.state,
            "step": self.step,
            "stepStatus": self.step_status,
        }


@dataclass(frozen=True)
class _Point:
    at: float
    rank: int
    state: JobState | None = None
    step: str | None = None
    step_status: StepStatus | None = None


def _run_points(run: DagsterRun, first: bool) -> list[_Point]:
    points: list[_Point] = []
    if not first:
        points.append(_Point(run.creation_time, _RANK_QUEUED, state="queued"))
    if run.start_time is not None:
        points.append(_Point(run.start_time, _RANK_RUNNING, state="running"))
    final = job_state(run)
    if final in ("succeeded", "failed"):
        ended = run.end_time or run.update_time or run.creation_time
        points.append(_Point(ended, _RANK_END, state=final))
    for stat in run.step_stats:
        stage = STAGE_OF_OP.get(stat.step_key, stat.step_key)
        if stat.start_time is not None:
            points.append(_Point(stat.start_time, _RANK_STEP, step=stage, step_status="running"))
        finished = FINISHED_STEP.get(stat.status or "")
        if finished is not None:
            at = stat.end_time or stat.start_time or run.end_time or run.creation_time
            points.append(_Point(at, _RANK_STEP, step=stage, step_status=finished))
    return sorted(points, key=lambda point: (point.at, point.rank))


def job_events(runs: list[DagsterRun]) -> list[JobEvent]:
    """The job's changes, oldest first: created, then per run its state and step changes.

    Each run carries its step stats (`DagsterRun.step_stats`).
    """
    ordered = sorted(runs, key=lambda run: (run.creation_time, run.run_id))
    if not ordered:
        return []
    first = ordered[0]
    state: JobState = "queued"
    events = [JobEvent("job_created", created_at(first), first.run_id, state)]
    for index, run in enumerate(ordered):
        for point in _run_points(run, first=index == 0):
            if point.step is not None:
                events.append(
                    JobEvent(
                        "job_step_changed",
                        point.at,
                        run.run_id,
                        state,
                        point.step,
                        point.step_status,
                    )
                )
            elif point.state is not None and point.state != state:
                state = point.state
                events.append(JobEvent("job_state_changed", point.at, run.run_id, state))
    return events


class InvalidEventId(ValueError):
    pass


@functools.lru_cache(maxsize=4096)
def _job_key(job_id: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(job_id).bytes).decode("ascii").rstrip("=")


def _job_of_key(key: str) -> str:
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(key + "==")))


@dataclass
class StreamPosition:
    """What a stream has delivered: per job, how many of its events (`delivered`).

    `watermark` (epoch ms) matters only for `jobId=*` streams: every event older than it was
    delivered or predates the stream, so a job missing from `delivered` owes only its events at
    or after the watermark. Explicit-id streams keep it at 0 (each job's whole history counts).
    """

    watermark_ms: int = 0
    delivered: dict[str, int] = field(default_factory=dict)

    def encode(self) -> str:
        parts = [ID_VERSION, str(self.watermark_ms)]
        parts += [f"{_job_key(job)}:{count}" for job, count in sorted(self.delivered.items())]
        return ".".join(parts)

    @classmethod
    def decode(cls, raw: str) -> "StreamPosition":
        match = _ID_PATTERN.match(raw.strip())
        if match is None:
            raise InvalidEventId(raw)
        delivered: dict[str, int] = {}
        for part in filter(None, match.group(2).split(".")):
            key, _, count = part.partition(":")
            delivered[_job_of_key(key)] = int(count)
        return cls(int(match.group(1)), delivered)

    def owed_from(self, job_id: str, events: list[JobEvent]) -> int:
        """Index of the job's first event this stream still owes."""
        if job_id in self.delivered:
            return self.delivered[job_id]
        floor = self.watermark_ms / 1000.0
        return next((i for i, event in enumerate(events) if event.at >= floor), len(events))

    def advance(self, watermark_ms: int, histories: Mapping[str, list[JobEvent]]) -> None:
        """Move the watermark up; forget jobs whose delivered events all lie below it."""
        if watermark_ms <= self.watermark_ms:
            return
        self.watermark_ms = watermark_ms
        floor = watermark_ms / 1000.0
        for job, count in list(self.delivered.items()):
            events = histories.get(job, [])[:count]
            # A job no longer held was evicted: its events all predate every watermark.
            if not events or events[-1].at < floor:
                del self.delivered[job]

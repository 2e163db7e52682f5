"""Launching `lesson_job` runs for jobs: run config, run tags, idempotency and launch outcome.

Run config (contract with the Dagster job): `{"ops": {"validate_lesson": {"config": {...}}}}`
with JobOptions field names; only fields the client set are sent, so JobOptions' defaults apply,
except `with_tts`, which is always sent: no TTS unless the request says `withTts: true`.

A launch whose answer is lost (the webserver hangs, the connection breaks) is resolved before the
POST answers, within `ESL_LAUNCH_BUDGET_SECONDS`:

1. `launchRun` gets most of the budget; then the run is looked up by its `esl/job_id` and
   `esl/launch_id` tags with what is left. Found: 202.
2. Not found (or the lookup hangs too): the shim writes `abandoned` for the launch id into the
   launch ledger, unless the run's first op already wrote `started` there (first writer wins).
   `started`: the run exists and works, 202. `abandoned`: 503, and a run of that launch that the
   webserver creates later (it may resume minutes after) finds `abandoned` in its first op and
   does nothing: the code location's launch guard ends it at once, tagged
   `esl/launch_abandoned`, and the API never shows it as a job.

Why a ledger and not a deadline tag compared with the run's creation time: the lookup goes to the
same hung webserver, so the shim often cannot learn whether the run was created in time; only a
decision that the shim and the run take on one row, in the shim's own store, is certain without
asking Dagster. Why not answer 202 and launch later: a job id whose run may never be created would
need the shim to relaunch it and to keep the request, for every replica, forever.
"""

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, Final

import anyio.to_thread

from api_shim.core.metrics import ShimMetrics
from api_shim.dagster_gateway import (
    DagsterGateway,
    DagsterProtocolError,
    DagsterRun,
    DagsterUnavailable,
)
from api_shim.idempotency import (
    Claim,
    ClaimState,
    IdempotencyStore,
    LaunchOutcome,
    StoreUnavailable,
    request_fingerprint,
)
from api_shim.lesson_paths import lesson_key
from api_shim.s3_lessons import is_s3_uri
from api_shim.schemas import JobCreate
from api_shim.timestamps import SUBMITTED_AT_TAG
from api_shim.tracing import TRACEPARENT_TAG, current_traceparent, launch_span
from esl_common.launch_ledger import LAUNCH_ID_TAG, LAUNCH_LEDGER_TAG

logger = logging.getLogger("api_shim.submission")

FIRST_OP: Final = "validate_lesson"
JOB_ID_TAG: Final = "esl/job_id"
LESSON_TAG: Final = "esl/lesson"
SOURCE_TAG: Final = "esl/source"
# Bookkeeping: Dagster's UI and GraphQL API do not show tags with the `.dagster/` prefix.
HIDDEN_TAG_PREFIX: Final = ".dagster/"
LESSON_KEY_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl.lesson_key"
TTS_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl.tts"
REQUEST_ID_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl.request_id"
IDEMPOTENCY_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl.idempotency_key"
RERUN_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl.rerun_steps"
# Share of the launch budget given to launchRun; the rest is for the lookup after a lost answer.
LAUNCH_SHARE: Final = 0.6
# Below this, a lookup is not worth starting: the ledger decides at once.
MIN_LOOKUP_S: Final = 0.2
# Tags a rerun inherits from the job's previous run (the job's identity and queue keys).
INHERITED_TAGS: Final = (LESSON_TAG, JOB_ID_TAG, SUBMITTED_AT_TAG)

# API field -> JobOptions field.
OPTION_FIELDS: Final = {
    "preset": "preset",
    "with_tts": "with_tts",
    "upload": "upload",
    "student": "student",
    "mode": "tts_mode",
    "voice_id": "voice_id",
    "voice_accent": "accent",
    "force": "force",
    "force_tts": "redo_tts",
    "dry_run": "dry_run",
    "notion_database": "db_id",
    "notion_data_source": "data_source_id",
}


class IdempotencyConflict(Exception):
    """The key was used before with another request body."""


class IdempotencyInProgress(Exception):
    """A request with the same key is still launching."""


@dataclass(frozen=True)
class Submission:
    job_id: str
    replayed: bool


def job_options(request: JobCreate, lesson: str) -> dict[str, Any]:
    """The run's JobOptions: the fields the client set, and `with_tts` always (default false)."""
    options: dict[str, Any] = {"md": lesson}
    for api_field, option in OPTION_FIELDS.items():
        value = getattr(request, api_field)
        if value is not None:
            options[option] = value
    options["with_tts"] = request.with_tts is True
    return options


def run_config(options: Mapping[str, Any]) -> dict[str, Any]:
    return {"ops": {FIRST_OP: {"config": dict(options)}}}


def lesson_label(md: str) -> str:
    """The `esl/lesson` value: an `s3://` URI as given, a path with `/` and without `./`."""
    return md if is_s3_uri(md) else str(PurePosixPath(md.replace("\\", "/")))


def submission_tags(
    job_id: str,
    lesson: str,
    *,
    md: str,
    with_tts: bool,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, str]:
    """Visible: the lesson as the request named it, job id, source, submission time (ISO-8601)."""
    tags = {
        LESSON_TAG: lesson_label(md),
        JOB_ID_TAG: job_id,
        SOURCE_TAG: "api",
        SUBMITTED_AT_TAG: datetime.now(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        LESSON_KEY_TAG: lesson_key(lesson),
    }
    # Omitted rather than "false": a tag concurrency limit on the key would count any value.
    if with_tts:
        tags[TTS_TAG] = "true"
    if request_id:
        tags[REQUEST_ID_TAG] = request_id
    if idempotency_key:
        tags[IDEMPOTENCY_TAG] = idempotency_key
    return tags


class JobLauncher:
    """Submits jobs exactly once per idempotency key and decides every launch before answering."""

    def __init__(
        self,
        gateway: DagsterGateway,
        store: IdempotencyStore,
        metrics: ShimMetrics,
        *,
        launch_budget_s: float,
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._metrics = metrics
        self._budget_s = launch_budget_s

    async def submit(
        self,
        request: JobCreate,
        lesson: str,
        *,
        principal: str,
        idempotency_key: str | None,
        request_id: str | None,
    ) -> Submission:
        job_id, launch_id = str(uuid.uuid4()), str(uuid.uuid4())
        if idempotency_key is None:
            await self._launch_new(request, lesson, job_id, launch_id, request_id, None)
            return Submission(job_id, replayed=False)

        fingerprint = request_fingerprint(request.model_dump(by_alias=True, exclude_unset=True))
        claim = await anyio.to_thread.run_sync(
            self._store.claim, principal, idempotency_key, fingerprint, job_id, launch_id
        )
        if claim.state is ClaimState.CONFLICT:
            raise IdempotencyConflict(idempotency_key)
        if claim.state is ClaimState.IN_PROGRESS:
            raise IdempotencyInProgress(idempotency_key)
        if claim.state is ClaimState.LAUNCHED or (
            claim.state is ClaimState.STALE and await self._earlier_launch_worked(claim)
        ):
            if claim.state is ClaimState.STALE:
                await anyio.to_thread.run_sync(
                    self._store.mark_launched, principal, idempotency_key
                )
            self._metrics.launches.labels("submit", "replayed").inc()
            return Submission(claim.job_id, replayed=True)
        try:
            await self._launch_new(
                request, lesson, claim.job_id, launch_id, request_id, idempotency_key
            )
        except DagsterUnavailable as exc:
            if not exc.ambiguous:
                await anyio.to_thread.run_sync(self._store.release, principal, idempotency_key)
            # Ambiguous only when the ledger could not be written either: the claim stays
            # pending, and the next request with the key after the lease decides its launch.
            raise
        except Exception:
            await anyio.to_thread.run_sync(self._store.release, principal, idempotency_key)
            raise
        try:
            await anyio.to_thread.run_sync(self._store.mark_launched, principal, idempotency_key)
        except StoreUnavailable as exc:
            # The run exists: answer 202. A retry after the lease decides the pending claim's
            # launch through the ledger (started: replay; still queued: abandoned, relaunched).
            logger.warning(
                "claim not confirmed", extra={"fields": {"job_id": claim.job_id, "error": str(exc)}}
            )
        return Submission(claim.job_id, replayed=False)

    async def _earlier_launch_worked(self, claim: Claim) -> bool:
        """Decide the launch a stale claim tried: started (True) or abandoned for good (False).

        A claim stored without a launch id is checked against Dagster by its job-id tag, within
        the launch budget (503 when the webserver does not answer).
        """
        if claim.launch_id is not None:
            outcome = await anyio.to_thread.run_sync(self._store.abandon_launch, claim.launch_id)
            return outcome is LaunchOutcome.STARTED
        try:
            with anyio.fail_after(self._budget_s):
                return await self._gateway.newest_job_run(claim.job_id) is not None
        except TimeoutError as exc:
            raise DagsterUnavailable(f"no answer from Dagster about job {claim.job_id}") from exc

    async def rerun(
        self,
        previous: DagsterRun,
        options: Mapping[str, Any],
        steps: Sequence[str],
        request_id: str | None,
    ) -> None:
        """Launch the job again in rerun mode (`rerun_steps`), under the same job id."""
        tags: dict[str, str] = {
            key: previous.tags[key] for key in INHERITED_TAGS if key in previous.tags
        }
        tags[SOURCE_TAG] = "api"
        # Hidden tags are not in the previous run's GraphQL tags: derive them again.
        if "md" in options:
            tags[LESSON_KEY_TAG] = lesson_key(str(options["md"]))
        if "tts" in steps and not options.get("dry_run"):
            tags[TTS_TAG] = "true"
        tags[RERUN_TAG] = ",".join(steps)
        if request_id:
            tags[REQUEST_ID_TAG] = request_id
        config = run_config({**options, "rerun_steps": list(steps)})
        await self._launch(config, tags, launch_id=str(uuid.uuid4()), kind="rerun")

    async def _launch_new(
        self,
        request: JobCreate,
        lesson: str,
        job_id: str,
        launch_id: str,
        request_id: str | None,
        idempotency_key: str | None,
    ) -> None:
        tags = submission_tags(
            job_id,
            lesson,
            md=request.md,
            with_tts=request.with_tts is True,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
        config = run_config(job_options(request, lesson))
        await self._launch(config, tags, launch_id=launch_id, kind="submit")

    async def _launch(
        self, config: Mapping[str, Any], tags: Mapping[str, str], *, launch_id: str, kind: str
    ) -> None:
        """Launch one run, or raise; on return the run exists (or will, exactly once).

        The launch is the root span of the job's trace; the run continues it from its hidden
        ``traceparent`` tag.
        """
        with launch_span(kind, tags[JOB_ID_TAG]):
            traceparent = current_traceparent()
            if traceparent:
                tags = {**tags, TRACEPARENT_TAG: traceparent}
            await self._launch_run(config, tags, launch_id=launch_id, kind=kind)

    async def _launch_run(
        self, config: Mapping[str, Any], tags: Mapping[str, str], *, launch_id: str, kind: str
    ) -> None:
        job_id = tags[JOB_ID_TAG]
        tags = {**tags, LAUNCH_ID_TAG: launch_id, LAUNCH_LEDGER_TAG: self._store.ledger_ref}
        deadline = time.monotonic() + self._budget_s
        try:
            run = await self._gateway.launch_run(
                config, tags, timeout_s=self._budget_s * LAUNCH_SHARE
            )
        except DagsterUnavailable as exc:
            if not exc.ambiguous:
                self._metrics.launches.labels(kind, "unavailable").inc()
                raise
            run_id = await self._resolve_lost_answer(job_id, launch_id, deadline, exc, kind)
        except Exception:
            self._metrics.launches.labels(kind, "rejected").inc()
            raise
        else:
            run_id = run.run_id
        self._metrics.launches.labels(kind, "launched").inc()
        logger.info(
            "run launched",
            extra={"fields": {"job_id": job_id, "run_id": run_id, "launch_id": launch_id}},
        )

    async def _resolve_lost_answer(
        self,
        job_id: str,
        launch_id: str,
        deadline: float,
        cause: DagsterUnavailable,
        kind: str,
    ) -> str | None:
        """The run id when the launch happened; raise `DagsterUnavailable` when it never will.

        Raises with `ambiguous=False` once the ledger says `abandoned` (no run of this launch
        will work), with `ambiguous=True` only when the ledger cannot be written either.
        """
        remaining = deadline - time.monotonic()
        if remaining > MIN_LOOKUP_S:
            try:
                run = await self._gateway.launched_run(job_id, launch_id, timeout_s=remaining)
            except (DagsterUnavailable, DagsterProtocolError):
                run = None
            if run is not None:
                return run.run_id
        fields = {"job_id": job_id, "launch_id": launch_id, "cause": str(cause)}
        try:
            outcome = await anyio.to_thread.run_sync(self._store.abandon_launch, launch_id)
        except Exception as exc:
            logger.error("launch outcome unknown", extra={"fields": {**fields, "error": repr(exc)}})
            self._metrics.launches.labels(kind, "unknown").inc()
            raise DagsterUnavailable(f"launch outcome unknown: {cause}", ambiguous=True) from exc
        if outcome is LaunchOutcome.STARTED:
            logger.info("launch answer lost, run started", extra={"fields": fields})
            return None
        logger.warning("launch abandoned", extra={"fields": fields})
        self._metrics.launches.labels(kind, "abandoned").inc()
        raise DagsterUnavailable(f"Dagster did not confirm the launch in time: {cause}") from cause

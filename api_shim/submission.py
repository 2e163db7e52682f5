"""Launching `lesson_job` runs for jobs: run config, run tags, idempotency and reconciliation.

Run config (contract with the Dagster job): `{"ops": {"validate_lesson": {"config": {...}}}}`
with JobOptions field names; only fields the client set are sent, so JobOptions' defaults apply.
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final

import anyio.to_thread

from api_shim.core.metrics import ShimMetrics
from api_shim.dagster_gateway import DagsterGateway, DagsterRun, DagsterUnavailable
from api_shim.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from api_shim.job_view import SUBMITTED_AT_TAG
from api_shim.lesson_paths import lesson_key
from api_shim.schemas import JobCreate

logger = logging.getLogger("api_shim.submission")

FIRST_OP: Final = "validate_lesson"
JOB_ID_TAG: Final = "esl/job_id"
LESSON_TAG: Final = "esl/lesson"
SOURCE_TAG: Final = "esl/source"
# Bookkeeping: Dagster's UI and GraphQL API do not show tags with the `.dagster/` prefix.
HIDDEN_TAG_PREFIX: Final = ".dagster/"
LESSON_KEY_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl/lesson_key"
TTS_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl/tts"
REQUEST_ID_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl/request_id"
IDEMPOTENCY_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl/idempotency_key"
RERUN_TAG: Final = f"{HIDDEN_TAG_PREFIX}esl/rerun_steps"
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


def job_options(request: JobCreate, lesson: Path) -> dict[str, Any]:
    options: dict[str, Any] = {"md": str(lesson)}
    for api_field, option in OPTION_FIELDS.items():
        value = getattr(request, api_field)
        if value is not None:
            options[option] = value
    return options


def run_config(options: Mapping[str, Any]) -> dict[str, Any]:
    return {"ops": {FIRST_OP: {"config": dict(options)}}}


def submission_tags(
    job_id: str,
    lesson: Path,
    *,
    md: str,
    with_tts: bool | None,
    request_id: str | None,
    idempotency_key: str | None,
) -> dict[str, str]:
    """Visible: the lesson as the request named it, job id, source, submission time (ISO-8601)."""
    tags = {
        LESSON_TAG: str(PurePosixPath(md.replace("\\", "/"))),
        JOB_ID_TAG: job_id,
        SOURCE_TAG: "api",
        SUBMITTED_AT_TAG: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        LESSON_KEY_TAG: lesson_key(lesson),
    }
    # Omitted rather than "false": a tag concurrency limit on the key would count any value.
    if with_tts is not False:
        tags[TTS_TAG] = "true"
    if request_id:
        tags[REQUEST_ID_TAG] = request_id
    if idempotency_key:
        tags[IDEMPOTENCY_TAG] = idempotency_key
    return tags


class JobLauncher:
    """Submits jobs exactly once per idempotency key and never leaves a claim for a lost run."""

    def __init__(
        self, gateway: DagsterGateway, store: IdempotencyStore, metrics: ShimMetrics
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._metrics = metrics

    async def submit(
        self,
        request: JobCreate,
        lesson: Path,
        *,
        principal: str,
        idempotency_key: str | None,
        request_id: str | None,
    ) -> Submission:
        job_id = str(uuid.uuid4())
        if idempotency_key is None:
            await self._launch_new(request, lesson, job_id, request_id, None)
            return Submission(job_id, replayed=False)

        fingerprint = request_fingerprint(request.model_dump(by_alias=True, exclude_unset=True))
        claim = await anyio.to_thread.run_sync(
            self._store.claim, principal, idempotency_key, fingerprint, job_id
        )
        if claim.state is ClaimState.CONFLICT:
            raise IdempotencyConflict(idempotency_key)
        if claim.state is ClaimState.IN_PROGRESS:
            raise IdempotencyInProgress(idempotency_key)
        if claim.state is ClaimState.LAUNCHED:
            self._metrics.launches.labels("submit", "replayed").inc()
            return Submission(claim.job_id, replayed=True)
        if claim.state is ClaimState.STALE:
            if await self._gateway.newest_job_run(claim.job_id) is not None:
                await anyio.to_thread.run_sync(
                    self._store.mark_launched, principal, idempotency_key
                )
                self._metrics.launches.labels("submit", "replayed").inc()
                return Submission(claim.job_id, replayed=True)
        try:
            await self._launch_new(request, lesson, claim.job_id, request_id, idempotency_key)
        except DagsterUnavailable as exc:
            if not exc.ambiguous:
                await anyio.to_thread.run_sync(self._store.release, principal, idempotency_key)
            # An ambiguous claim stays pending: once its lease ends it is reconciled by run tag.
            raise
        except Exception:
            await anyio.to_thread.run_sync(self._store.release, principal, idempotency_key)
            raise
        await anyio.to_thread.run_sync(self._store.mark_launched, principal, idempotency_key)
        return Submission(claim.job_id, replayed=False)

    async def rerun(
        self,
        previous: DagsterRun,
        options: Mapping[str, Any],
        steps: Sequence[str],
        request_id: str | None,
    ) -> DagsterRun:
        """Launch the job again in rerun mode (`rerun_steps`), under the same job id."""
        tags: dict[str, str] = {
            key: previous.tags[key] for key in INHERITED_TAGS if key in previous.tags
        }
        tags[SOURCE_TAG] = "api"
        # Hidden tags are not in the previous run's GraphQL tags: derive them again.
        if "md" in options:
            tags[LESSON_KEY_TAG] = lesson_key(Path(str(options["md"])))
        if "tts" in steps and not options.get("dry_run"):
            tags[TTS_TAG] = "true"
        tags[RERUN_TAG] = ",".join(steps)
        if request_id:
            tags[REQUEST_ID_TAG] = request_id
        config = run_config({**options, "rerun_steps": list(steps)})
        return await self._launch(config, tags, kind="rerun", superseded_run_id=previous.run_id)

    async def _launch_new(
        self,
        request: JobCreate,
        lesson: Path,
        job_id: str,
        request_id: str | None,
        idempotency_key: str | None,
    ) -> DagsterRun:
        tags = submission_tags(
            job_id,
            lesson,
            md=request.md,
            with_tts=request.with_tts,
            request_id=request_id,
            idempotency_key=idempotency_key,
        )
        return await self._launch(run_config(job_options(request, lesson)), tags, kind="submit")

    async def _launch(
        self,
        config: Mapping[str, Any],
        tags: Mapping[str, str],
        *,
        kind: str,
        superseded_run_id: str | None = None,
    ) -> DagsterRun:
        job_id = tags[JOB_ID_TAG]
        try:
            run = await self._gateway.launch_run(config, tags)
        except DagsterUnavailable as exc:
            if exc.ambiguous:
                found = await self._reconcile(job_id, superseded_run_id, exc)
                if found is not None:
                    self._metrics.launches.labels(kind, "launched").inc()
                    return found
            self._metrics.launches.labels(kind, "unavailable").inc()
            raise
        except Exception:
            self._metrics.launches.labels(kind, "rejected").inc()
            raise
        self._metrics.launches.labels(kind, "launched").inc()
        logger.info(
            "run launched", extra={"fields": {"job_id": job_id, "run_id": run.run_id, "kind": kind}}
        )
        return run

    async def _reconcile(
        self, job_id: str, superseded_run_id: str | None, cause: DagsterUnavailable
    ) -> DagsterRun | None:
        """After a launch whose answer was lost: did a new run of the job get created after all?"""
        try:
            run = await self._gateway.newest_job_run(job_id)
        except DagsterUnavailable:
            logger.warning(
                "launch outcome unknown", extra={"fields": {"job_id": job_id, "cause": str(cause)}}
            )
            return None
        if run is None or run.run_id == superseded_run_id:
            return None
        return run

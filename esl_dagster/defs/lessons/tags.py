"""Run tags shared by every launch path (API shim, sensor, schedule, UI); see the stage contract.

An operator reads the run list by the visible tags: ``esl/lesson`` (the lesson's path as the API
request named it, or relative to the sensor's source), ``esl/job_id``, ``esl/source`` and, for API runs, ``esl/submitted_at`` (ISO-8601 UTC);
then the outcome (``esl/manifest_path`` or ``esl/error``). Bookkeeping tags use Dagster's hidden
prefix ``.dagster/``: Dagster's UI and GraphQL API omit them, the run queue still sees them. The
run queue limits ``.dagster/esl.lesson_key`` and ``.dagster/esl.tts`` (``dagster.yaml``).

The shim reads ``esl/job_id``, ``esl/manifest_path`` and ``esl/error`` in the same GraphQL query
as the run status, so those stay visible.

A run retried by the daemon or re-executed from the UI inherits its parent's tags, so an outcome
tag written by such a run (one with ``dagster/parent_run_id``) comes with ``esl/outcome_run_id``:
the shim trusts ``esl/error`` and ``esl/manifest_path`` of a run with a parent only when that tag
names the run itself. A first run inherits nothing and writes no such tag.
"""

import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from esl_dagster.pipeline.lesson.source import S3_SCHEME
from esl_dagster.pipeline.options import JobOptions

HIDDEN_TAG_PREFIX = ".dagster/"  # Dagster's convention for tags its UI does not show

JOB_ID_TAG = "esl/job_id"
LESSON_TAG = "esl/lesson"
SOURCE_TAG = "esl/source"
SUBMITTED_AT_TAG = "esl/submitted_at"
LESSON_KEY_TAG = f"{HIDDEN_TAG_PREFIX}esl.lesson_key"
TTS_TAG = f"{HIDDEN_TAG_PREFIX}esl.tts"
# W3C traceparent of the submission span: the run's stages continue that trace.
TRACEPARENT_TAG = f"{HIDDEN_TAG_PREFIX}esl.traceparent"
PARENT_RUN_TAG = "dagster/parent_run_id"
RETRY_NUMBER_TAG = "dagster/retry_number"
MANIFEST_PATH_TAG = "esl/manifest_path"
ERROR_TAG = "esl/error"
OUTCOME_RUN_TAG = "esl/outcome_run_id"

# Run tag values are stored in a text column; keep error messages readable and bounded.
MAX_ERROR_TAG_CHARS = 2000


def lesson_key(md_path: str | Path) -> str:
    """First 16 hex digits of the sha256 of the resolved absolute lesson path; of an S3 lesson
    (``s3://bucket/key``), of that URI as written, so any machine derives the same key."""
    if isinstance(md_path, str) and md_path.startswith(S3_SCHEME):
        identity = md_path
    else:
        identity = str(Path(md_path).expanduser().resolve())
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]


def tts_runs(options: JobOptions) -> bool:
    """True when a run with these options synthesizes audio (the TTS concurrency tag)."""
    if options.rerun_steps is not None:
        return "tts" in options.rerun_steps and not options.dry_run
    return options.with_tts and not options.skip_tts and not options.dry_run


def lesson_label(path: str) -> str:
    """The ``esl/lesson`` value: a path relative to its root, without a leading ``./``; an S3
    lesson's ``s3://bucket/key`` URI as it is."""
    if path.startswith(S3_SCHEME):
        return path
    return str(PurePosixPath(path.replace("\\", "/")))


def lesson_run_tags(
    options: JobOptions,
    *,
    source: str,
    lesson: str,
    job_id: str | None = None,
    key_of: str | None = None,
) -> dict[str, str]:
    """Tags for a ``lesson_job`` run: lesson (``lesson``, relative to its root), job id (a new
    UUID unless given), source; hidden: lesson key (of ``key_of``, default ``options.md``: the
    sensor passes an S3 lesson's URI for its staged copy) and TTS."""
    tags = {
        LESSON_TAG: lesson_label(lesson),
        JOB_ID_TAG: job_id or str(uuid.uuid4()),
        SOURCE_TAG: source,
        LESSON_KEY_TAG: lesson_key(key_of or options.md),
    }
    if tts_runs(options):
        tags[TTS_TAG] = "true"
    return tags


def error_tag_value(message: str) -> str:
    """The ``esl/error`` value: the first ``MAX_ERROR_TAG_CHARS`` characters of ``message``."""
    if len(message) <= MAX_ERROR_TAG_CHARS:
        return message
    return message[: MAX_ERROR_TAG_CHARS - 1] + "…"


def reexecuted_from_ui(tags: Mapping[str, str]) -> bool:
    """True for a run re-executed by hand (it has a parent run; the daemon's retries carry
    ``dagster/retry_number``, the shim's reruns have no parent run)."""
    return PARENT_RUN_TAG in tags and RETRY_NUMBER_TAG not in tags


def own_outcome_tag(run_id: str, run_tags: Mapping[str, str], key: str) -> str | None:
    """An outcome tag ``key`` the run wrote about itself, not one inherited from a parent run
    (the reading side of ``outcome_tags``)."""
    owner = run_tags.get(OUTCOME_RUN_TAG)
    if owner is None and PARENT_RUN_TAG in run_tags:
        return None
    if owner is not None and owner != run_id:
        return None
    return run_tags.get(key) or None


def outcome_tags(
    run_id: str,
    run_tags: Mapping[str, str],
    *,
    error: str | None = None,
    manifest_path: str | None = None,
) -> dict[str, str]:
    """Outcome tags of run ``run_id`` (``esl/error``, ``esl/manifest_path``); a run with a parent
    also marks them as its own (``esl/outcome_run_id``), since it inherited its parent's."""
    tags = {OUTCOME_RUN_TAG: run_id} if PARENT_RUN_TAG in run_tags else {}
    if error is not None:
        tags[ERROR_TAG] = error_tag_value(error)
    if manifest_path is not None:
        tags[MANIFEST_PATH_TAG] = manifest_path
    return tags

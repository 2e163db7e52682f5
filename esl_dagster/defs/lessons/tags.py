"""Run tags shared by every launch path (API shim, sensor, schedule, UI); see the stage contract.

The shim reads ``esl/job_id``, ``esl/manifest_path`` and ``esl/error`` in the same GraphQL query
as the run status; the run queue limits ``esl/lesson_key`` and ``esl/tts`` (``dagster.yaml``).

A run retried by the daemon or re-executed from the UI inherits its parent's tags, so every write
of an outcome tag also writes ``esl/outcome_run_id``: the shim trusts ``esl/error`` and
``esl/manifest_path`` only on the run whose id that tag names.
"""

import hashlib
import uuid
from pathlib import Path

from esl_dagster.pipeline.options import JobOptions

JOB_ID_TAG = "esl/job_id"
LESSON_KEY_TAG = "esl/lesson_key"
SOURCE_TAG = "esl/source"
TTS_TAG = "esl/tts"
MANIFEST_PATH_TAG = "esl/manifest_path"
ERROR_TAG = "esl/error"
OUTCOME_RUN_TAG = "esl/outcome_run_id"

# Run tag values are stored in a text column; keep error messages readable and bounded.
MAX_ERROR_TAG_CHARS = 2000


def lesson_key(md_path: str | Path) -> str:
    """First 16 hex digits of the sha256 of the resolved absolute lesson path."""
    resolved = str(Path(md_path).expanduser().resolve())
    return hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:16]


def tts_runs(options: JobOptions) -> bool:
    """True when a run with these options synthesizes audio (the TTS concurrency tag)."""
    if options.rerun_steps is not None:
        return "tts" in options.rerun_steps and not options.dry_run
    return options.with_tts and not options.skip_tts and not options.dry_run


def lesson_run_tags(
    options: JobOptions, *, source: str, job_id: str | None = None
) -> dict[str, str]:
    """Tags for a ``lesson_job`` run: job id (a new UUID unless given), lesson key, source, TTS."""
    tags = {
        JOB_ID_TAG: job_id or str(uuid.uuid4()),
        LESSON_KEY_TAG: lesson_key(options.md),
        SOURCE_TAG: source,
    }
    if tts_runs(options):
        tags[TTS_TAG] = "true"
    return tags


def error_tag_value(message: str) -> str:
    """The ``esl/error`` value: the first ``MAX_ERROR_TAG_CHARS`` characters of ``message``."""
    if len(message) <= MAX_ERROR_TAG_CHARS:
        return message
    return message[: MAX_ERROR_TAG_CHARS - 1] + "…"


def outcome_tags(
    run_id: str, *, error: str | None = None, manifest_path: str | None = None
) -> dict[str, str]:
    """Outcome tags of run ``run_id`` (``esl/error``, ``esl/manifest_path``), marked as its own."""
    tags = {OUTCOME_RUN_TAG: run_id}
    if error is not None:
        tags[ERROR_TAG] = error_tag_value(error)
    if manifest_path is not None:
        tags[MANIFEST_PATH_TAG] = manifest_path
    return tags

"""Resolution of a job's `md` to a lesson file inside the configured lesson roots, or (S3 mode)
to an object under the S3 lesson prefix.

The original resolved a relative `md` against `PIPELINE_CWD`; this keeps that, then follows
symlinks and insists that the real file lies inside a lesson root. The root check runs before
any existence check, so a request can never probe for files outside the roots. An `s3://` md
must name a key under `ESL_LESSON_S3_URI`, checked before any request to S3.
"""

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from api_shim.core.config import Settings
from api_shim.s3_lessons import LessonBucket, S3Prefix, is_s3_uri

LESSON_SUFFIX = ".md"


@dataclass(frozen=True)
class LessonPathError(Exception):
    """Why `md` cannot be used; `code` is the API's validation code."""

    code: str
    message: str


def resolve_lesson_path(md: str, *, cwd: Path, roots: Sequence[Path]) -> Path:
    """Return the real absolute path of the lesson `md` names, or raise `LessonPathError`.

    `cwd` and `roots` must already be absolute real paths (see `Settings.resolved_lesson_roots`).
    """
    if "\x00" in md:
        raise LessonPathError("md_invalid", "md must not contain NUL characters")
    candidate = Path(md)
    if not candidate.is_absolute():
        candidate = cwd / candidate
    real = Path(os.path.realpath(candidate))
    if not any(real.is_relative_to(root) for root in roots):
        raise LessonPathError(
            "md_outside_roots", f"md '{md}' does not resolve to a file inside a lesson root"
        )
    if real.suffix.lower() != LESSON_SUFFIX:
        raise LessonPathError("md_not_markdown", f"md '{md}' is not a .md file")
    if not real.is_file():
        raise LessonPathError("md_not_found", f"md '{md}' was not found")
    return real


def s3_lesson_key(md: str, location: S3Prefix | None) -> str:
    """The object key of an `s3://` md under the lesson prefix, or raise `LessonPathError`."""
    if "\x00" in md:
        raise LessonPathError("md_invalid", "md must not contain NUL characters")
    if location is None:
        raise LessonPathError(
            "md_outside_roots", f"md '{md}': S3 lessons are not enabled (ESL_LESSON_S3_URI unset)"
        )
    key = location.key_of(md)
    if key is None:
        raise LessonPathError(
            "md_outside_roots",
            f"md '{md}' is not an object under the S3 lesson prefix "
            f"{location.uri(location.prefix)}",
        )
    if not key.lower().endswith(LESSON_SUFFIX):
        raise LessonPathError("md_not_markdown", f"md '{md}' is not a .md file")
    return key


async def resolve_job_lesson(md: str, settings: Settings, bucket: LessonBucket | None) -> str:
    """The lesson a run gets: the real local path, or the `s3://` URI once S3 shows the object.

    Raises `LessonPathError`, or `S3Unavailable` when S3 cannot say whether the object exists.
    """
    if not is_s3_uri(md):
        path = resolve_lesson_path(
            md, cwd=settings.resolved_cwd, roots=settings.resolved_lesson_roots
        )
        return str(path)
    key = s3_lesson_key(md, bucket.location if bucket else None)
    assert bucket is not None  # s3_lesson_key refuses every s3 md without a prefix
    if await anyio.to_thread.run_sync(bucket.size_of, key) is None:
        raise LessonPathError("md_not_found", f"md '{md}' was not found")
    return md


def lesson_key(lesson: str) -> str:
    """The run tag `.dagster/esl.lesson_key`: first 16 hex digits of the sha256 of the lesson as
    a run gets it (the resolved absolute path, or the `s3://` URI)."""
    return hashlib.sha256(lesson.encode("utf-8")).hexdigest()[:16]

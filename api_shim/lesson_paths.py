"""Resolution of a job's `md` to a lesson file inside the configured lesson roots (design D10).

The original resolved a relative `md` against `PIPELINE_CWD`; this keeps that, then follows
symlinks and insists that the real file lies inside a lesson root. The root check runs before
any existence check, so a request can never probe for files outside the roots.
"""

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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


def lesson_key(path: Path) -> str:
    """The run tag `.dagster/esl.lesson_key`: first 16 hex digits of sha256 of the resolved path."""
    return hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]

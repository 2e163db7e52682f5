"""The lesson folder sensor: one ``lesson_job`` run per new or changed lesson.

Cursor: a JSON object ``{"v": 1, "files": {key: [stamp, sha16]}}``. The stamp (mtime + size, or
the S3 ETag) is the per-file high-water mark: a file whose stamp is unchanged is not read again; a
file whose stamp moved is hashed, and only a new content hash launches a run. Unlike a single
folder-wide mtime mark this also sees files copied in with an older mtime (``cp -p``, rsync).
Run key = ``<source>/<relative path>:<sha16>:<version>``, where the version is a short hash of the
stamp: Dagster itself refuses duplicates if the cursor is ever reset, yet a lesson reverted to
earlier content (A -> B -> A) is a new version and runs again, so Notion and the manifest follow
it. Unreadable files are not recorded, so they are retried on the next tick.
"""

import hashlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import dagster as dg
import pydantic

from esl_dagster.defs.lessons.jobs import lesson_job
from esl_dagster.defs.lessons.run_config import options_to_run_config
from esl_dagster.defs.lessons.tags import lesson_run_tags
from esl_dagster.pipeline.options import JobOptions
from esl_dagster.resources.lesson_sources import (
    LessonCandidate,
    LessonSourcesResource,
    SourceListing,
)

CURSOR_VERSION = 1

# This sensor passes no ``owners``, but Dagster copies every sensor when it binds resources and
# passes the copy ``owners=[]``, which raises the beta-parameter warning on each code-location
# load (hundreds of lines an hour in daemon.log). Only that one warning is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"Parameter `owners` of initializer `SensorDefinition.__init__` is currently in beta",
    category=dg.BetaWarning,
)


def content_hash(data: bytes) -> str:
    """The first 16 hex digits of the sha256 of ``data`` (the run key's content part)."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class TickReport:
    """What one evaluation saw, for the skip reason and the log."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    problems: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    def skip_reason(self, sources: int) -> str:
        if sources == 0:
            return (
                "No lesson folder or S3 prefix configured (ESL_LESSON_FOLDERS, ESL_LESSON_S3_URI)."
            )
        parts = [f"No new or changed lessons in {sources} source(s)"]
        parts.append(f"{self.unchanged} unchanged")
        if self.empty:
            parts.append("no lessons found in " + ", ".join(self.empty))
        if self.deleted:
            parts.append(f"{self.deleted} removed since the last tick")
        if self.problems:
            parts.append(f"{len(self.problems)} problem(s): " + "; ".join(self.problems[:5]))
        return ", ".join(parts) + "."


def version_of(stamp: str) -> str:
    """A short, stable id of one version of a file (its mtime + size, or ETag + LastModified)."""
    return hashlib.sha256(stamp.encode()).hexdigest()[:8]


def load_cursor(raw: str | None) -> dict[str, list[str]]:
    """The ``files`` map of a cursor; a missing or unreadable cursor starts from scratch."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict) or value.get("v") != CURSOR_VERSION:
        return {}
    files = value.get("files")
    return files if isinstance(files, dict) else {}


def dump_cursor(files: dict[str, list[str]]) -> str:
    return json.dumps({"v": CURSOR_VERSION, "files": files}, sort_keys=True, separators=(",", ":"))


def _options_for(listing: SourceListing, candidate: LessonCandidate) -> JobOptions:
    return JobOptions.model_validate({**listing.defaults, "md": str(candidate.local_path)})


def evaluate_sources(
    listings: list[SourceListing], seen: dict[str, list[str]], report: TickReport
) -> Iterator[tuple[dg.RunRequest | None, str, list[str] | None]]:
    """For each candidate: a run request (or None) and the cursor entry to keep (None = drop)."""
    for listing in listings:
        report.problems.extend(listing.problems)
        report.problems.extend(listing.skipped)
        if not listing.candidates and not listing.problems and not listing.skipped:
            report.empty.append(listing.label)
        if listing.problems and not listing.candidates:
            # The source could not be listed: keep what was known about it.
            prefix = f"{listing.label}/"
            for key, entry in seen.items():
                if key.startswith(prefix):
                    yield None, key, entry
            continue
        for candidate in listing.candidates:
            yield from _evaluate_candidate(listing, candidate, seen.get(candidate.key), report)


def _evaluate_candidate(
    listing: SourceListing,
    candidate: LessonCandidate,
    known: list[str] | None,
    report: TickReport,
) -> Iterator[tuple[dg.RunRequest | None, str, list[str] | None]]:
    if known is not None and known[0] == candidate.stamp:
        report.unchanged += 1
        yield None, candidate.key, known
        return
    try:
        data = candidate.read()
    except OSError as exc:
        report.problems.append(f"{candidate.key}: unreadable ({exc.strerror or exc})")
        yield None, candidate.key, known
        return
    digest = content_hash(data)
    if known is not None and known[1] == digest:
        report.unchanged += 1
        yield None, candidate.key, [candidate.stamp, digest]
        return
    try:
        options = _options_for(listing, candidate)
    except pydantic.ValidationError as exc:
        report.problems.append(
            f"{listing.label}: invalid default options ({exc.error_count()} error(s))"
        )
        yield None, candidate.key, known
        return
    try:
        candidate.stage(data)
    except OSError as exc:
        report.problems.append(f"{candidate.key}: cannot stage ({exc.strerror or exc})")
        yield None, candidate.key, known
        return
    if known is None:
        report.new += 1
    else:
        report.changed += 1
    request = dg.RunRequest(
        run_key=f"{candidate.key}:{digest}:{version_of(candidate.stamp)}",
        run_config={"ops": {"validate_lesson": {"config": options_to_run_config(options)}}},
        tags=lesson_run_tags(options, source="sensor", lesson=candidate.key, key_of=candidate.uri),
    )
    yield request, candidate.key, [candidate.stamp, digest]


@dg.sensor(
    job=lesson_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Launches one lesson_job run per new or changed lesson in the configured folders and S3 "
        "prefix; per-folder default options come from esl.defaults.json."
    ),
)
def lesson_folder_sensor(
    context: dg.SensorEvaluationContext, lesson_sources: LessonSourcesResource
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    listings = lesson_sources.listings()
    seen = load_cursor(context.cursor)
    report = TickReport()
    kept: dict[str, list[str]] = {}
    requests: list[dg.RunRequest] = []
    for request, key, entry in evaluate_sources(listings, seen, report):
        if request is not None:
            requests.append(request)
        if entry is not None:
            kept[key] = entry
    report.deleted = len(set(seen) - set(kept))
    for problem in report.problems:
        context.log.warning(problem)
    context.update_cursor(dump_cursor(kept))
    if not requests:
        yield dg.SkipReason(report.skip_reason(len(listings)))
        return
    context.log.info(
        f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged, "
        f"{report.deleted} removed lesson(s)"
    )
    yield from requests

"""Where lessons are watched: local folders and an optional S3 prefix (the folder sensor and the
nightly revalidation read them through this resource).

Each source lists :class:`LessonCandidate` entries with a cheap *stamp* (mtime + size locally, the
ETag on S3) so the sensor reads only what may have changed. Local files are resolved (symlinks
followed) and must lie inside the folder, the rule the API applies to a job's ``md``: a link out
of the folder is reported as a problem and never read; a run gets the resolved path. A source may carry default job options
in an ``esl.defaults.json`` file at its root (a JSON object of ``JobOptions`` fields, e.g.
``{"student": "Anna", "preset": "ocean"}``): the defaults travel with the folder, so a teacher's
folder needs no redeploy to change them. S3 lessons are copied to ``staging_dir`` before a run is
requested, at a path fixed per object key (the path the engine stages an ``s3://`` lesson to), so
reruns of one S3 lesson share one manifest. Keys under a hidden folder (a segment starting with
``.``, such as the API's ``.uploads/``) are skipped, as hidden folders are locally.
"""

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pydantic

from esl_dagster.pipeline.lesson.source import staging_path, write_staged_copy
from esl_dagster.pipeline.settings_variables import DEFAULT_LESSON_STAGING_DIR
from esl_dagster.resources.s3_storage import S3StorageResource

DEFAULTS_FILE = "esl.defaults.json"
LESSON_SUFFIX = ".md"


@dataclass(frozen=True)
class LessonCandidate:
    """One lesson file seen in a source. ``read`` raises ``OSError`` when it cannot be read;
    ``uri`` is an S3 lesson's ``s3://bucket/key`` (its run's lesson key tag derives from it, as
    for a run the API submits with that URI)."""

    key: str
    stamp: str
    local_path: Path
    read: Callable[[], bytes]
    stage: Callable[[bytes], None] = lambda _data: None
    uri: str | None = None


@dataclass
class SourceListing:
    """A source's lessons, its default options and the problems met while listing it.

    ``problems`` concern the source as a whole (with no candidates, it could not be listed);
    ``skipped`` names single files refused while listing (a link out of the folder).
    """

    label: str
    candidates: list[LessonCandidate] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class LessonSourcesResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Lesson folders (label = folder name) and an optional ``s3://bucket/prefix`` to watch."""

    folders: list[str] = pydantic.Field(default_factory=list)
    s3_uri: str | None = None
    s3: S3StorageResource
    staging_dir: str = DEFAULT_LESSON_STAGING_DIR

    def listings(self) -> list[SourceListing]:
        """Every configured source, listed now; a source that cannot be listed says why."""
        result = [list_folder(Path(folder)) for folder in self.folders]
        if self.s3_uri:
            result.append(self._list_s3(self.s3_uri))
        labels = [listing.label for listing in result]
        for listing in result:
            if labels.count(listing.label) > 1:
                listing.problems.append(
                    f"{listing.label}: two sources share this name; rename one folder"
                )
                listing.candidates.clear()
        return result

    def _list_s3(self, uri: str) -> SourceListing:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        label = f"s3:{bucket}/{prefix}" if prefix else f"s3:{bucket}"
        listing = SourceListing(label=label)
        client = self.s3.client()
        root = f"{prefix}/" if prefix else ""
        staging_root = Path(self.staging_dir).resolve()
        try:
            for key, etag in _s3_objects(client, bucket, root):
                relative = key[len(root) :]
                if relative == DEFAULTS_FILE:
                    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                    _load_defaults(listing, body, f"s3://{bucket}/{key}")
                elif relative.endswith(LESSON_SUFFIX):
                    if not _is_safe_key(key):
                        listing.problems.append(
                            f"s3://{bucket}/{key}: unsafe object key (empty, '.' or '..' "
                            "segment), not staged"
                        )
                        continue
                    if _is_hidden(relative):
                        continue  # e.g. .uploads/: the API's uploads run only when submitted
                    target = staging_path(staging_root, bucket, key)
                    listing.candidates.append(
                        LessonCandidate(
                            key=f"{label}/{relative}",
                            stamp=etag,
                            local_path=target,
                            read=_s3_reader(client, bucket, key),
                            stage=_stager(target),
                            uri=f"s3://{bucket}/{key}",
                        )
                    )
        except (BotoCoreError, ClientError) as exc:
            listing.problems.append(f"{label}: cannot list ({exc.__class__.__name__}: {exc})")
            listing.candidates.clear()
        return listing


def list_folder(folder: Path) -> SourceListing:
    root = folder.expanduser().resolve()
    listing = SourceListing(label=root.name)
    if not root.is_dir():
        listing.problems.append(f"{root}: folder not found")
        return listing
    defaults_path = root / DEFAULTS_FILE
    if defaults_path.exists():
        try:
            _load_defaults(listing, defaults_path.read_bytes(), str(defaults_path))
        except OSError as exc:
            listing.problems.append(f"{defaults_path}: unreadable ({exc.strerror or exc})")
    for path in sorted(root.rglob(f"*{LESSON_SUFFIX}")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(root):
            # The API's lesson-root rule: a symlink (of the file or of a folder on its way) that
            # leads out of the watched folder is never read or launched.
            listing.skipped.append(
                f"{listing.label}/{relative.as_posix()}: links to {real}, outside the lesson "
                f"folder {root}; not read or launched"
            )
            continue
        if real.is_dir():
            continue
        try:
            info = real.stat()
        except OSError as exc:
            listing.problems.append(f"{path}: unreadable ({exc.strerror or exc})")
            continue
        listing.candidates.append(
            LessonCandidate(
                key=f"{listing.label}/{relative.as_posix()}",
                stamp=f"{info.st_mtime_ns}:{info.st_size}",
                local_path=real,
                read=real.read_bytes,
            )
        )
    return listing


def _load_defaults(listing: SourceListing, data: bytes, where: str) -> None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        listing.problems.append(f"{where}: not valid JSON ({exc})")
        return
    if not isinstance(value, dict) or "md" in value:
        listing.problems.append(f"{where}: must be a JSON object of job options without 'md'")
        return
    listing.defaults = value


def _s3_objects(client: Any, bucket: str, root: str) -> Iterator[tuple[str, str]]:
    """``(key, stamp)`` of every object; the stamp is the ETag plus the modification time, so a
    re-upload of earlier content is still a new version."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=root):
        for item in page.get("Contents", []):
            etag = item["ETag"].strip('"')
            yield item["Key"], f"{etag}:{item['LastModified'].isoformat()}"


def _is_safe_key(key: str) -> bool:
    """True when ``key`` maps to a path inside the staging folder (no ``..``, no absolute path)."""
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _s3_reader(client: Any, bucket: str, key: str) -> Callable[[], bytes]:
    def read() -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise OSError(f"s3://{bucket}/{key}: {exc}") from exc
        return data

    return read


def _is_hidden(relative: str) -> bool:
    """True for a key under a hidden folder (or a hidden file), as the folder listing skips."""
    return any(part.startswith(".") for part in relative.split("/"))


def _stager(target: Path) -> Callable[[bytes], None]:
    def stage(data: bytes) -> None:
        write_staged_copy(target, data)

    return stage

"""Where a job's lesson comes from, and the one function that reads its bytes.

A job's ``md`` is a local path or an S3 URI, ``s3://<bucket>/<key>`` (the API stores uploaded
lessons at ``<ESL_LESSON_S3_URI>/.uploads/<sha256>.md`` and submits that URI). Either way the
lesson has a *local path* that names it to the manifest store, the Notion page key and the
preview: the resolved file, or for S3 ``<ESL_LESSON_STAGING_DIR>/<bucket>/<key>``, the path the
lesson sensor stages S3 lessons to, so every run of one S3 object shares one manifest whichever
way it was launched. A lesson read from S3 is written there too (a copy for people and for
``esl status``; the job itself never reads it back).

:meth:`LessonReader.fetch` is the only code that reads a job's lesson bytes; a job calls it once
(see :mod:`esl_dagster.pipeline.lesson.parsed`). :meth:`LessonReader.stamp` is a cheap version
check (the file's inode, size and mtime; the object's ETag) that later stages compare with the
stamp of that read, so an edit made while the job runs is noticed without reading the lesson again.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.files import atomic_write_bytes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from esl_dagster.pipeline.settings import Settings

S3_SCHEME = "s3://"
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class LessonSource:
    """A job's lesson: ``md`` as runs name it (the resolved path, or the ``s3://`` URI) and its
    local ``path``; ``bucket`` and ``key`` are set for an S3 lesson."""

    md: str
    path: Path
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class LessonBytes:
    """What one read returned: the bytes and the version stamp they were read at."""

    data: bytes
    stamp: str


def is_s3_uri(md: str) -> bool:
    return md.startswith(S3_SCHEME)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; a key that could leave the staging folder (an
    empty, ``.`` or ``..`` segment) is refused."""
    bucket, _, key = uri.removeprefix(S3_SCHEME).partition("/")
    if not bucket or not key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ConfigurationError(
            f"invalid S3 lesson {uri!r}: use s3://<bucket>/<key> without empty, '.' or '..' parts"
        )
    return bucket, key


def staging_path(staging_root: Path, bucket: str, key: str) -> Path:
    """The fixed local path of S3 object ``key`` in ``bucket`` (shared with the lesson sensor)."""
    return staging_root / bucket / key


def locate_lesson(md: str, settings: "Settings") -> LessonSource:
    """The lesson ``md`` names: a local path (``~`` expanded, absolute, links resolved), or an
    S3 URI with its staging path."""
    if not is_s3_uri(md):
        path = Path(md).expanduser().resolve()
        return LessonSource(md=str(path), path=path)
    bucket, key = split_s3_uri(md)
    root = settings.resolve_path(settings.general.lesson_staging_dir).resolve()
    return LessonSource(md=md, path=staging_path(root, bucket, key), bucket=bucket, key=key)


def write_staged_copy(target: Path, data: bytes) -> None:
    """Write a staged lesson copy atomically (a reader never sees half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)


class LessonReader:
    """Reads lessons with the settings' S3 connection (endpoint, path style, keys; the same
    variables as the audio uploads), built on first use and reused by the job's stages."""

    def __init__(self, settings: "Settings") -> None:
        self.settings = settings
        self._client: S3Client | None = None

    def fetch(self, source: LessonSource) -> LessonBytes:
        """Read the lesson's bytes (the single read of a job); an S3 lesson is also staged."""
        if source.bucket is None or source.key is None:
            return _read_file(source.path)
        data, etag = self._get_object(source.bucket, source.key)
        try:
            write_staged_copy(source.path, data)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot stage {source.md} at {source.path}: {exc.strerror or exc}; "
                "set ESL_LESSON_STAGING_DIR to a writable folder"
            ) from exc
        return LessonBytes(data=data, stamp=etag)

    def stamp(self, source: LessonSource) -> str:
        """The lesson's current version stamp, without reading its content."""
        if source.bucket is None or source.key is None:
            try:
                return _file_stamp(source.path.stat())
            except OSError:
                return "missing"
        from botocore.exceptions import BotoCoreError, ClientError

        uri = source.md
        try:
            head = self._s3().head_object(Bucket=source.bucket, Key=source.key)
        except ClientError as exc:
            if _not_found(exc):
                return "missing"
            raise _s3_error(exc, f"HEAD {uri}") from exc
        except BotoCoreError as exc:
            raise _s3_error(exc, f"HEAD {uri}") from exc
        return str(head.get("ETag", ""))

    def _get_object(self, bucket: str, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        uri = f"{S3_SCHEME}{bucket}/{key}"
        try:
            response = self._s3().get_object(Bucket=bucket, Key=key)
            data = response["Body"].read()
        except ClientError as exc:
            if _not_found(exc):
                raise ConfigurationError(f"lesson not found: {uri} (no such S3 object)") from None
            raise _s3_error(exc, f"read lesson {uri}") from exc
        except BotoCoreError as exc:
            raise _s3_error(exc, f"read lesson {uri}") from exc
        return data, str(response.get("ETag", ""))

    def _s3(self) -> "S3Client":
        if self._client is None:
            from esl_dagster.pipeline.storage.s3_client import s3_client

            self._client = s3_client(self.settings.s3_client_settings)
        return self._client


def _read_file(path: Path) -> LessonBytes:
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        raise ConfigurationError(f"lesson file not found: {path}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read lesson {path}: {exc.strerror}") from exc
    return LessonBytes(data=data, stamp=_file_stamp(info))


def _file_stamp(info: os.stat_result) -> str:
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _not_found(exc: Any) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in _NOT_FOUND or status == 404


def _s3_error(exc: Exception, what: str) -> Exception:
    from esl_dagster.pipeline.storage.s3_uploads import to_pipeline_error

    return to_pipeline_error(exc, what)

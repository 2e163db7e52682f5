"""The uploader contract and the key rules shared by every target."""

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel

from esl_dagster.pipeline.errors import ConfigurationError, InfrastructureError

AUDIO_CONTENT_TYPE = "audio/mpeg"
_CHUNK = 1024 * 1024


class UploadResult(BaseModel):
    """``url`` is what a reader opens (presigned when asked); ``location`` names the object
    (``s3://bucket/key`` or the local path); ``reused`` is True when identical content was
    already stored under ``key`` and nothing was written. ``status`` and ``expiry_time`` describe
    a Notion file upload (None for other targets)."""

    url: str
    key: str
    bucket: str | None
    location: str
    etag: str | None
    reused: bool
    status: str | None = None
    expiry_time: str | None = None


def sanitize_prefix(prefix: str | None) -> str:
    """A key prefix that cannot escape: ``/``- or ``\\``-separated parts, empty, ``.`` and
    ``..`` parts dropped, control characters rejected."""
    if not prefix:
        return ""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in prefix):
        raise ConfigurationError("storage key prefix contains control characters")
    parts = [part.strip() for part in prefix.replace("\\", "/").split("/")]
    return "/".join(part for part in parts if part and part not in (".", ".."))


def object_key(path: Path, *prefixes: str | None) -> str:
    """``<prefix>/<more prefix>/<file name>``; the file name is content-addressed by the TTS
    stage, so the same audio always lands on the same key."""
    name = path.name
    if not name or name in (".", ".."):
        raise ConfigurationError(f"cannot upload {path}: no file name")
    joined = "/".join(p for p in (sanitize_prefix(prefix) for prefix in prefixes) if p)
    return f"{joined}/{name}" if joined else name


def upload_key(path: Path, *prefixes: str | None) -> str:
    """The key of a file about to be uploaded; an ``InfrastructureError`` when it is missing."""
    if not path.is_file():
        raise InfrastructureError(f"cannot upload {path}: file not found")
    return object_key(path, *prefixes)


class KeyedUploader(ABC):
    """An uploader that stores a file under the key it derives: ``<prefix>/<key prefix>/<file
    name>`` (S3 and the local folder; Notion names an upload by the id it gives it, see
    :class:`~esl_dagster.pipeline.storage.notion_uploads.NotionUploader`)."""

    prefix: str

    def upload(
        self,
        path: Path,
        *,
        key_prefix: str | None = None,
        public_read: bool = False,
        presign_seconds: int | None = None,
    ) -> UploadResult:
        key = upload_key(path, self.prefix, key_prefix)
        return self.store(path, key, public_read=public_read, presign_seconds=presign_seconds)

    @abstractmethod
    def store(
        self, path: Path, key: str, *, public_read: bool, presign_seconds: int | None
    ) -> UploadResult:
        """Put the (existing) file ``path`` at ``key``, or find it already there."""


def content_type_for(path: Path) -> str:
    return AUDIO_CONTENT_TYPE if path.suffix.lower() == ".mp3" else "application/octet-stream"


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()

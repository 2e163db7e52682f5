"""S3 mode: lessons under the S3 lesson prefix (`ESL_LESSON_S3_URI`, the one the S3 lesson sensor
watches), for `POST /uploads` (store) and `POST /jobs` (check).

An upload is stored at `<prefix>/.uploads/<sha256>.md` and named by its URI
`s3://bucket/prefix/.uploads/<sha256>.md`: the same bytes give the same key, and a HEAD that shows
the object with the same size skips the PUT. The sensor skips keys with a hidden segment, so an
upload runs only when a client submits it, as in local mode.

boto3 is imported on first use (a shim without S3 mode never loads it). Every call is blocking
and bounded (short connect/read timeouts, boto3's standard retry mode with few attempts); callers
run them in a worker thread. Any failure to get an answer from S3 is `S3Unavailable` (the API's
503); only "not found" is an answer about the object.
"""

import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api_shim.core.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_SCHEME = "s3://"
UPLOADS_FOLDER = ".uploads"
LESSON_SUFFIX = ".md"
NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3Unavailable(Exception):
    """S3 did not answer usefully (unreachable, timeout, 5xx, access refused)."""


@dataclass(frozen=True)
class StoredObject:
    uri: str
    sha256: str
    size: int
    written: bool


@dataclass(frozen=True)
class S3Prefix:
    """`s3://bucket/prefix` split; `prefix` has no leading or trailing slash ("" = whole bucket)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> "S3Prefix":
        bucket, _, prefix = uri.removeprefix(S3_SCHEME).partition("/")
        return cls(bucket, prefix.strip("/"))

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{key}"

    def key_of(self, uri: str) -> str | None:
        """The object key `uri` names when it lies under this prefix and every segment is a
        plain name (no empty, `.` or `..` segment: the engine stages keys as local paths)."""
        if not uri.startswith(f"{S3_SCHEME}{self.bucket}/"):
            return None
        key = uri[len(S3_SCHEME) + len(self.bucket) + 1 :]
        if self.prefix and not key.startswith(f"{self.prefix}/"):
            return None
        if any(part in ("", ".", "..") for part in key.split("/")):
            return None
        return key


def is_s3_uri(md: str) -> bool:
    return md.startswith(S3_SCHEME)


def _client_error_code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class LessonBucket:
    """The lesson prefix on S3, with one lazily built boto3 client (thread-safe once built)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.lesson_s3_uri is not None
        self.location = S3Prefix.parse(settings.lesson_s3_uri)
        self._settings = settings
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def _s3(self) -> "S3Client":
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> "S3Client":
        import boto3
        from botocore.config import Config

        settings = self._settings
        path_style = settings.s3_force_path_style or settings.s3_endpoint_url is not None
        config = Config(
            connect_timeout=settings.s3_connect_timeout_s,
            read_timeout=settings.s3_read_timeout_s,
            retries={"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
            s3={"addressing_style": "path" if path_style else "auto"},
        )
        key_id, secret = settings.aws_access_key_id, settings.aws_secret_access_key
        client: S3Client = boto3.session.Session().client(
            "s3",
            region_name=settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=key_id.get_secret_value() if key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=config,
        )
        return client

    def size_of(self, key: str) -> int | None:
        """The object's size, or None when S3 answers that it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self._s3().head_object(Bucket=self.location.bucket, Key=key)
        except ClientError as exc:
            if _client_error_code(exc) in NOT_FOUND_CODES:
                return None
            raise S3Unavailable(f"HEAD s3://{self.location.bucket}/{key}: {exc}") from exc
        except BotoCoreError as exc:
            raise S3Unavailable(f"HEAD s3://{self.location.bucket}/{key}: {exc}") from exc
        return int(head["ContentLength"])

    def store_upload(self, data: bytes) -> StoredObject:
        """Put `data` at `<prefix>/.uploads/<sha256>.md` unless an object of that size is there."""
        from botocore.exceptions import BotoCoreError, ClientError

        digest = hashlib.sha256(data).hexdigest()
        key = self.location.key(f"{UPLOADS_FOLDER}/{digest}{LESSON_SUFFIX}")
        uri = self.location.uri(key)
        if self.size_of(key) == len(data):
            return StoredObject(uri, digest, len(data), written=False)
        try:
            self._s3().put_object(
                Bucket=self.location.bucket,
                Key=key,
                Body=data,
                ContentType="text/markdown; charset=utf-8",
            )
        except (BotoCoreError, ClientError) as exc:
            raise S3Unavailable(f"PUT {uri}: {exc}") from exc
        return StoredObject(uri, digest, len(data), written=True)

"""S3 / MinIO uploads through boto3 (imported lazily so importing the engine stays light).

The key is ``<prefix>/<key prefix>/<file name>``; the file name is content-addressed, so an
upload of the same audio finds the object by a HEAD (same size and MD5) and writes nothing, and
changed audio under the same name overwrites the same key: never a second object.
"""

import base64
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from esl_dagster.pipeline.errors import (
    ConfigurationError,
    InfrastructureError,
    PipelineError,
    ServiceError,
    is_transient_status,
)
from esl_dagster.pipeline.settings import S3Settings
from esl_dagster.pipeline.storage.base import (
    KeyedUploader,
    UploadResult,
    content_type_for,
    file_md5,
    sanitize_prefix,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_LOG = logging.getLogger(__name__)
_SERVICE = "s3"
MD5_METADATA_KEY = "md5"
_ACL_REFUSED = frozenset({"AccessControlListNotSupported", "AccessDenied"})
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_THROTTLING = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed"}
)
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def _client_error_parts(exc: Any) -> tuple[str, int | None, str]:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or ""), status, str(error.get("Message") or exc)


def to_pipeline_error(exc: Exception, what: str) -> PipelineError:
    """A boto3/botocore failure as the shared error type (transient for 5xx, throttling and
    connection problems). A transient fault reaches here after the client's own retries (see
    :mod:`esl_dagster.pipeline.storage.s3_client`), so it is marked ``retried``."""
    from botocore import exceptions as boto_errors  # lazy: see the module docstring

    if isinstance(exc, boto_errors.ClientError):
        code, status, message = _client_error_parts(exc)
        transient = code in _THROTTLING or (status is not None and is_transient_status(status))
        return ServiceError(
            _SERVICE,
            f"{what} failed ({code or status}): {message}",
            status=status,
            transient=transient,
            retried=transient,
        )
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return ConfigurationError(f"S3 credentials missing or incomplete: {exc}")
    transient = isinstance(
        exc,
        boto_errors.EndpointConnectionError
        | boto_errors.ConnectionClosedError
        | boto_errors.ReadTimeoutError
        | boto_errors.ConnectTimeoutError
        | boto_errors.ConnectionError,
    )
    return ServiceError(_SERVICE, f"{what} failed: {exc}", transient=transient, retried=transient)


class S3Uploader(KeyedUploader):
    """Uploads to the bucket of ``settings`` (AWS S3, or MinIO and other S3-compatible servers
    at its ``endpoint_url``, path-style). ``prefix`` goes before every key (the job's key prefix
    follows it); the settings' own ``prefix`` is the jobs' default key prefix, so it is not
    applied here. ``client`` injects a ready boto3 client, else one is made from ``settings``
    by :func:`~esl_dagster.pipeline.storage.s3_client.s3_client`."""

    def __init__(
        self, settings: S3Settings, *, prefix: str | None = None, client: "S3Client | None" = None
    ) -> None:
        if not settings.bucket or not settings.bucket.strip():
            raise ConfigurationError("S3 bucket not configured (set S3_BUCKET)")
        self.bucket = settings.bucket.strip()
        self.region = settings.region or "us-east-1"
        self.endpoint_url = settings.endpoint_url.rstrip("/") if settings.endpoint_url else None
        self.prefix = sanitize_prefix(prefix)
        if client is None:
            from esl_dagster.pipeline.storage.s3_client import s3_client

            client = s3_client(settings)
        self._client = client

    def public_url(self, key: str) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url}/{self.bucket}/{quote(key)}"
        return f"https://{self.bucket}.s3.{self.region}.amazonaws.com/{quote(key)}"

    def store(
        self, path: Path, key: str, *, public_read: bool, presign_seconds: int | None
    ) -> UploadResult:
        if presign_seconds is not None and not 1 <= presign_seconds <= _MAX_PRESIGN_SECONDS:
            raise ConfigurationError("presigned URL expiry must be between 1 s and 7 days")
        md5 = file_md5(path)
        existing = self._head(key)
        reused = existing is not None and (
            existing.get("ContentLength") == path.stat().st_size
            and (
                (existing.get("Metadata") or {}).get(MD5_METADATA_KEY) == md5
                or existing.get("ETag") == f'"{md5}"'
            )
        )
        if existing is not None and reused:
            etag = existing.get("ETag")
            if public_read:
                self._make_public(key)
        else:
            etag = self._put(path, key, md5, public_read)
        url = self._presign(key, presign_seconds) if presign_seconds else self.public_url(key)
        return UploadResult(
            url=url,
            key=key,
            bucket=self.bucket,
            location=f"s3://{self.bucket}/{key}",
            etag=etag,
            reused=reused,
        )

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return dict(self._client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            code, status, _ = _client_error_parts(exc)
            if code in _NOT_FOUND or status == 404:
                return None
            if status == 403:
                # No HeadObject permission: upload anyway (it overwrites the same key).
                return None
            raise to_pipeline_error(exc, f"HEAD s3://{self.bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise to_pipeline_error(exc, f"HEAD s3://{self.bucket}/{key}") from exc

    def _put(self, path: Path, key: str, md5: str, public_read: bool) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        what = f"upload to s3://{self.bucket}/{key}"
        extra: dict[str, Any] = {
            "ContentType": content_type_for(path),
            "Metadata": {MD5_METADATA_KEY: md5},
            "ContentMD5": base64.b64encode(bytes.fromhex(md5)).decode(),
        }
        attempts = [{**extra, "ACL": "public-read"}, extra] if public_read else [extra]
        for index, arguments in enumerate(attempts):
            try:
                with path.open("rb") as body:
                    response = self._client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, **arguments
                    )
                return response.get("ETag")
            except ClientError as exc:
                code, _, _ = _client_error_parts(exc)
                if index + 1 < len(attempts) and code in _ACL_REFUSED:
                    _LOG.warning(
                        "bucket %s refused the public-read ACL (%s); uploaded without it",
                        self.bucket,
                        code,
                    )
                    continue
                raise to_pipeline_error(exc, what) from exc
            except BotoCoreError as exc:
                raise to_pipeline_error(exc, what) from exc
        raise InfrastructureError(f"{what}: no upload attempt made")

    def _make_public(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object_acl(Bucket=self.bucket, Key=key, ACL="public-read")
        except ClientError as exc:
            code, _, _ = _client_error_parts(exc)
            if code not in _ACL_REFUSED:
                raise to_pipeline_error(exc, f"set public-read on {key}") from exc
            _LOG.warning("bucket %s refused the public-read ACL (%s)", self.bucket, code)
        except BotoCoreError as exc:
            raise to_pipeline_error(exc, f"set public-read on {key}") from exc

    def _presign(self, key: str, seconds: int) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            raise to_pipeline_error(exc, f"presign s3://{self.bucket}/{key}") from exc

"""The one S3 client factory: uploads, the S3 manifest store and S3 lesson sources use it, so all
three share endpoint, path-style addressing, timeouts and retries.

boto3 is imported here, lazily (inside :func:`s3_client`), so importing the engine stays light.
Retries are botocore's ``standard`` mode: throttling, 5xx and connection errors are retried with
jittered exponential backoff, ``S3_TOTAL_ATTEMPTS`` requests per call in all; the Dagster op does
not retry an S3 fault again (see :mod:`esl_dagster.pipeline.retry_budget`).
"""

from typing import TYPE_CHECKING

from esl_dagster.pipeline.retry_budget import S3_TOTAL_ATTEMPTS
from esl_dagster.pipeline.settings import S3Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_CONNECT_TIMEOUT_SECONDS = 10.0
S3_READ_TIMEOUT_SECONDS = 60.0


def s3_client(settings: S3Settings) -> "S3Client":
    """A boto3 S3 client for ``settings`` (credentials: the given ones, else boto3's chain)."""
    import boto3
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        retries={"total_max_attempts": S3_TOTAL_ATTEMPTS, "mode": "standard"},
        connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
        read_timeout=S3_READ_TIMEOUT_SECONDS,
        s3={"addressing_style": "path"} if settings.force_path_style else {},
    )
    return boto3.client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url.rstrip("/") if settings.endpoint_url else None,
        aws_access_key_id=settings.access_key_id or None,
        aws_secret_access_key=settings.secret_access_key or None,
        config=config,
    )

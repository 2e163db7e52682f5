"""S3-compatible storage (AWS S3 or MinIO) as a Dagster resource.

Clients come from dagster-aws's ``S3Resource``, imported inside :meth:`S3StorageResource.client`
so that loading the code location does not import boto3 (design D5: with no bucket configured,
nothing S3 is touched at all).
"""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3StorageResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Connection and location of the S3 bucket; unconfigured (no ``bucket``) means "no S3"."""

    bucket: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    region_name: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    max_attempts: int = 5

    def client(self) -> "S3Client":
        """A boto3 S3 client built by dagster-aws's ``S3Resource`` from this configuration."""
        from dagster_aws.s3 import S3Resource

        resource = S3Resource(
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            max_attempts=self.max_attempts,
        )
        client: S3Client = resource.get_client()
        return client

"""S3-compatible storage (AWS S3 or MinIO) as a Dagster resource, for the S3 lesson source.

Its client comes from the engine's one S3 client factory, with the connection the engine's settings
derive from ``variables`` (the same bound variables as ``PipelineResource``): same endpoint,
path-style addressing, timeouts and retries as uploads and the S3 manifest store. boto3 is imported
only inside :meth:`S3StorageResource.client` (design D5: with no S3 configured, nothing S3 is
touched at all).
"""

from typing import TYPE_CHECKING

import dagster as dg
import pydantic

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3StorageResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """S3 connection settings as variable name -> value (``S3_ENDPOINT_URL``, ``AWS_REGION``,
    ``MINIO_*`` ...), each bound as ``dg.EnvVar`` in ``defs/resource_bindings.py``."""

    variables: dict[str, str] = pydantic.Field(default_factory=dict)

    def client(self) -> "S3Client":
        """A boto3 S3 client from the engine's S3 client factory."""
        from esl_dagster.pipeline.settings import settings_from_variables
        from esl_dagster.pipeline.storage.s3_client import s3_client

        return s3_client(settings_from_variables(self.variables).s3_client_settings)

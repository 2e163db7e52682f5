"""Settings sections of storage: S3 (or MinIO) for audio, the local upload folder, manifests.

:class:`S3Settings` is the *effective* S3 connection (MinIO's settings when MinIO is enabled,
else ``S3_*``/``AWS_*``): the one input of the S3 client factory
(:mod:`esl_dagster.pipeline.storage.s3_client`) used for uploads, manifests and S3 lesson sources.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from esl_dagster.pipeline.settings.choices import normalised_choice

ManifestStoreKind = Literal["filesystem", "s3"]


@dataclass(frozen=True)
class S3Settings:
    """The effective S3-compatible storage settings (AWS S3, or MinIO when enabled)."""

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None
    access_key_id: str | None
    secret_access_key: str | None
    force_path_style: bool


def reveal(secret: SecretStr | None) -> str | None:
    """The value of an optional secret."""
    return None if secret is None else secret.get_secret_value()


class StorageSettings(BaseModel):
    """AWS S3 (or any S3-compatible endpoint) for audio uploads, and the local upload folder."""

    bucket: str | None = Field(
        None,
        description="Bucket for audio uploads; when unset (and no MinIO), uploads go to Notion "
        "itself when NOTION_TOKEN is set, else to a local folder.",
    )
    prefix: str = Field("", description="Key prefix for audio uploads.")
    region: str = Field("us-east-1", description="AWS region.")
    access_key_id: SecretStr | None = Field(
        None, description="AWS access key id (default: boto3's credential chain)."
    )
    secret_access_key: SecretStr | None = Field(None, description="AWS secret access key.")
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (implies path-style addressing)."
    )
    force_path_style: bool = Field(
        False, description="Use path-style addressing even without a custom endpoint."
    )
    local_upload_dir: Path = Field(
        Path("var/uploads"),
        description="Folder receiving uploads when neither S3 storage nor a live Notion is "
        "configured, or with --upload local (relative to PIPELINE_CWD).",
    )
    public_base_url: str | None = Field(
        None,
        description="Public http(s) base URL under which the local upload folder is served "
        "(audio links; required for --upload local with a live Notion).",
    )

    def connection(self) -> S3Settings | None:
        """The S3 settings, or None without a bucket."""
        if not self.bucket:
            return None
        return S3Settings(
            bucket=self.bucket,
            prefix=self.prefix,
            region=self.region,
            endpoint_url=self.endpoint_url,
            access_key_id=reveal(self.access_key_id),
            secret_access_key=reveal(self.secret_access_key),
            force_path_style=self.force_path_style or self.endpoint_url is not None,
        )


class MinioSettings(BaseModel):
    """MinIO in place of AWS S3 (its settings replace the S3 ones; manifests go to it)."""

    enabled: bool = Field(
        False,
        description="Use MinIO as the S3 storage (MINIO_* replace the S3 settings; manifests go "
        "to it).",
    )
    endpoint: str | None = Field(None, description="MinIO host name, or a full http(s):// URL.")
    port: int = Field(9000, ge=1, le=65535, description="MinIO port.")
    use_ssl: bool = Field(False, description="Talk HTTPS to MinIO.")
    access_key: SecretStr | None = Field(None, description="MinIO access key.")
    secret_key: SecretStr | None = Field(None, description="MinIO secret key.")
    bucket: str = Field("esl-pipeline", description="MinIO bucket for audio and manifests.")
    region: str | None = Field(None, description="Region reported to MinIO (default: AWS_REGION).")

    @property
    def endpoint_url(self) -> str | None:
        """``MINIO_ENDPOINT`` as a URL: kept when it starts with http, else built from host/port."""
        if not self.endpoint:
            return None
        if self.endpoint.startswith(("http://", "https://")):
            return self.endpoint
        scheme = "https" if self.use_ssl else "http"
        return f"{scheme}://{self.endpoint}:{self.port}"

    def connection(self, storage: StorageSettings) -> S3Settings:
        """MinIO as the S3 storage (the audio key prefix and default region come from S3_*)."""
        return S3Settings(
            bucket=self.bucket,
            prefix=storage.prefix,
            region=self.region or storage.region,
            endpoint_url=self.endpoint_url,
            access_key_id=reveal(self.access_key),
            secret_access_key=reveal(self.secret_key),
            force_path_style=True,
        )


class ManifestSettings(BaseModel):
    """Where manifests live: next to each lesson (``filesystem``) or in an S3 bucket (``s3``)."""

    store: ManifestStoreKind | None = Field(
        None,
        description="Manifest store: filesystem (next to the lesson) or s3 (default: s3 with "
        "MinIO, else filesystem).",
    )
    bucket: str | None = Field(
        None, description="Bucket of the s3 manifest store (default with MinIO: MINIO_BUCKET)."
    )
    prefix: str = Field("", description="Key prefix of the s3 manifest store.")
    root: Path | None = Field(
        None,
        description="Folder that lesson paths are made relative to for s3 manifest keys "
        "(default: PIPELINE_CWD).",
    )

    @field_validator("store", mode="before")
    @classmethod
    def _normalise_store(cls, value: object) -> object:
        return normalised_choice(
            value, {"fs": "filesystem", "local": "filesystem", "file": "filesystem"}
        )

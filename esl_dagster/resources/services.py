"""The Dagster resources of the engine's services, and their composition into ``Services``.

Each resource holds one service's settings (secrets bound to ``dg.EnvVar`` in
``defs/resources.py``) and maps them onto the engine's ``Settings`` fields. A field left ``None``
is not configured by the resource: the environment decides, read by the engine's one ``Settings``
parser with every accepted variable name (aliases, MinIO, the seed's names). The choice between the
real service and the embedded default (design D5) is made once, by the engine's
``build_services``: no Notion token -> preview mode, no ElevenLabs key -> espeak-ng, no bucket ->
Notion-hosted audio when Notion is live, else the local upload folder. ``mode`` tells which one a resource selects (shown in op metadata and logs).
Client libraries are imported by the engine only when a real service is built, and the engine's
settings and services only when a resource is used: importing the code location stays light.
"""

import enum
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr

from esl_dagster.resources.s3 import S3StorageResource

if TYPE_CHECKING:
    from esl_dagster.pipeline.services import Services
    from esl_dagster.pipeline.settings import Settings


class NotionResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Notion REST API; without ``token`` imports run in preview mode (no network)."""

    token: str | None = None
    base_url: str | None = None
    notion_version: str | None = None
    timeout_seconds: float | None = None
    max_retries: int | None = None

    def settings_fields(self) -> dict[str, Any]:
        return {
            "notion_token": self.token or None,
            "notion_base_url": self.base_url,
            "notion_version": self.notion_version,
            "notion_timeout_seconds": self.timeout_seconds,
            "notion_max_retries": self.max_retries,
        }


class TTSResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """ElevenLabs text-to-speech; without ``elevenlabs_api_key`` the offline espeak-ng engine."""

    elevenlabs_api_key: str | None = None
    base_url: str | None = None
    voices_path: str | None = None
    timeout_seconds: float | None = None
    max_retries: int | None = None

    def settings_fields(self) -> dict[str, Any]:
        return {
            "elevenlabs_api_key": self.elevenlabs_api_key or None,
            "elevenlabs_base_url": self.base_url,
            "elevenlabs_voices_path": self.voices_path,
            "elevenlabs_timeout_seconds": self.timeout_seconds,
            "elevenlabs_max_retries": self.max_retries,
        }


class ManifestStoreKind(enum.Enum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


class ConfigProviderKind(enum.Enum):
    LOCAL = "local"
    REMOTE = "remote"


class ManifestStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where manifests live: next to each lesson (``filesystem``) or in an S3 bucket (``s3``)."""

    kind: ManifestStoreKind | None = None
    bucket: str | None = None
    prefix: str | None = None
    root_dir: str | None = None

    def settings_fields(self) -> dict[str, Any]:
        return {
            "manifest_store": self.kind.value if self.kind is not None else None,
            "manifest_bucket": self.bucket,
            "manifest_prefix": self.prefix,
            "manifest_root": self.root_dir,
        }


class ConfigProviderResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Presets, student profiles and voices: a local folder (with bundled defaults) or HTTP."""

    kind: ConfigProviderKind | None = None
    config_dir: str | None = None
    endpoint: str | None = None
    token: str | None = None

    def settings_fields(self) -> dict[str, Any]:
        return {
            "config_provider": self.kind.value if self.kind is not None else None,
            "config_dir": self.config_dir,
            "config_endpoint": self.endpoint,
            "config_token": self.token or None,
        }


def _s3_settings_fields(s3: S3StorageResource) -> dict[str, Any]:
    return {
        "s3_bucket": s3.bucket,
        "s3_prefix": s3.prefix,
        "s3_endpoint_url": s3.endpoint_url,
        "aws_region": s3.region_name,
        "aws_access_key_id": s3.access_key_id,
        "aws_secret_access_key": s3.secret_access_key,
    }


class PipelineResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """All services of a lesson run; ``services()`` builds the engine's ``Services`` for an op.

    ``pipeline_cwd`` anchors relative paths (lesson folders, the local upload folder).
    """

    notion: NotionResource
    tts: TTSResource
    s3: S3StorageResource
    manifests: ManifestStoreResource
    config: ConfigProviderResource
    pipeline_cwd: str | None = None
    local_upload_dir: str | None = None
    _built: "Services | None" = PrivateAttr(default=None)

    def settings(self) -> "Settings":
        """Engine settings: the fields these resources configure (not ``None``) over the
        environment's settings, so every accepted variable name keeps working inside runs."""
        fields: dict[str, Any] = {
            **self.notion.settings_fields(),
            **self.tts.settings_fields(),
            **_s3_settings_fields(self.s3),
            **self.manifests.settings_fields(),
            **self.config.settings_fields(),
            "pipeline_cwd": self.pipeline_cwd,
            "local_upload_dir": self.local_upload_dir,
        }
        from esl_dagster.pipeline.settings import load_settings

        return load_settings(
            env_file=None, **{name: value for name, value in fields.items() if value is not None}
        )

    def modes(self) -> dict[str, str]:
        """Which real service or embedded default each part uses (design D5)."""
        settings = self.settings()
        return {
            "notion": "notion" if settings.notion_enabled else "preview",
            "tts": "elevenlabs" if settings.elevenlabs_enabled else "espeak",
            "upload": (
                "s3" if settings.s3_enabled else "notion" if settings.notion_enabled else "local"
            ),
        }

    def services(self) -> "Services":
        """The engine's services for one op: built once per run process (clients are reused by
        every op of the run, which share one ``CountingMetrics``). The engine logs to the ``esl``
        logger, which the instance's ``python_logs: managed_python_loggers`` puts into the run's
        log."""
        if self._built is None:
            self._built = self._build()
        return self._built

    def _build(self) -> "Services":
        """The engine's services, chosen by its builders; S3 (or MinIO) uploads use a boto3
        client made by dagster-aws's ``S3Resource``."""
        from esl_dagster.pipeline.logs import EventLogger
        from esl_dagster.pipeline.observability import CountingMetrics
        from esl_dagster.pipeline.services import build_services

        settings = self.settings()
        s3 = settings.s3
        uploader = None
        if s3 is not None:
            from esl_dagster.pipeline.storage.s3 import S3Uploader

            client = S3StorageResource(
                bucket=s3.bucket,
                endpoint_url=s3.endpoint_url,
                region_name=s3.region,
                access_key_id=s3.access_key_id,
                secret_access_key=s3.secret_access_key,
                max_attempts=self.s3.max_attempts,
            ).client()
            uploader = S3Uploader(
                s3.bucket, region=s3.region, endpoint_url=s3.endpoint_url, client=client
            )
        return build_services(
            settings, logger=EventLogger(), metrics=CountingMetrics(), uploader=uploader
        )

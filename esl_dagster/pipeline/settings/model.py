"""``Settings``: the sections of the product's settings, their derived switches and start-up checks.

Subsystems switch on by their settings: ``NOTION_TOKEN`` -> real Notion, ``ELEVENLABS_API_KEY``
-> ElevenLabs, a bucket (``S3_BUCKET`` or MinIO) -> S3 uploads, Postgres settings -> Dagster's
Postgres storage. :meth:`Settings.validate_for_start` stops start-up with a message naming the
variable when an enabled feature lacks a setting it needs.
"""

from pathlib import Path

from pydantic import BaseModel, Field

from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings.platform import (
    ApiSettings,
    ConfigFilesSettings,
    GeneralSettings,
    PostgresSettings,
)
from esl_dagster.pipeline.settings.services import NotionSettings, SpeechSettings
from esl_dagster.pipeline.settings.storage import (
    ManifestSettings,
    ManifestStoreKind,
    MinioSettings,
    S3Settings,
    StorageSettings,
    reveal,
)
from esl_dagster.pipeline.settings_variables import UNUSED


class Settings(BaseModel):
    """Every setting of the product, by section. Build with ``load_settings()`` (environment) or
    ``settings_from_variables()`` (a mapping of the same variable names)."""

    general: GeneralSettings = Field(default_factory=GeneralSettings)
    notion: NotionSettings = Field(default_factory=NotionSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    minio: MinioSettings = Field(default_factory=MinioSettings)
    manifests: ManifestSettings = Field(default_factory=ManifestSettings)
    config_files: ConfigFilesSettings = Field(default_factory=ConfigFilesSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    unused_variables: tuple[str, ...] = ()

    # ##### paths

    @property
    def cwd(self) -> Path:
        """The working folder: PIPELINE_CWD, else the process's current folder."""
        return (self.general.pipeline_cwd or Path.cwd()).expanduser()

    def resolve_path(self, path: Path) -> Path:
        """A configured path made absolute against ``cwd``."""
        path = path.expanduser()
        return path if path.is_absolute() else self.cwd / path

    def resolve_optional_path(self, path: Path | None) -> Path | None:
        """:meth:`resolve_path` for an optional setting (None stays None)."""
        return self.resolve_path(path) if path is not None else None

    @property
    def upload_dir(self) -> Path:
        return self.resolve_path(self.storage.local_upload_dir)

    @property
    def audio_dir(self) -> Path:
        """Where MP3s are built (and their clips cached, in ``.clips/``) unless ``--out`` says."""
        return self.resolve_path(self.general.data_dir) / "audio"

    # ##### switches

    @property
    def notion_enabled(self) -> bool:
        return self.notion.token is not None

    @property
    def elevenlabs_enabled(self) -> bool:
        return self.speech.api_key is not None

    @property
    def s3(self) -> S3Settings | None:
        """Effective S3 storage: MinIO's settings when MINIO_ENABLED, else S3_*/AWS_*; None if off."""
        if self.minio.enabled:
            return self.minio.connection(self.storage)
        return self.storage.connection()

    @property
    def s3_enabled(self) -> bool:
        return self.s3 is not None

    @property
    def s3_client_settings(self) -> S3Settings:
        """The S3 connection for clients that name their own bucket (manifests, lesson sources):
        the storage's when S3 is configured, else region/endpoint/credentials of S3_*/AWS_*."""
        return self.s3 or S3Settings(
            bucket="",
            prefix="",
            region=self.storage.region,
            endpoint_url=self.storage.endpoint_url,
            access_key_id=reveal(self.storage.access_key_id),
            secret_access_key=reveal(self.storage.secret_access_key),
            force_path_style=self.storage.force_path_style,
        )

    @property
    def effective_manifest_store(self) -> ManifestStoreKind:
        """ESL_PIPELINE_MANIFEST_STORE, else s3 when MinIO is enabled (as in the seed), else
        filesystem."""
        if self.manifests.store is not None:
            return self.manifests.store
        return "s3" if self.minio.enabled else "filesystem"

    @property
    def effective_manifest_bucket(self) -> str | None:
        if self.manifests.bucket:
            return self.manifests.bucket
        return self.minio.bucket if self.minio.enabled else None

    @property
    def postgres_url(self) -> str | None:
        """A ``postgresql://`` URL for Dagster's storage, or None when Postgres is off."""
        return self.postgres.url

    # ##### start-up checks

    def problems(self) -> list[str]:
        """Every missing or contradictory setting of an enabled feature, naming the variable."""
        found: list[str] = []
        if self.effective_manifest_store == "s3" and not self.effective_manifest_bucket:
            found.append(
                "ESL_PIPELINE_MANIFEST_STORE=s3 needs ESL_PIPELINE_MANIFEST_BUCKET "
                "(or MINIO_ENABLED=true with MINIO_BUCKET)"
            )
        found += self._storage_problems()
        postgres = self.postgres
        if postgres.is_on and postgres.connection_string is None and postgres.host is None:
            found.append("PG_ENABLED=true needs PG_CONNECTION_STRING or PG_HOST")
        config = self.config_files
        if config.provider == "remote":
            if not config.endpoint:
                found.append(
                    "ESL_PIPELINE_CONFIG_PROVIDER=remote needs ESL_PIPELINE_CONFIG_ENDPOINT"
                )
            elif not config.endpoint.startswith(("http://", "https://")):
                found.append("ESL_PIPELINE_CONFIG_ENDPOINT must be an http:// or https:// URL")
        for variable, path, want_dir in (
            ("ESL_PIPELINE_CONFIG_DIR", config.dir, True),
            ("ELEVENLABS_VOICES_PATH", self.speech.voices_path, False),
            ("FFMPEG_PATH", self.speech.ffmpeg_path, False),
        ):
            if path is None:
                continue
            resolved = self.resolve_path(path)
            if not (resolved.is_dir() if want_dir else resolved.is_file()):
                found.append(f"{variable}={path} does not exist")
        if self.general.pipeline_cwd is not None and not self.cwd.is_dir():
            found.append(f"PIPELINE_CWD={self.general.pipeline_cwd} is not a folder")
        return found

    def _storage_problems(self) -> list[str]:
        if self.minio.enabled:
            return [
                f"MINIO_ENABLED=true needs {variable}"
                for variable, value in (
                    ("MINIO_ENDPOINT", self.minio.endpoint),
                    ("MINIO_ACCESS_KEY", self.minio.access_key),
                    ("MINIO_SECRET_KEY", self.minio.secret_key),
                )
                if value is None
            ]
        storage = self.storage
        has_key_id = storage.access_key_id is not None
        if storage.bucket and has_key_id != (storage.secret_access_key is not None):
            missing = "AWS_SECRET_ACCESS_KEY" if has_key_id else "AWS_ACCESS_KEY_ID"
            return [f"S3 credentials are incomplete: set {missing} too"]
        return []

    def validate_for_start(self) -> None:
        """Raise ``ConfigurationError`` listing every problem; do nothing when all is well."""
        found = self.problems()
        if found:
            raise ConfigurationError("invalid configuration: " + "; ".join(found))

    def unused_settings(self) -> dict[str, str]:
        """Variables that are set but have no effect here (e.g. REDIS_*), with the reason."""
        reasons = {names[0]: reason for names, reason in UNUSED.items()}
        return {name: reasons[name] for name in self.unused_variables}

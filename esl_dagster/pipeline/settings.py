"""The one typed settings object: environment variables (and an optional ``.env``) -> values.

Engine modules never read ``os.environ``; callers build a ``Settings`` here and pass explicit
values down. Every field declares its environment variable names (the first is the preferred
one, the others are the original's aliases) and a description, so ``settings_table()`` can
produce the README's configuration table from this file alone.

Subsystems switch on by their settings (design D5): ``NOTION_TOKEN`` -> real Notion,
``ELEVENLABS_API_KEY`` -> ElevenLabs, a bucket (``S3_BUCKET`` or MinIO) -> S3 uploads, Postgres
settings -> Dagster's Postgres storage. ``validate_for_start()`` stops start-up with a message
naming the variable when an enabled feature lacks a setting it needs.
"""

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from esl_dagster.pipeline.errors import ConfigurationError

LogLevel = Literal["debug", "info", "warning", "error"]
TtsMode = Literal["auto", "dialogue", "monologue"]
ManifestStoreKind = Literal["filesystem", "s3"]
ConfigProviderKind = Literal["local", "remote"]

_UNUSED = "unused"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _unused(reason: str) -> dict[str, Any]:
    return {_UNUSED: reason}


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


class Settings(BaseSettings):
    """Every setting of the product. Construct with ``load_settings()`` to get clean errors."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # ##### general
    pipeline_cwd: Path | None = Field(
        None,
        validation_alias=_env("PIPELINE_CWD"),
        description="Base folder for relative paths and config discovery (default: the current folder).",
    )
    log_level: LogLevel = Field(
        "info",
        validation_alias=_env("ESL_LOG_LEVEL", "LOG_LEVEL"),
        description="Log level of the `esl` command's --log output: debug, info, warning or error.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        validation_alias=_env("ESL_LOG_FORMAT"),
        description="Format of the `esl` command's --log output: json (one object per line) or text.",
    )

    # ##### Notion
    notion_token: SecretStr | None = Field(
        None,
        validation_alias=_env("NOTION_TOKEN"),
        description="Notion integration token; when unset, imports run in preview mode (no network).",
    )
    notion_base_url: str = Field(
        "https://api.notion.com",
        validation_alias=_env("NOTION_BASE_URL", "NOTION_API_BASE_URL"),
        description="Notion API base URL.",
    )
    notion_version: str = Field(
        "2025-09-03",
        validation_alias=_env("NOTION_VERSION"),
        description="Notion-Version header.",
    )
    notion_db_id: str | None = Field(
        None,
        validation_alias=_env("NOTION_DATABASE_ID", "NOTION_DB_ID", "STUDENTS_DB_ID"),
        description="Default Notion database for lesson pages (a student profile's dbId wins).",
    )
    notion_data_source_id: str | None = Field(
        None,
        validation_alias=_env("NOTION_DATA_SOURCE_ID", "DATA_SOURCE_ID"),
        description="Notion data source for lesson pages (skips data-source discovery).",
    )
    notion_students_data_source_id: str | None = Field(
        None,
        validation_alias=_env("STUDENTS_DB_ID"),
        description="Data source queried by Name to link the lesson page to its student.",
    )
    notion_db_options: str | None = Field(
        None,
        validation_alias=_env("NOTION_DB_OPTIONS"),
        description="Accepted, unused: it fed the original batch UI's database picker.",
        json_schema_extra=_unused("it fed the original batch UI's database picker"),
    )
    notion_db_name: str | None = Field(
        None,
        validation_alias=_env("NOTION_DB_NAME", "NOTION_DB_LABEL"),
        description="Accepted, unused: it labelled the database in the original batch UI.",
        json_schema_extra=_unused("it labelled the database in the original batch UI"),
    )
    notion_timeout_seconds: float = Field(
        30.0,
        gt=0,
        validation_alias=_env("NOTION_TIMEOUT_SECONDS"),
        description="Timeout of one Notion HTTP request, in seconds.",
    )
    notion_max_retries: int = Field(
        4,
        ge=0,
        validation_alias=_env("NOTION_MAX_RETRIES"),
        description="Retries of one Notion request on 429/5xx/timeouts (honouring Retry-After).",
    )
    notion_retry_delay_seconds: float = Field(
        0.35,
        ge=0,
        validation_alias=_env("NOTION_RETRY_DELAY_SECONDS"),
        description="First backoff delay of those retries, doubled each time.",
    )

    # ##### ElevenLabs and speech
    elevenlabs_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("ELEVENLABS_API_KEY", "ELEVENLABS_API_TOKEN"),
        description="ElevenLabs API key; when unset, speech uses the offline espeak-ng engine.",
    )
    elevenlabs_base_url: str = Field(
        "https://api.elevenlabs.io",
        validation_alias=_env("ELEVENLABS_BASE_URL"),
        description="ElevenLabs API base URL.",
    )
    elevenlabs_model_id: str = Field(
        "eleven_multilingual_v2",
        validation_alias=_env("ELEVENLABS_MODEL_ID"),
        description="Model for monologues (dialogues always use eleven_v3).",
    )
    elevenlabs_output_format: str = Field(
        "mp3_22050_32",
        validation_alias=_env("ELEVENLABS_OUTPUT_FORMAT"),
        description="ElevenLabs output_format.",
    )
    elevenlabs_tts_mode: TtsMode = Field(
        "auto",
        validation_alias=_env("ELEVENLABS_TTS_MODE"),
        description="TTS mode when a job gives none: auto, dialogue or monologue.",
    )
    elevenlabs_dialogue_language: str | None = Field(
        None,
        validation_alias=_env("ELEVENLABS_DIALOGUE_LANGUAGE"),
        description="language_code for dialogue requests.",
    )
    elevenlabs_dialogue_stability: float | None = Field(
        None,
        ge=0,
        le=1,
        validation_alias=_env("ELEVENLABS_DIALOGUE_STABILITY"),
        description="Stability (0..1) for dialogue requests.",
    )
    elevenlabs_dialogue_seed: int | None = Field(
        None,
        validation_alias=_env("ELEVENLABS_DIALOGUE_SEED"),
        description="Seed for dialogue requests.",
    )
    elevenlabs_silence_tail_seconds: float = Field(
        0.4,
        ge=0,
        le=10,
        validation_alias=_env("ELEVENLABS_SILENCE_TAIL_SECONDS"),
        description="Silence appended after the last line, in seconds.",
    )
    elevenlabs_voices_path: Path | None = Field(
        None,
        validation_alias=_env("ELEVENLABS_VOICES_PATH"),
        description="Voice catalog file (default: elevenlabs.voices.json from the config folders).",
    )
    elevenlabs_timeout_seconds: float = Field(
        120.0,
        gt=0,
        validation_alias=_env("ELEVENLABS_TIMEOUT_SECONDS"),
        description="Timeout of one ElevenLabs HTTP request, in seconds.",
    )
    elevenlabs_max_retries: int = Field(
        4,
        ge=0,
        validation_alias=_env("ELEVENLABS_MAX_RETRIES"),
        description="Retries of one ElevenLabs request on 429/5xx/timeouts.",
    )
    tts_concurrency: int = Field(
        4,
        ge=1,
        le=32,
        validation_alias=_env("ESL_TTS_CONCURRENCY"),
        description="Lines synthesised in parallel within one lesson.",
    )
    tts_gap_seconds: float = Field(
        0.4,
        ge=0,
        le=10,
        validation_alias=_env("ESL_TTS_GAP_SECONDS"),
        description="Pause between spoken lines, in seconds.",
    )
    ffmpeg_path: Path | None = Field(
        None,
        validation_alias=_env("FFMPEG_PATH"),
        description="ffmpeg executable (default: the imageio-ffmpeg binary).",
    )

    # ##### S3 and MinIO
    s3_bucket: str | None = Field(
        None,
        validation_alias=_env("S3_BUCKET", "S3_BUCKET_NAME", "STORAGE_BUCKET_NAME"),
        description="Bucket for audio uploads; when unset (and no MinIO), uploads go to Notion itself when NOTION_TOKEN is set, else to a local folder.",
    )
    s3_prefix: str = Field(
        "",
        validation_alias=_env("S3_PREFIX", "S3_PATH_PREFIX", "STORAGE_PATH_PREFIX"),
        description="Key prefix for audio uploads.",
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=_env("AWS_REGION", "S3_REGION", "AWS_DEFAULT_REGION"),
        description="AWS region.",
    )
    aws_access_key_id: SecretStr | None = Field(
        None,
        validation_alias=_env("AWS_ACCESS_KEY_ID", "S3_ACCESS_KEY_ID"),
        description="AWS access key id (default: boto3's credential chain).",
    )
    aws_secret_access_key: SecretStr | None = Field(
        None,
        validation_alias=_env("AWS_SECRET_ACCESS_KEY", "S3_SECRET_ACCESS_KEY"),
        description="AWS secret access key.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        validation_alias=_env("S3_ENDPOINT_URL", "S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="S3-compatible endpoint (implies path-style addressing).",
    )
    s3_force_path_style: bool = Field(
        False,
        validation_alias=_env("S3_FORCE_PATH_STYLE"),
        description="Use path-style addressing even without a custom endpoint.",
    )
    minio_enabled: bool = Field(
        False,
        validation_alias=_env("MINIO_ENABLED"),
        description="Use MinIO as the S3 storage (MINIO_* replace the S3 settings; manifests go to it).",
    )
    minio_endpoint: str | None = Field(
        None,
        validation_alias=_env("MINIO_ENDPOINT"),
        description="MinIO host name, or a full http(s):// URL.",
    )
    minio_port: int = Field(
        9000, ge=1, le=65535, validation_alias=_env("MINIO_PORT"), description="MinIO port."
    )
    minio_use_ssl: bool = Field(
        False, validation_alias=_env("MINIO_USE_SSL"), description="Talk HTTPS to MinIO."
    )
    minio_access_key: SecretStr | None = Field(
        None,
        validation_alias=_env("MINIO_ACCESS_KEY", "MINIO_ROOT_USER"),
        description="MinIO access key.",
    )
    minio_secret_key: SecretStr | None = Field(
        None,
        validation_alias=_env("MINIO_SECRET_KEY", "MINIO_ROOT_PASSWORD"),
        description="MinIO secret key.",
    )
    minio_bucket: str = Field(
        "esl-pipeline",
        validation_alias=_env("MINIO_BUCKET"),
        description="MinIO bucket for audio and manifests.",
    )
    minio_region: str | None = Field(
        None,
        validation_alias=_env("MINIO_REGION"),
        description="Region reported to MinIO (default: AWS_REGION).",
    )

    # ##### manifests
    manifest_store: ManifestStoreKind | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_MANIFEST_STORE"),
        description="Manifest store: filesystem (next to the lesson) or s3 (default: s3 with MinIO, else filesystem).",
    )
    manifest_bucket: str | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_MANIFEST_BUCKET"),
        description="Bucket of the s3 manifest store (default with MinIO: MINIO_BUCKET).",
    )
    manifest_prefix: str = Field(
        "",
        validation_alias=_env("ESL_PIPELINE_MANIFEST_PREFIX"),
        description="Key prefix of the s3 manifest store.",
    )
    manifest_root: Path | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_MANIFEST_ROOT"),
        description="Folder that lesson paths are made relative to for s3 manifest keys (default: PIPELINE_CWD).",
    )

    # ##### config files
    config_provider: ConfigProviderKind = Field(
        "local",
        validation_alias=_env("ESL_PIPELINE_CONFIG_PROVIDER"),
        description="Where presets, students and voices come from: local (folders) or remote (HTTP; alias http).",
    )
    config_dir: Path | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_CONFIG_DIR"),
        description="Config folder searched first (then <PIPELINE_CWD>/configs, then the bundled defaults).",
    )
    config_endpoint: str | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_CONFIG_ENDPOINT"),
        description="Base URL of the remote config provider.",
    )
    config_token: SecretStr | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_CONFIG_TOKEN"),
        description="Bearer token for the remote config provider.",
    )
    config_presets_path: str = Field(
        "presets.json",
        validation_alias=_env("ESL_PIPELINE_CONFIG_PRESETS_PATH"),
        description="Presets path, relative to the remote endpoint.",
    )
    config_students_path: str = Field(
        "students.json",
        validation_alias=_env("ESL_PIPELINE_CONFIG_STUDENTS_PATH"),
        description="Student profiles path (a JSON array), relative to the remote endpoint.",
    )
    config_voices_path: str = Field(
        "voices.yml",
        validation_alias=_env("ESL_PIPELINE_CONFIG_VOICES_PATH"),
        description="voices.yml path, relative to the remote endpoint.",
    )
    config_timeout_seconds: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("ESL_PIPELINE_CONFIG_TIMEOUT_SECONDS"),
        description="Timeout of one remote config request, in seconds.",
    )
    config_cache_ttl_seconds: float = Field(
        60.0,
        ge=0,
        validation_alias=_env("ESL_PIPELINE_CONFIG_CACHE_TTL_SECONDS"),
        description="How long remote config is reused before revalidation (ETag), in seconds.",
    )

    # ##### machine files
    data_dir: Path = Field(
        Path("var"),
        validation_alias=_env("ESL_DATA_DIR"),
        description="Folder for machine files, kept out of the lesson folders: built MP3s and the TTS clip cache under audio/ (relative to PIPELINE_CWD).",
    )

    lesson_staging_dir: Path = Field(
        Path("var/s3-lessons"),
        validation_alias=_env("ESL_LESSON_STAGING_DIR"),
        description="Where lessons read from S3 are copied, at <dir>/<bucket>/<key> (by runs and the lesson sensor alike): the local path naming the lesson to its manifest (relative to PIPELINE_CWD).",
    )

    # ##### local uploads (embedded default)
    local_upload_dir: Path = Field(
        Path("var/uploads"),
        validation_alias=_env("ESL_LOCAL_UPLOAD_DIR", "FILESYSTEM_UPLOAD_DIR"),
        description="Folder receiving uploads when neither S3 storage nor a live Notion is configured, or with --upload local (relative to PIPELINE_CWD).",
    )
    public_base_url: str | None = Field(
        None,
        validation_alias=_env("ESL_PUBLIC_BASE_URL"),
        description="Public http(s) base URL under which the local upload folder is served (audio links; required for --upload local with a live Notion).",
    )

    # ##### Dagster Postgres storage
    pg_enabled: bool | None = Field(
        None,
        validation_alias=_env("PG_ENABLED"),
        description="Use Postgres for Dagster storage (default: on when PG_CONNECTION_STRING or PG_HOST is set).",
    )
    pg_connection_string: SecretStr | None = Field(
        None,
        validation_alias=_env("PG_CONNECTION_STRING"),
        description="Postgres URL (wins over PG_HOST/PORT/USER/PASSWORD/DATABASE).",
    )
    pg_host: str | None = Field(
        None, validation_alias=_env("PG_HOST"), description="Postgres host."
    )
    pg_port: int = Field(
        5432, ge=1, le=65535, validation_alias=_env("PG_PORT"), description="Postgres port."
    )
    pg_user: str = Field("postgres", validation_alias=_env("PG_USER"), description="Postgres user.")
    pg_password: SecretStr | None = Field(
        None, validation_alias=_env("PG_PASSWORD"), description="Postgres password."
    )
    pg_database: str = Field(
        "dagster", validation_alias=_env("PG_DATABASE"), description="Postgres database."
    )

    # ##### API shim
    http_port: int = Field(
        8080,
        ge=1,
        le=65535,
        validation_alias=_env("BATCH_BACKEND_HTTP_PORT"),
        description="Port of the /jobs API shim (esl-stack's default --api-port).",
    )
    jobs_queue_name: str | None = Field(
        None,
        validation_alias=_env("BATCH_JOBS_QUEUE_NAME"),
        description="Accepted, unused: Dagster's run queue replaced the seed's named queue.",
        json_schema_extra=_unused("Dagster's run queue replaced the seed's named queue"),
    )

    # ##### accepted for compatibility, unused
    redis_enabled: str | None = Field(
        None,
        validation_alias=_env("REDIS_ENABLED"),
        description="Accepted, unused: Dagster's run queue replaced Redis/BullMQ.",
        json_schema_extra=_unused("Dagster's run queue replaced Redis/BullMQ"),
    )
    redis_host: str | None = Field(
        None,
        validation_alias=_env("REDIS_HOST"),
        description="Accepted, unused: Dagster's run queue replaced Redis/BullMQ.",
        json_schema_extra=_unused("Dagster's run queue replaced Redis/BullMQ"),
    )
    redis_port: str | None = Field(
        None,
        validation_alias=_env("REDIS_PORT"),
        description="Accepted, unused: Dagster's run queue replaced Redis/BullMQ.",
        json_schema_extra=_unused("Dagster's run queue replaced Redis/BullMQ"),
    )
    redis_password: SecretStr | None = Field(
        None,
        validation_alias=_env("REDIS_PASSWORD"),
        description="Accepted, unused: Dagster's run queue replaced Redis/BullMQ.",
        json_schema_extra=_unused("Dagster's run queue replaced Redis/BullMQ"),
    )
    redis_url: SecretStr | None = Field(
        None,
        validation_alias=_env("REDIS_URL"),
        description="Accepted, unused: Dagster's run queue replaced Redis/BullMQ.",
        json_schema_extra=_unused("Dagster's run queue replaced Redis/BullMQ"),
    )
    cache_config: str | None = Field(
        None,
        validation_alias=_env("ESL_PIPELINE_CACHE_CONFIG", "ESL_PIPELINE_CACHE_ENV"),
        description="Accepted, unused: config files are always cached and reloaded when they change.",
        json_schema_extra=_unused("config files are always cached and reloaded when they change"),
    )
    debug_secrets: str | None = Field(
        None,
        validation_alias=_env("ORCHESTRATOR_DEBUG_SECRETS"),
        description="Accepted, unused: secrets are never logged.",
        json_schema_extra=_unused("secrets are never logged"),
    )

    # ##### normalisation

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_log_level(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"warn": "warning", "fatal": "error", "critical": "error"}.get(lowered, lowered)
        return value

    @field_validator("log_format", "elevenlabs_tts_mode", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("manifest_store", mode="before")
    @classmethod
    def _normalise_manifest_store(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"fs": "filesystem", "local": "filesystem", "file": "filesystem"}.get(
                lowered, lowered
            )
        return value

    @field_validator("config_provider", mode="before")
    @classmethod
    def _normalise_config_provider(cls, value: object) -> object:
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"http": "remote", "filesystem": "local", "fs": "local"}.get(lowered, lowered)
        return value

    # ##### derived values

    @property
    def cwd(self) -> Path:
        """The working folder: PIPELINE_CWD, else the process's current folder."""
        return (self.pipeline_cwd or Path.cwd()).expanduser()

    def resolve_path(self, path: Path) -> Path:
        """A configured path made absolute against ``cwd``."""
        path = path.expanduser()
        return path if path.is_absolute() else self.cwd / path

    def resolve_optional_path(self, path: Path | None) -> Path | None:
        """:meth:`resolve_path` for an optional setting (None stays None)."""
        return self.resolve_path(path) if path is not None else None

    @property
    def notion_enabled(self) -> bool:
        return self.notion_token is not None

    @property
    def elevenlabs_enabled(self) -> bool:
        return self.elevenlabs_api_key is not None

    @property
    def minio_endpoint_url(self) -> str | None:
        """``MINIO_ENDPOINT`` as a URL: kept when it starts with http, else built from host/port."""
        if not self.minio_endpoint:
            return None
        if self.minio_endpoint.startswith(("http://", "https://")):
            return self.minio_endpoint
        scheme = "https" if self.minio_use_ssl else "http"
        return f"{scheme}://{self.minio_endpoint}:{self.minio_port}"

    @property
    def s3(self) -> S3Settings | None:
        """Effective S3 storage: MinIO's settings when MINIO_ENABLED, else S3_*/AWS_*; None if off."""
        if self.minio_enabled:
            return S3Settings(
                bucket=self.minio_bucket,
                prefix=self.s3_prefix,
                region=self.minio_region or self.aws_region,
                endpoint_url=self.minio_endpoint_url,
                access_key_id=_reveal(self.minio_access_key),
                secret_access_key=_reveal(self.minio_secret_key),
                force_path_style=True,
            )
        if not self.s3_bucket:
            return None
        return S3Settings(
            bucket=self.s3_bucket,
            prefix=self.s3_prefix,
            region=self.aws_region,
            endpoint_url=self.s3_endpoint_url,
            access_key_id=_reveal(self.aws_access_key_id),
            secret_access_key=_reveal(self.aws_secret_access_key),
            force_path_style=self.s3_force_path_style or self.s3_endpoint_url is not None,
        )

    @property
    def s3_enabled(self) -> bool:
        return self.s3 is not None

    @property
    def effective_manifest_store(self) -> ManifestStoreKind:
        """ESL_PIPELINE_MANIFEST_STORE, else s3 when MinIO is enabled (as in the seed), else filesystem."""
        if self.manifest_store is not None:
            return self.manifest_store
        return "s3" if self.minio_enabled else "filesystem"

    @property
    def effective_manifest_bucket(self) -> str | None:
        if self.manifest_bucket:
            return self.manifest_bucket
        return self.minio_bucket if self.minio_enabled else None

    @property
    def postgres_enabled(self) -> bool:
        if self.pg_enabled is not None:
            return self.pg_enabled
        return self.pg_connection_string is not None or self.pg_host is not None

    @property
    def postgres_url(self) -> str | None:
        """A ``postgresql://`` URL for Dagster's storage, or None when Postgres is off."""
        if not self.postgres_enabled:
            return None
        if self.pg_connection_string is not None:
            return self.pg_connection_string.get_secret_value()
        if self.pg_host is None:
            return None
        user = urllib.parse.quote(self.pg_user, safe="")
        password = _reveal(self.pg_password)
        credentials = f"{user}:{urllib.parse.quote(password, safe='')}" if password else user
        database = urllib.parse.quote(self.pg_database, safe="")
        return f"postgresql://{credentials}@{self.pg_host}:{self.pg_port}/{database}"

    @property
    def upload_dir(self) -> Path:
        return self.resolve_path(self.local_upload_dir)

    @property
    def audio_dir(self) -> Path:
        """Where MP3s are built (and their clips cached, in ``.clips/``) unless ``--out`` says."""
        return self.resolve_path(self.data_dir) / "audio"

    # ##### start-up checks

    def problems(self) -> list[str]:
        """Every missing or contradictory setting of an enabled feature, naming the variable."""
        found: list[str] = []
        if self.effective_manifest_store == "s3" and not self.effective_manifest_bucket:
            found.append(
                "ESL_PIPELINE_MANIFEST_STORE=s3 needs ESL_PIPELINE_MANIFEST_BUCKET "
                "(or MINIO_ENABLED=true with MINIO_BUCKET)"
            )
        if self.minio_enabled:
            for variable, value in (
                ("MINIO_ENDPOINT", self.minio_endpoint),
                ("MINIO_ACCESS_KEY", self.minio_access_key),
                ("MINIO_SECRET_KEY", self.minio_secret_key),
            ):
                if value is None:
                    found.append(f"MINIO_ENABLED=true needs {variable}")
        elif self.s3_bucket:
            has_key_id = self.aws_access_key_id is not None
            if has_key_id != (self.aws_secret_access_key is not None):
                missing = "AWS_SECRET_ACCESS_KEY" if has_key_id else "AWS_ACCESS_KEY_ID"
                found.append(f"S3 credentials are incomplete: set {missing} too")
        if self.postgres_enabled and self.pg_connection_string is None and self.pg_host is None:
            found.append("PG_ENABLED=true needs PG_CONNECTION_STRING or PG_HOST")
        if self.config_provider == "remote":
            if not self.config_endpoint:
                found.append(
                    "ESL_PIPELINE_CONFIG_PROVIDER=remote needs ESL_PIPELINE_CONFIG_ENDPOINT"
                )
            elif not self.config_endpoint.startswith(("http://", "https://")):
                found.append("ESL_PIPELINE_CONFIG_ENDPOINT must be an http:// or https:// URL")
        for variable, path, want_dir in (
            ("ESL_PIPELINE_CONFIG_DIR", self.config_dir, True),
            ("ELEVENLABS_VOICES_PATH", self.elevenlabs_voices_path, False),
            ("FFMPEG_PATH", self.ffmpeg_path, False),
        ):
            if path is None:
                continue
            resolved = self.resolve_path(path)
            if not (resolved.is_dir() if want_dir else resolved.is_file()):
                found.append(f"{variable}={path} does not exist")
        if self.pipeline_cwd is not None and not self.cwd.is_dir():
            found.append(f"PIPELINE_CWD={self.pipeline_cwd} is not a folder")
        return found

    def validate_for_start(self) -> None:
        """Raise ``ConfigurationError`` listing every problem; do nothing when all is well."""
        found = self.problems()
        if found:
            raise ConfigurationError("invalid configuration: " + "; ".join(found))

    def unused_settings(self) -> dict[str, str]:
        """Variables that are set but have no effect here (e.g. REDIS_*), with the reason."""
        report: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and _UNUSED in extra and getattr(self, name) is not None:
                report[_variables(name)[0]] = str(extra[_UNUSED])
        return report


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _variables(field_name: str) -> list[str]:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [field_name.upper()]


def _default_text(value: object) -> str:
    if value is None or isinstance(value, SecretStr):
        return ""
    return str(value)


def _secret_fields() -> set[str]:
    return {
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }


def settings_table() -> list[tuple[str, str, str]]:
    """``(variables, default, meaning)`` rows for the README's configuration table.

    ``variables`` lists the preferred name first and the accepted aliases after it.
    """
    return [
        (" / ".join(_variables(name)), _default_text(field.default), field.description or "")
        for name, field in Settings.model_fields.items()
    ]


def variable_for(field_name: str) -> str:
    """The preferred environment variable of a settings field (for messages)."""
    return _variables(field_name)[0]


def load_settings(env_file: Path | str | None = ".env", **overrides: Any) -> Settings:
    """Read the settings from the environment (and ``env_file`` when it exists).

    A malformed value (e.g. ``ESL_LOG_FORMAT=xml``) becomes a ``ConfigurationError`` naming the
    variable instead of a pydantic traceback.
    """
    try:
        return Settings(_env_file=env_file, **overrides)
    except pydantic.ValidationError as exc:
        messages = []
        for error in exc.errors():
            field_name = str(error["loc"][0]) if error["loc"] else ""
            variable = (
                variable_for(field_name) if field_name in Settings.model_fields else field_name
            )
            shown = "***" if field_name in _secret_fields() else repr(error.get("input"))
            messages.append(f"{variable}: {error['msg']} (got {shown})")
        raise ConfigurationError("invalid configuration: " + "; ".join(messages)) from exc


__all__ = [
    "ConfigProviderKind",
    "LogLevel",
    "ManifestStoreKind",
    "S3Settings",
    "Settings",
    "TtsMode",
    "load_settings",
    "settings_table",
    "variable_for",
]

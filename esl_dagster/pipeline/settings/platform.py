"""Settings sections of the platform: paths and logs, config files, Dagster's Postgres, the API."""

import urllib.parse
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from esl_dagster.pipeline.settings.choices import normalised_choice
from esl_dagster.pipeline.settings.storage import reveal
from esl_dagster.pipeline.settings_variables import DEFAULT_DATA_DIR, DEFAULT_LESSON_STAGING_DIR

LogLevel = Literal["debug", "info", "warning", "error"]
ConfigProviderKind = Literal["local", "remote"]


class GeneralSettings(BaseModel):
    """The working folder, the machine-files folder and the ``esl`` command's log output."""

    pipeline_cwd: Path | None = Field(
        None,
        description="Base folder for relative paths and config discovery (default: the current "
        "folder).",
    )
    log_level: LogLevel = Field(
        "info",
        description="Log level of the `esl` command's --log output: debug, info, warning or error.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Format of the `esl` command's --log output: json (one object per line) or "
        "text.",
    )
    data_dir: Path = Field(
        Path(DEFAULT_DATA_DIR),
        description="Folder for machine files, kept out of the lesson folders: built MP3s and the "
        "TTS clip cache under audio/ (relative to PIPELINE_CWD).",
    )
    lesson_staging_dir: Path = Field(
        Path(DEFAULT_LESSON_STAGING_DIR),
        description="Where lessons read from S3 are copied, at <dir>/<bucket>/<key> (by runs and "
        "the lesson sensor alike): the local path naming the lesson to its manifest (relative to "
        "PIPELINE_CWD).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _normalise_log_level(cls, value: object) -> object:
        return normalised_choice(value, {"warn": "warning", "fatal": "error", "critical": "error"})

    @field_validator("log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return normalised_choice(value)


class ConfigFilesSettings(BaseModel):
    """Presets, student profiles and voices: local folders (with bundled defaults) or HTTP."""

    provider: ConfigProviderKind = Field(
        "local",
        description="Where presets, students and voices come from: local (folders) or remote "
        "(HTTP; alias http).",
    )
    dir: Path | None = Field(
        None,
        description="Config folder searched first (then <PIPELINE_CWD>/configs, then the bundled "
        "defaults).",
    )
    endpoint: str | None = Field(None, description="Base URL of the remote config provider.")
    token: SecretStr | None = Field(
        None, description="Bearer token for the remote config provider."
    )
    presets_path: str = Field(
        "presets.json", description="Presets path, relative to the remote endpoint."
    )
    students_path: str = Field(
        "students.json",
        description="Student profiles path (a JSON array), relative to the remote endpoint.",
    )
    voices_path: str = Field(
        "voices.yml", description="voices.yml path, relative to the remote endpoint."
    )
    timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of one remote config request, in seconds."
    )
    cache_ttl_seconds: float = Field(
        60.0,
        ge=0,
        description="How long remote config is reused before revalidation (ETag), in seconds.",
    )

    @field_validator("provider", mode="before")
    @classmethod
    def _normalise_provider(cls, value: object) -> object:
        return normalised_choice(value, {"http": "remote", "filesystem": "local", "fs": "local"})


class PostgresSettings(BaseModel):
    """Postgres for Dagster's storage (runs, events, schedules)."""

    enabled: bool | None = Field(
        None,
        description="Use Postgres for Dagster storage (default: on when PG_CONNECTION_STRING or "
        "PG_HOST is set).",
    )
    connection_string: SecretStr | None = Field(
        None, description="Postgres URL (wins over PG_HOST/PORT/USER/PASSWORD/DATABASE)."
    )
    host: str | None = Field(None, description="Postgres host.")
    port: int = Field(5432, ge=1, le=65535, description="Postgres port.")
    user: str = Field("postgres", description="Postgres user.")
    password: SecretStr | None = Field(None, description="Postgres password.")
    database: str = Field("dagster", description="Postgres database.")

    @property
    def is_on(self) -> bool:
        """PG_ENABLED when set, else whether a connection string or host is given."""
        if self.enabled is not None:
            return self.enabled
        return self.connection_string is not None or self.host is not None

    @property
    def url(self) -> str | None:
        """A ``postgresql://`` URL for Dagster's storage, or None when Postgres is off."""
        if not self.is_on:
            return None
        if self.connection_string is not None:
            return self.connection_string.get_secret_value()
        if self.host is None:
            return None
        user = urllib.parse.quote(self.user, safe="")
        password = reveal(self.password)
        credentials = f"{user}:{urllib.parse.quote(password, safe='')}" if password else user
        database = urllib.parse.quote(self.database, safe="")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{database}"


class ApiSettings(BaseModel):
    """What the engine side knows of the ``/jobs`` API shim (its own settings live with it)."""

    http_port: int = Field(
        8080,
        ge=1,
        le=65535,
        description="Port of the /jobs API shim (esl-stack's default --api-port).",
    )

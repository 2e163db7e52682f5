"""Settings of the shim, read from the environment (and `.env`) by pydantic-settings."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "secret", "password"})


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything the shim needs to know; each field names the environment variable(s) it reads.

    Only the ``ESL_*`` names (and the seed's) are read from the environment: bare names such as
    ``PORT`` or ``HOST``, which hosting platforms set, never leak in. Field names still work as
    constructor arguments (``populate_by_name``).
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
        # Upper-case ESL_* names only: with populate_by_name, a case-insensitive lookup would also
        # read bare field names such as PORT or HOST from the environment.
        case_sensitive=True,
    )

    dagster_graphql_url: str = Field(
        default="http://127.0.0.1:3000/graphql",
        validation_alias=AliasChoices("ESL_DAGSTER_GRAPHQL_URL"),
    )
    dagster_location: str = Field(
        default="esl_dagster",
        validation_alias=AliasChoices("ESL_DAGSTER_LOCATION"),
    )
    dagster_repository: str = Field(
        default="__repository__",
        validation_alias=AliasChoices("ESL_DAGSTER_REPOSITORY"),
    )
    dagster_job: str = Field(default="lesson_job", validation_alias=AliasChoices("ESL_DAGSTER_JOB"))
    graphql_timeout_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias=AliasChoices("ESL_DAGSTER_GRAPHQL_TIMEOUT"),
    )
    metrics_refresh_s: float = Field(
        default=10.0,
        ge=0,
        validation_alias=AliasChoices("ESL_METRICS_REFRESH_S"),
        description="At most one refresh of the job metrics from Dagster per this many seconds.",
    )
    pipeline_cwd: Path = Field(
        default_factory=Path.cwd, validation_alias=AliasChoices("PIPELINE_CWD")
    )
    lesson_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("ESL_LESSON_ROOTS"),
        description="Empty means `<pipeline_cwd>/lessons`.",
    )
    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("ESL_API_HOST"))
    port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("ESL_API_PORT", "BATCH_BACKEND_HTTP_PORT"),
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("ESL_API_KEYS")
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        gt=0,
        validation_alias=AliasChoices("ESL_API_MAX_BODY_BYTES"),
    )
    idempotency_db: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("ESL_API_IDEMPOTENCY_DB"),
        description="SQLite file of the idempotency keys; default `<pipeline_cwd>/var/api_shim/idempotency.sqlite3`.",
    )
    idempotency_ttl_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        validation_alias=AliasChoices("ESL_API_IDEMPOTENCY_TTL"),
    )
    idempotency_dsn: str | None = Field(
        default=None,
        validation_alias=AliasChoices("ESL_IDEMPOTENCY_DSN", "DAGSTER_PG_URL"),
        description="Postgres URL of the shared idempotency store (production: replicas share "
        "keys); the Dagster Postgres URL of `esl-stack --postgres` is used when set. Empty: SQLite.",
    )
    launch_budget_s: float = Field(
        default=4.0,
        gt=0,
        validation_alias=AliasChoices("ESL_LAUNCH_BUDGET_SECONDS"),
        description="Longest a launch (launchRun plus, when its answer is lost, the lookup by "
        "tag) may take before POST answers.",
    )
    readiness_budget_s: float = Field(
        default=2.0,
        gt=0,
        validation_alias=AliasChoices("ESL_READINESS_BUDGET_SECONDS"),
    )
    retry_after_s: int = Field(
        default=5, ge=1, validation_alias=AliasChoices("ESL_API_RETRY_AFTER")
    )

    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        validation_alias=AliasChoices("ESL_MAX_UPLOAD_BYTES"),
        description="Largest lesson `POST /uploads` accepts (the file's bytes).",
    )
    upload_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("ESL_UPLOAD_DIR"),
        description="Where uploads are stored; default `<first lesson root>/.uploads`. It must "
        "lie inside a lesson root (shared storage when Dagster runs on other machines).",
    )
    validate_command: str = Field(
        default="esl",
        validation_alias=AliasChoices("ESL_VALIDATE_COMMAND"),
        description="The `esl` executable that validates uploads (`esl validate --json`).",
    )
    validate_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias=AliasChoices("ESL_VALIDATE_TIMEOUT")
    )
    lesson_s3_uri: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        validation_alias=AliasChoices("ESL_LESSON_S3_URI"),
        description="S3 mode: `s3://bucket/prefix` (the S3 lesson sensor's). Uploads go to "
        "`<prefix>/.uploads/`, and `POST /jobs` takes `s3://` lessons under the prefix.",
    )
    # S3 connection: the engine's names (esl_dagster/pipeline/settings.py), so one environment
    # serves the shim, the S3 lesson sensor and the runs.
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("S3_ENDPOINT_URL", "S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="S3-compatible endpoint (MinIO, moto); implies path-style addressing.",
    )
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "S3_REGION", "AWS_DEFAULT_REGION"),
    )
    aws_access_key_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "S3_ACCESS_KEY_ID"),
        description="Default: boto3's credential chain.",
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "S3_SECRET_ACCESS_KEY"),
    )
    s3_force_path_style: bool = Field(
        default=False, validation_alias=AliasChoices("S3_FORCE_PATH_STYLE")
    )
    s3_connect_timeout_s: float = Field(
        default=2.0, gt=0, validation_alias=AliasChoices("ESL_API_S3_CONNECT_TIMEOUT")
    )
    s3_read_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias=AliasChoices("ESL_API_S3_READ_TIMEOUT")
    )
    s3_max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        validation_alias=AliasChoices("ESL_API_S3_MAX_ATTEMPTS"),
        description="Attempts of one S3 request (boto3's standard retry mode), first included.",
    )
    events_poll_s: float = Field(
        default=1.0, gt=0, validation_alias=AliasChoices("ESL_EVENTS_POLL_INTERVAL")
    )
    events_heartbeat_s: float = Field(
        default=25.0, gt=0, validation_alias=AliasChoices("ESL_EVENTS_HEARTBEAT")
    )
    events_max_streams: int = Field(
        default=100, ge=1, validation_alias=AliasChoices("ESL_EVENTS_MAX_STREAMS")
    )
    events_max_ids: int = Field(
        default=50, ge=1, validation_alias=AliasChoices("ESL_EVENTS_MAX_IDS")
    )
    events_settle_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("ESL_EVENTS_SETTLE"),
        description="`jobId=*` streams: changes older than this are assumed seen by every poll.",
    )

    @field_validator("lesson_roots", "api_keys", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @model_validator(mode="after")
    def _refuse_placeholder_keys(self) -> "Settings":
        weak = [key for key in self.api_keys if key.lower() in PLACEHOLDER_SECRETS]
        if weak:
            raise ValueError("ESL_API_KEYS contains a placeholder secret; set real keys")
        return self

    @model_validator(mode="after")
    def _upload_dir_inside_roots(self) -> "Settings":
        if self.upload_dir is not None and not any(
            self.resolved_upload_dir.is_relative_to(root) for root in self.resolved_lesson_roots
        ):
            raise ValueError("ESL_UPLOAD_DIR must lie inside a lesson root (ESL_LESSON_ROOTS)")
        return self

    @property
    def resolved_cwd(self) -> Path:
        return self.pipeline_cwd.resolve()

    @property
    def resolved_lesson_roots(self) -> tuple[Path, ...]:
        """The lesson roots as absolute real paths (symlinks resolved), relative ones under the cwd."""
        roots = self.lesson_roots or [Path("lessons")]
        return tuple((self.resolved_cwd / root).resolve() for root in roots)

    @property
    def resolved_upload_dir(self) -> Path:
        """The upload folder, absolute; relative paths are under the cwd."""
        if self.upload_dir is None:
            return self.resolved_lesson_roots[0] / ".uploads"
        return (self.resolved_cwd / self.upload_dir).resolve()

    @property
    def idempotency_db_path(self) -> Path:
        path = self.idempotency_db or Path("var/api_shim/idempotency.sqlite3")
        return self.resolved_cwd / path

    @property
    def idempotency_lease_s(self) -> float:
        """How long a claimed key whose launch has not been confirmed blocks a second launch."""
        return max(5.0, 2 * self.launch_budget_s)


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""The one table from environment variables to settings fields, the seed's names included.

It imports nothing heavy: the Dagster code location reads it to bind the variables as
``dg.EnvVar`` without loading the settings models.

Each row lists a field's variables, the preferred name first and the accepted aliases (the
original's names) after it; the first one set (and not empty) wins. ``STUDENTS_DB_ID`` feeds two
fields, as in the original. Variables of the original that no longer do anything are accepted
and reported (``UNUSED``) instead of being fields. The environment (and a ``.env`` file) is read
once, by :func:`esl_dagster.pipeline.settings.environment.read_environment`; the Dagster
resources bind the same names as ``dg.EnvVar``.
"""

from dataclasses import dataclass

# Defaults of the two machine folders that light readers (the `esl run` replay, the lesson
# sources' resource) resolve without loading the settings models; the settings use them too.
DEFAULT_DATA_DIR = "var"
DEFAULT_LESSON_STAGING_DIR = "var/s3-lessons"


@dataclass(frozen=True)
class Variable:
    """The environment variables (preferred first) that set ``field`` (``"section.name"``)."""

    names: tuple[str, ...]
    field: str

    @property
    def section(self) -> str:
        return self.field.partition(".")[0]

    @property
    def name(self) -> str:
        return self.field.partition(".")[2]


def _rows(*rows: tuple[str, str]) -> tuple[Variable, ...]:
    return tuple(Variable(tuple(names.split()), field) for field, names in rows)


VARIABLES: tuple[Variable, ...] = _rows(
    ("general.pipeline_cwd", "PIPELINE_CWD"),
    ("general.log_level", "ESL_LOG_LEVEL LOG_LEVEL"),
    ("general.log_format", "ESL_LOG_FORMAT"),
    ("notion.token", "NOTION_TOKEN"),
    ("notion.base_url", "NOTION_BASE_URL NOTION_API_BASE_URL"),
    ("notion.version", "NOTION_VERSION"),
    ("notion.db_id", "NOTION_DATABASE_ID NOTION_DB_ID STUDENTS_DB_ID"),
    ("notion.data_source_id", "NOTION_DATA_SOURCE_ID DATA_SOURCE_ID"),
    ("notion.students_data_source_id", "STUDENTS_DB_ID"),
    ("notion.timeout_seconds", "NOTION_TIMEOUT_SECONDS"),
    ("notion.max_retries", "NOTION_MAX_RETRIES"),
    ("notion.retry_delay_seconds", "NOTION_RETRY_DELAY_SECONDS"),
    ("speech.api_key", "ELEVENLABS_API_KEY ELEVENLABS_API_TOKEN"),
    ("speech.base_url", "ELEVENLABS_BASE_URL"),
    ("speech.model_id", "ELEVENLABS_MODEL_ID"),
    ("speech.output_format", "ELEVENLABS_OUTPUT_FORMAT"),
    ("speech.tts_mode", "ELEVENLABS_TTS_MODE"),
    ("speech.dialogue_language", "ELEVENLABS_DIALOGUE_LANGUAGE"),
    ("speech.dialogue_stability", "ELEVENLABS_DIALOGUE_STABILITY"),
    ("speech.dialogue_seed", "ELEVENLABS_DIALOGUE_SEED"),
    ("speech.silence_tail_seconds", "ELEVENLABS_SILENCE_TAIL_SECONDS"),
    ("speech.voices_path", "ELEVENLABS_VOICES_PATH"),
    ("speech.timeout_seconds", "ELEVENLABS_TIMEOUT_SECONDS"),
    ("speech.max_retries", "ELEVENLABS_MAX_RETRIES"),
    ("speech.concurrency", "ESL_TTS_CONCURRENCY"),
    ("speech.gap_seconds", "ESL_TTS_GAP_SECONDS"),
    ("speech.ffmpeg_path", "FFMPEG_PATH"),
    ("storage.bucket", "S3_BUCKET S3_BUCKET_NAME STORAGE_BUCKET_NAME"),
    ("storage.prefix", "S3_PREFIX S3_PATH_PREFIX STORAGE_PATH_PREFIX"),
    ("storage.region", "AWS_REGION S3_REGION AWS_DEFAULT_REGION"),
    ("storage.access_key_id", "AWS_ACCESS_KEY_ID S3_ACCESS_KEY_ID"),
    ("storage.secret_access_key", "AWS_SECRET_ACCESS_KEY S3_SECRET_ACCESS_KEY"),
    ("storage.endpoint_url", "S3_ENDPOINT_URL S3_ENDPOINT AWS_ENDPOINT_URL"),
    ("storage.force_path_style", "S3_FORCE_PATH_STYLE"),
    ("minio.enabled", "MINIO_ENABLED"),
    ("minio.endpoint", "MINIO_ENDPOINT"),
    ("minio.port", "MINIO_PORT"),
    ("minio.use_ssl", "MINIO_USE_SSL"),
    ("minio.access_key", "MINIO_ACCESS_KEY MINIO_ROOT_USER"),
    ("minio.secret_key", "MINIO_SECRET_KEY MINIO_ROOT_PASSWORD"),
    ("minio.bucket", "MINIO_BUCKET"),
    ("minio.region", "MINIO_REGION"),
    ("manifests.store", "ESL_PIPELINE_MANIFEST_STORE"),
    ("manifests.bucket", "ESL_PIPELINE_MANIFEST_BUCKET"),
    ("manifests.prefix", "ESL_PIPELINE_MANIFEST_PREFIX"),
    ("manifests.root", "ESL_PIPELINE_MANIFEST_ROOT"),
    ("config_files.provider", "ESL_PIPELINE_CONFIG_PROVIDER"),
    ("config_files.dir", "ESL_PIPELINE_CONFIG_DIR"),
    ("config_files.endpoint", "ESL_PIPELINE_CONFIG_ENDPOINT"),
    ("config_files.token", "ESL_PIPELINE_CONFIG_TOKEN"),
    ("config_files.presets_path", "ESL_PIPELINE_CONFIG_PRESETS_PATH"),
    ("config_files.students_path", "ESL_PIPELINE_CONFIG_STUDENTS_PATH"),
    ("config_files.voices_path", "ESL_PIPELINE_CONFIG_VOICES_PATH"),
    ("config_files.timeout_seconds", "ESL_PIPELINE_CONFIG_TIMEOUT_SECONDS"),
    ("config_files.cache_ttl_seconds", "ESL_PIPELINE_CONFIG_CACHE_TTL_SECONDS"),
    ("general.data_dir", "ESL_DATA_DIR"),
    ("general.lesson_staging_dir", "ESL_LESSON_STAGING_DIR"),
    ("storage.local_upload_dir", "ESL_LOCAL_UPLOAD_DIR FILESYSTEM_UPLOAD_DIR"),
    ("storage.public_base_url", "ESL_PUBLIC_BASE_URL"),
    ("postgres.enabled", "PG_ENABLED"),
    ("postgres.connection_string", "PG_CONNECTION_STRING"),
    ("postgres.host", "PG_HOST"),
    ("postgres.port", "PG_PORT"),
    ("postgres.user", "PG_USER"),
    ("postgres.password", "PG_PASSWORD"),
    ("postgres.database", "PG_DATABASE"),
    ("api.http_port", "BATCH_BACKEND_HTTP_PORT"),
)

_REDIS = "Dagster's run queue replaced Redis/BullMQ"

# Accepted, unused: variables of the original that have no effect here -> why (reported at start).
UNUSED: dict[tuple[str, ...], str] = {
    ("NOTION_DB_OPTIONS",): "it fed the original batch UI's database picker",
    ("NOTION_DB_NAME", "NOTION_DB_LABEL"): "it labelled the database in the original batch UI",
    ("BATCH_JOBS_QUEUE_NAME",): "Dagster's run queue replaced the seed's named queue",
    ("REDIS_ENABLED",): _REDIS,
    ("REDIS_HOST",): _REDIS,
    ("REDIS_PORT",): _REDIS,
    ("REDIS_PASSWORD",): _REDIS,
    ("REDIS_URL",): _REDIS,
    ("ESL_PIPELINE_CACHE_CONFIG", "ESL_PIPELINE_CACHE_ENV"): (
        "config files are always cached and reloaded when they change"
    ),
    ("ORCHESTRATOR_DEBUG_SECRETS",): "secrets are never logged",
}


def accepted_variables() -> list[str]:
    """Every variable the settings read or accept, each once, in table order."""
    names = [name for row in VARIABLES for name in row.names]
    names += [name for names_ in UNUSED for name in names_]
    return list(dict.fromkeys(names))


def preferred_variable(field: str) -> str:
    """The preferred variable of ``"section.name"`` (for messages)."""
    return next(row.names[0] for row in VARIABLES if row.field == field)

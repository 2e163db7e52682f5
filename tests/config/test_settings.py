"""Settings: the original's variable names, derived switches, start-up validation messages."""

from pathlib import Path

import pytest

from esl_dagster.pipeline.config.factory import config_provider_from_settings
from esl_dagster.pipeline.config.provider import LocalConfigProvider, RemoteConfigProvider
from esl_dagster.pipeline.errors import ConfigurationError
from esl_dagster.pipeline.settings import (
    Settings,
    load_settings,
    settings_from_variables,
    settings_table,
)
from esl_dagster.pipeline.settings_variables import VARIABLES
from tests.conftest import CONFIGS_DIR


def all_variables() -> list[str]:
    return [name for row in settings_table() for name in row[0].split(" / ")]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable of the table leaks in from the machine running the tests."""
    for name in all_variables():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def settings(**overrides: object) -> Settings:
    return load_settings(env_file=None, **overrides)


def test_embedded_default_needs_nothing() -> None:
    current = settings()
    assert not current.notion_enabled
    assert not current.elevenlabs_enabled
    assert not current.s3_enabled and current.s3 is None
    assert current.postgres_url is None
    assert current.effective_manifest_store == "filesystem"
    assert current.config_files.provider == "local"
    assert current.notion.version == "2025-09-03"
    assert current.speech.output_format == "mp3_22050_32"
    assert current.problems() == []
    current.validate_for_start()
    assert current.unused_settings() == {}


@pytest.mark.parametrize(
    ("variable", "field", "expected"),
    [
        ("NOTION_DB_ID", "notion.db_id", "db1"),
        ("NOTION_DATABASE_ID", "notion.db_id", "db1"),
        ("STUDENTS_DB_ID", "notion.db_id", "db1"),
        ("STUDENTS_DB_ID", "notion.students_data_source_id", "db1"),
        ("DATA_SOURCE_ID", "notion.data_source_id", "db1"),
        ("NOTION_DATA_SOURCE_ID", "notion.data_source_id", "db1"),
        ("NOTION_API_BASE_URL", "notion.base_url", "db1"),
        ("S3_BUCKET_NAME", "storage.bucket", "db1"),
        ("S3_ENDPOINT", "storage.endpoint_url", "db1"),
        ("ESL_PIPELINE_CONFIG_PRESETS_PATH", "config_files.presets_path", "db1"),
    ],
)
def test_aliases(clean_env: pytest.MonkeyPatch, variable: str, field: str, expected: str) -> None:
    clean_env.setenv(variable, expected)
    section, _, name = field.partition(".")
    assert getattr(getattr(settings(), section), name) == expected


def test_preferred_name_wins_over_alias(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NOTION_DB_ID", "old")
    clean_env.setenv("NOTION_DATABASE_ID", "new")
    assert settings().notion.db_id == "new"


def test_secret_aliases_and_masking(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ELEVENLABS_API_TOKEN", "xi-Zq9VALUE")
    clean_env.setenv("NOTION_TOKEN", "ntn_Zq9TOKEN")
    current = settings()
    assert current.elevenlabs_enabled and current.notion_enabled
    assert current.speech.api_key is not None
    assert current.speech.api_key.get_secret_value() == "xi-Zq9VALUE"
    assert "Zq9" not in repr(current) and "Zq9" not in str(current.model_dump())


def test_empty_values_count_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NOTION_TOKEN", "")
    assert not settings().notion_enabled


def test_normalised_enums(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ESL_LOG_LEVEL", "WARN")
    clean_env.setenv("ESL_LOG_FORMAT", "Text")
    clean_env.setenv("ESL_PIPELINE_CONFIG_PROVIDER", "HTTP")
    clean_env.setenv("ESL_PIPELINE_CONFIG_ENDPOINT", "http://127.0.0.1:1/cfg")
    clean_env.setenv("ESL_PIPELINE_MANIFEST_STORE", "S3")
    clean_env.setenv("ESL_PIPELINE_MANIFEST_BUCKET", "manifests")
    current = settings()
    assert (current.general.log_level, current.general.log_format) == ("warning", "text")
    assert current.config_files.provider == "remote"
    assert current.effective_manifest_store == "s3"


def test_malformed_value_names_the_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ESL_LOG_FORMAT", "xml")
    clean_env.setenv("PG_PORT", "five")
    with pytest.raises(ConfigurationError) as caught:
        settings()
    message = str(caught.value)
    assert "ESL_LOG_FORMAT: " in message and "'xml'" in message
    assert "PG_PORT: " in message


def test_malformed_secret_is_not_echoed(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(NOTION_TOKEN=12345678901234)
    assert "12345678901234" not in str(caught.value)
    assert "NOTION_TOKEN" in str(caught.value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ESL_PIPELINE_MANIFEST_STORE": "s3"},
            "ESL_PIPELINE_MANIFEST_STORE=s3 needs ESL_PIPELINE_MANIFEST_BUCKET",
        ),
        ({"MINIO_ENABLED": "true"}, "MINIO_ENABLED=true needs MINIO_ENDPOINT"),
        (
            {"MINIO_ENABLED": "1", "MINIO_ENDPOINT": "minio", "MINIO_ACCESS_KEY": "a"},
            "MINIO_ENABLED=true needs MINIO_SECRET_KEY",
        ),
        ({"PG_ENABLED": "true"}, "PG_ENABLED=true needs PG_CONNECTION_STRING or PG_HOST"),
        (
            {"ESL_PIPELINE_CONFIG_PROVIDER": "remote"},
            "ESL_PIPELINE_CONFIG_PROVIDER=remote needs ESL_PIPELINE_CONFIG_ENDPOINT",
        ),
        (
            {"ESL_PIPELINE_CONFIG_PROVIDER": "http", "ESL_PIPELINE_CONFIG_ENDPOINT": "ftp://x"},
            "ESL_PIPELINE_CONFIG_ENDPOINT must be an http:// or https:// URL",
        ),
        (
            {"S3_BUCKET": "audio", "AWS_ACCESS_KEY_ID": "AKIA"},
            "S3 credentials are incomplete: set AWS_SECRET_ACCESS_KEY too",
        ),
        (
            {"ESL_PIPELINE_CONFIG_DIR": "/nonexistent/cfg"},
            "ESL_PIPELINE_CONFIG_DIR=/nonexistent/cfg does not exist",
        ),
        ({"FFMPEG_PATH": "/nonexistent/ffmpeg"}, "FFMPEG_PATH=/nonexistent/ffmpeg does not exist"),
        (
            {"ELEVENLABS_VOICES_PATH": "/nonexistent/v.json"},
            "ELEVENLABS_VOICES_PATH=/nonexistent/v.json does not exist",
        ),
    ],
)
def test_start_up_validation_names_the_variable(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    current = settings()
    with pytest.raises(ConfigurationError) as caught:
        current.validate_for_start()
    assert expected in str(caught.value)
    assert str(caught.value).startswith("invalid configuration: ")


def test_minio_maps_onto_s3_and_sends_manifests_there(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MINIO_ENABLED", "true")
    clean_env.setenv("MINIO_ENDPOINT", "minio")
    clean_env.setenv("MINIO_PORT", "9100")
    clean_env.setenv("MINIO_ACCESS_KEY", "minio-user")
    clean_env.setenv("MINIO_SECRET_KEY", "minio-pass")
    clean_env.setenv("MINIO_BUCKET", "lessons")
    clean_env.setenv("S3_PREFIX", "audio")
    current = settings()
    current.validate_for_start()
    s3 = current.s3
    assert s3 is not None
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == ("lessons", "audio", "http://minio:9100")
    assert (s3.access_key_id, s3.secret_access_key, s3.force_path_style) == (
        "minio-user",
        "minio-pass",
        True,
    )
    assert current.effective_manifest_store == "s3"
    assert current.effective_manifest_bucket == "lessons"


def test_minio_full_url_and_ssl(clean_env: pytest.MonkeyPatch) -> None:
    assert settings(MINIO_ENDPOINT="https://files.example:9443").minio.endpoint_url == (
        "https://files.example:9443"
    )
    assert settings(MINIO_ENDPOINT="m", MINIO_USE_SSL=True).minio.endpoint_url == "https://m:9000"


def test_explicit_manifest_store_wins_over_minio_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MINIO_ENABLED", "true")
    clean_env.setenv("ESL_PIPELINE_MANIFEST_STORE", "filesystem")
    assert settings().effective_manifest_store == "filesystem"


def test_aws_s3_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("S3_BUCKET", "audio-bucket")
    clean_env.setenv("AWS_REGION", "eu-west-1")
    clean_env.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:5000")
    s3 = settings().s3
    assert s3 is not None
    assert (s3.bucket, s3.region, s3.endpoint_url, s3.force_path_style) == (
        "audio-bucket",
        "eu-west-1",
        "http://127.0.0.1:5000",
        True,
    )


def test_postgres_url_from_parts_and_connection_string(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PG_HOST", "127.0.0.1")
    clean_env.setenv("PG_USER", "esl")
    clean_env.setenv("PG_PASSWORD", "p@ss word")
    clean_env.setenv("PG_DATABASE", "esl_batch")
    current = settings()
    assert current.postgres.is_on  # host given, PG_ENABLED unset
    assert current.postgres_url == "postgresql://esl:p%40ss%20word@127.0.0.1:5432/esl_batch"
    clean_env.setenv("PG_CONNECTION_STRING", "postgresql://u@db:5433/d")
    assert settings().postgres_url == "postgresql://u@db:5433/d"
    clean_env.setenv("PG_ENABLED", "false")
    assert settings().postgres_url is None


def test_redis_and_legacy_variables_are_reported_unused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_HOST", "redis")
    clean_env.setenv("REDIS_PORT", "6379")
    clean_env.setenv("ORCHESTRATOR_DEBUG_SECRETS", "1")
    clean_env.setenv("NOTION_DB_LABEL", "Homework")  # an alias of NOTION_DB_NAME
    clean_env.setenv("BATCH_JOBS_QUEUE_NAME", "jobs")
    unused = settings().unused_settings()
    assert set(unused) == {
        "REDIS_HOST",
        "REDIS_PORT",
        "ORCHESTRATOR_DEBUG_SECRETS",
        "NOTION_DB_NAME",
        "BATCH_JOBS_QUEUE_NAME",
    }
    assert "Redis" in unused["REDIS_HOST"]
    assert settings().problems() == []


def test_dotenv_file_is_read(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("NOTION_TOKEN=from-dotenv\nREDIS_PASSWORD=x\n", encoding="utf-8")
    current = load_settings(env_file=env_file)
    assert current.notion.token is not None
    assert current.notion.token.get_secret_value() == "from-dotenv"
    assert "REDIS_PASSWORD" in current.unused_settings()
    clean_env.setenv("NOTION_TOKEN", "from-env")
    overridden = load_settings(env_file=env_file).notion.token
    assert overridden is not None and overridden.get_secret_value() == "from-env"


def test_settings_table_covers_every_field_with_meaning() -> None:
    rows = settings_table()
    fields = {
        f"{section}.{name}"
        for section, info in Settings.model_fields.items()
        if isinstance(info.default_factory, type)
        for name in info.default_factory.model_fields
    }
    assert sorted(row.field for row in VARIABLES) == sorted(fields)  # each field: one row
    variables = all_variables()
    assert len(variables) == len(set(variables)) + 1  # STUDENTS_DB_ID feeds two fields
    for variable in (
        "NOTION_TOKEN",
        "ELEVENLABS_API_KEY",
        "ELEVENLABS_API_TOKEN",
        "MINIO_ENABLED",
        "PG_CONNECTION_STRING",
        "BATCH_BACKEND_HTTP_PORT",
        "REDIS_HOST",
        "ESL_PIPELINE_CONFIG_DIR",
        "ESL_LOCAL_UPLOAD_DIR",
        "ESL_PUBLIC_BASE_URL",
        "PIPELINE_CWD",
    ):
        assert variable in variables
    assert all(meaning for _, _, meaning in rows)
    assert ("NOTION_VERSION", "2025-09-03", "Notion-Version header.") in rows


def test_relative_paths_resolve_against_pipeline_cwd(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("PIPELINE_CWD", str(tmp_path))
    current = settings()
    assert current.upload_dir == tmp_path / "var" / "uploads"
    clean_env.setenv("ESL_LOCAL_UPLOAD_DIR", "/srv/uploads")
    assert settings().upload_dir == Path("/srv/uploads")


def test_config_provider_from_settings_local(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PIPELINE_CWD", str(CONFIGS_DIR.parent))
    clean_env.setenv("ESL_PIPELINE_CONFIG_DIR", "configs")
    clean_env.setenv("ELEVENLABS_VOICES_PATH", "configs/elevenlabs.voices.sample.json")
    provider = config_provider_from_settings(settings())
    assert isinstance(provider, LocalConfigProvider)
    assert provider.find_student("leonie").color_preset == "b2-warm"
    assert len(provider.load_voice_catalog().voices) == 8


def test_config_provider_from_settings_remote(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ESL_PIPELINE_CONFIG_PROVIDER", "http")
    clean_env.setenv("ESL_PIPELINE_CONFIG_ENDPOINT", "http://127.0.0.1:9/cfg")
    clean_env.setenv("ESL_PIPELINE_CONFIG_VOICES_PATH", "/voices.yaml")
    provider = config_provider_from_settings(settings())
    assert isinstance(provider, RemoteConfigProvider)
    assert provider.url("voices") == "http://127.0.0.1:9/cfg/voices.yaml"
    provider.close()
    clean_env.delenv("ESL_PIPELINE_CONFIG_ENDPOINT")
    with pytest.raises(ConfigurationError, match="ESL_PIPELINE_CONFIG_ENDPOINT"):
        config_provider_from_settings(settings())


def test_settings_from_variables_does_not_read_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("NOTION_TOKEN", "from-env")
    assert not settings_from_variables({}).notion_enabled
    current = settings_from_variables({"notion_token": "lower-case-name", "S3_BUCKET": ""})
    assert current.notion_enabled and not current.s3_enabled  # any case; empty means unset
